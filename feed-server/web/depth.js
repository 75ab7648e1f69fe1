// The depth ladder's book: kept from `book` and `book_update` by the protocol's rules (a book
// replaces it; an update must be the next book seq; a size of zero removes; truncate to the
// depth; the checksum must match), with prices and sizes kept as the exact text received.

// CRC32 (IEEE), as zlib computes it.
const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

export function crc32(text) {
  let c = 0xffffffff;
  for (let i = 0; i < text.length; i++) c = TABLE[(c ^ text.charCodeAt(i)) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

// Kraken's form: the top 10 asks then bids, price then size, without '.' and leading zeros.
export function checksum(asks, bids) {
  const part = (v) => v.replace('.', '').replace(/^0+/, '');
  let text = '';
  for (const [p, s] of asks.slice(0, 10)) text += part(p) + part(s);
  for (const [p, s] of bids.slice(0, 10)) text += part(p) + part(s);
  return crc32(text);
}

const isZero = (size) => /^[+-]?0*\.?0*$/.test(size);

export class DepthBook {
  constructor(depth) {
    this.depth = depth;
    this.reset();
  }

  reset() {
    this.seq = null;
    this.bids = [];
    this.asks = [];
  }

  // 'in sync', 'gap', 'stale' or 'mismatch' (then the caller asks for a fresh book).
  apply(msg, whole) {
    if (whole) {
      this.bids = [];
      this.asks = [];
    } else {
      if (this.seq === null) return 'gap';
      if (msg.seq <= this.seq) return 'stale';
      if (msg.seq !== this.seq + 1) return 'gap';
    }
    this.bids = merge(this.bids, msg.bids, (a, b) => Number(b) - Number(a), this.depth);
    this.asks = merge(this.asks, msg.asks, (a, b) => Number(a) - Number(b), this.depth);
    this.seq = msg.seq;
    return checksum(this.asks, this.bids) === msg.checksum ? 'in sync' : 'mismatch';
  }
}

// Sets each level to its new size (removing zeros), keeps best first, truncates to the depth.
function merge(side, changes, order, depth) {
  const levels = new Map(side);
  for (const [price, size] of changes) {
    // Compare prices by value, keep the text the server wrote.
    for (const p of levels.keys()) if (Number(p) === Number(price)) levels.delete(p);
    if (!isZero(size)) levels.set(price, size);
  }
  return [...levels].sort((a, b) => order(a[0], b[0])).slice(0, depth);
}
