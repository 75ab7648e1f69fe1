// tickwire.v1.bin in the browser: binary frames to the same message objects JSON gives (prices
// as exact decimal strings), and requests to binary frames. The layout is in PROTOCOL.md.

const decoder = new TextDecoder('utf-8', { fatal: true });
const encoder = new TextEncoder();

const REJECT_CODES = [
  'other', 'unknown_symbol', 'bad_quantity', 'bad_price', 'duplicate_id', 'too_many_open_orders',
  'rate_limited', 'unknown_order', 'no_liquidity', 'bad_id', 'unauthorized', 'unavailable',
];
const ERROR_CODES = [
  'other', 'bad_request', 'unknown_type', 'unknown_symbol', 'unsupported_frame', 'rate_limited',
  'bad_token', 'bad_channel', 'bad_depth',
];
const ALL_IDS = 0xffffffff;

// A decimal string from an integer mantissa (BigInt) and a scale: exact, never a float.
export function decimal(mantissa, scale) {
  const negative = mantissa < 0n;
  let digits = (negative ? -mantissa : mantissa).toString();
  if (scale > 0) {
    digits = digits.padStart(scale + 1, '0');
    digits = `${digits.slice(0, -scale)}.${digits.slice(-scale)}`;
  }
  return negative ? `-${digits}` : digits;
}

// A live venue's optional fields after a quote's or trade's own: a byte of flags (1 exch_ts_ns,
// 2 trade_id, 4 aggressor), then each flagged field; nothing when none is set.
function extras(r, message) {
  if (r.at >= r.end) return message;
  const flags = r.u8();
  if (flags & 1) message.exch_ts_ns = r.u64();
  if (flags & 2) message.trade_id = r.u64();
  if (flags & 4) message.aggressor = r.u8() === 1 ? 'buy' : 'sell';
  return message;
}

class Reader {
  constructor(view, at, end) {
    this.view = view;
    this.at = at;
    this.end = end;
  }

  need(n) {
    if (this.at + n > this.end) throw new Error(`message ends at byte ${this.at}, ${n} more needed`);
  }
  u8() { this.need(1); return this.view.getUint8(this.at++); }
  u16() { this.need(2); const v = this.view.getUint16(this.at, true); this.at += 2; return v; }
  u32() { this.need(4); const v = this.view.getUint32(this.at, true); this.at += 4; return v; }
  i32() { this.need(4); const v = this.view.getInt32(this.at, true); this.at += 4; return v; }
  // Nanosecond times and sequence numbers pass 2^53: read them exactly, hand them over as numbers
  // (as JSON.parse would), which is what the page needs them for.
  u64() { this.need(8); const v = this.view.getBigUint64(this.at, true); this.at += 8; return Number(v); }
  optU64() { const present = this.u8(); const v = this.u64(); return present ? v : undefined; }
  str() {
    const n = this.u16();
    this.need(n);
    const bytes = new Uint8Array(this.view.buffer, this.view.byteOffset + this.at, n);
    this.at += n;
    return decoder.decode(bytes);
  }
  dec() {
    const scale = this.u8();
    if (scale & 0x80) {
      this.need(16);
      const low = this.view.getBigUint64(this.at, true);
      const high = this.view.getBigInt64(this.at + 8, true);
      this.at += 16;
      return decimal((high << 64n) + low, scale & 0x7f);
    }
    this.need(8);
    const m = this.view.getBigInt64(this.at, true);
    this.at += 8;
    return decimal(m, scale);
  }
  scaled(scale) { return decimal(BigInt(this.i32()), scale); }
}

// Decodes server frames; remembers the symbol list of the last hello, which names the ids.
export class BinaryDecoder {
  constructor() {
    this.symbols = [];
  }

  // The messages of one frame (an ArrayBuffer); unknown message types are skipped.
  frame(buffer) {
    const view = new DataView(buffer);
    const out = [];
    let at = 0;
    while (at < view.byteLength) {
      if (at + 3 > view.byteLength) throw new Error('a message header needs 3 bytes');
      const kind = view.getUint8(at);
      let len = view.getUint16(at + 1, true);
      if (len === 0) len = view.byteLength - at;
      if (len < 3 || at + len > view.byteLength) throw new Error(`message 0x${kind.toString(16)} says ${len} bytes`);
      const m = this.message(kind, new Reader(view, at + 3, at + len));
      if (m) out.push(m);
      at += len;
    }
    return out;
  }

  symbol(id) {
    const s = this.symbols[id];
    if (s === undefined) throw new Error(`symbol id ${id} is not in hello's list`);
    return s;
  }

  message(kind, r) {
    switch (kind) {
      case 0x01: {
        const hello = {
          type: 'hello', protocol: r.str(), server: { name: r.str(), version: r.str() },
          heartbeat_ms: r.u64(), ts_ns: r.u64(), auth_required: r.u8() === 1,
        };
        const source = r.str();
        if (source) hello.source = JSON.parse(source);
        const epoch = r.str();
        if (epoch) hello.epoch = epoch;
        const count = r.u32();
        hello.symbols = [];
        for (let i = 0; i < count; i++) hello.symbols.push(r.str());
        this.symbols = hello.symbols;
        return hello;
      }
      case 0x02: {
        const s = { type: 'snapshot', symbol: this.symbol(r.u32()), seq: r.u64(), ts_ns: r.u64() };
        for (const f of ['bid', 'bid_size', 'ask', 'ask_size', 'last', 'last_size', 'volume', 'open',
          'high', 'low', 'prev_close', 'tick_size']) s[f] = r.dec();
        return s;
      }
      case 0x03: case 0x04: {
        const q = { type: 'quote', symbol: this.symbol(r.u32()), seq: r.u64(), ts_ns: r.u64() };
        if (kind === 0x03) {
          const ps = r.u8();
          const ss = r.u8();
          q.bid = r.scaled(ps); q.bid_size = r.scaled(ss); q.ask = r.scaled(ps); q.ask_size = r.scaled(ss);
        } else {
          q.bid = r.dec(); q.bid_size = r.dec(); q.ask = r.dec(); q.ask_size = r.dec();
        }
        return extras(r, q);
      }
      case 0x05: case 0x06: {
        const t = { type: 'trade', symbol: this.symbol(r.u32()), seq: r.u64(), ts_ns: r.u64() };
        if (kind === 0x05) {
          const ps = r.u8();
          const ss = r.u8();
          t.price = r.scaled(ps); t.size = r.scaled(ss);
        } else {
          t.price = r.dec(); t.size = r.dec();
        }
        return extras(r, t);
      }
      case 0x07: return { type: 'ack', id: r.str(), order_id: r.str(), sent_ns: r.optU64(), ts_ns: r.u64() };
      case 0x08: return {
        type: 'reject', id: r.str(), code: REJECT_CODES[r.u8()] ?? 'other', reason: r.str(),
        sent_ns: r.optU64(), ts_ns: r.u64(),
      };
      case 0x09: return {
        type: 'fill', id: r.str(), order_id: r.str(), price: r.dec(), qty: r.dec(), leaves: r.dec(), ts_ns: r.u64(),
      };
      case 0x0a: {
        const c = { type: 'canceled', id: r.str(), order_id: r.str(), leaves: r.dec(), ts_ns: r.u64() };
        if (r.at < r.end) c.reason = r.str();
        return c;
      }
      case 0x0b: return { type: 'pong', sent_ns: r.u64(), ts_ns: r.u64() };
      case 0x0c: {
        const e = { type: 'error', code: ERROR_CODES[r.u8()] ?? 'other', message: r.str(), symbols: [] };
        const count = r.u32();
        for (let i = 0; i < count; i++) e.symbols.push(r.str());
        return e;
      }
      case 0x0d: return { type: 'authorized', ts_ns: r.u64() };
      case 0x0e: {
        const list = () => {
          const count = r.u64();
          const names = [];
          for (let i = r.u32(); i > 0; i--) names.push(this.symbol(r.u32()));
          return [count, names];
        };
        const [recoveredCount, recovered] = list();
        const [snapshotCount, snapshot] = list();
        return {
          type: 'resumed', recovered, recovered_count: recoveredCount, snapshot, snapshot_count: snapshotCount,
        };
      }
      case 0x11: {
        const s = { type: 'status', ts_ns: r.u64(), stale: [] };
        for (let n = r.u32(); n > 0; n--) s.stale.push(this.symbol(r.u32()));
        return s;
      }
      case 0x0f: case 0x10: {
        const b = {
          type: kind === 0x0f ? 'book' : 'book_update', symbol: this.symbol(r.u32()), seq: r.u64(),
          ts_ns: r.u64(), checksum: r.u32(),
        };
        const form = r.u8();
        if (form !== 0 && form !== 1) throw new Error(`book form ${form} is not 0 or 1`);
        const [ps, ss] = form === 0 ? [r.u8(), r.u8()] : [0, 0];
        for (const side of ['bids', 'asks']) {
          b[side] = [];
          for (let n = r.u32(); n > 0; n--) {
            b[side].push(form === 0 ? [r.scaled(ps), r.scaled(ss)] : [r.dec(), r.dec()]);
          }
        }
        return b;
      }
      default: return null;
    }
  }
}

class Writer {
  constructor(kind) {
    this.bytes = [kind, 0, 0];
  }
  u8(v) { this.bytes.push(v & 0xff); return this; }
  u32(v) { for (let i = 0; i < 4; i++) this.bytes.push((v >>> (8 * i)) & 0xff); return this; }
  big(v, n) {
    let x = BigInt.asUintN(8 * n, v);
    for (let i = 0; i < n; i++) { this.bytes.push(Number(x & 0xffn)); x >>= 8n; }
    return this;
  }
  str(s) {
    const b = encoder.encode(s).slice(0, 0xffff);
    this.bytes.push(b.length & 0xff, b.length >> 8, ...b);
    return this;
  }
  // A decimal string as scale and mantissa (i64, or i128 when it does not fit).
  dec(text) {
    const [whole, fraction = ''] = String(text).trim().split('.');
    const mantissa = BigInt(`${whole}${fraction}`);
    const scale = fraction.length;
    if (mantissa >= -(2n ** 63n) && mantissa < 2n ** 63n) return this.u8(scale).big(mantissa, 8);
    return this.u8(scale | 0x80).big(mantissa, 16);
  }
  optU64(v) { return v === undefined ? this.u8(0).big(0n, 8) : this.u8(1).big(BigInt(v), 8); }
  done() {
    const out = new Uint8Array(this.bytes);
    out[1] = out.length & 0xff;
    out[2] = out.length >> 8;
    return out;
  }
}

// Channels as subscribe's bits (quotes 1, book 2); null for a channel without a bit (sent as JSON
// instead, for the server to answer `bad_channel`).
function channelBits(channels) {
  let bits = 0;
  for (const c of channels) {
    if (c === 'quotes') bits |= 1;
    else if (c === 'book') bits |= 2;
    else return null;
  }
  return bits;
}

// A request as a binary frame, with ids from `symbols` (the hello's list); null when a symbol
// has no id (the caller sends JSON instead, which a binary connection also takes).
export function encodeRequest(msg, symbols) {
  const id = (s) => (s === '*' ? ALL_IDS : symbols.indexOf(s));
  switch (msg.type) {
    case 'subscribe': case 'unsubscribe': {
      const ids = msg.symbols.map(id);
      if (ids.some((i) => i < 0)) return null;
      const w = new Writer(msg.type === 'subscribe' ? 0x41 : 0x42).u32(ids.length);
      for (const i of ids) w.u32(i);
      const bits = msg.channels ? channelBits(msg.channels) : 0;
      if (bits === null) return null;
      if (msg.type === 'unsubscribe') {
        if (msg.channels) w.u8(bits);
        return w.done();
      }
      const seqs = (map) => Object.entries(map ?? {}).map(([s, seq]) => [id(s), seq]);
      const from = seqs(msg.resume?.from);
      const bookFrom = seqs(msg.resume?.book_from);
      if ([...from, ...bookFrom].some(([i]) => i < 0 || i === ALL_IDS)) return null;
      const bookBlock = msg.channels || msg.depth || bookFrom.length;
      if (msg.resume || bookBlock) {
        w.str(msg.resume?.epoch ?? '').u32(from.length);
        for (const [i, seq] of from) w.u32(i).big(BigInt(seq), 8);
      }
      if (bookBlock) {
        w.u8(bits).u8(Math.min(msg.depth ?? 0, 255)).u32(bookFrom.length);
        for (const [i, seq] of bookFrom) w.u32(i).big(BigInt(seq), 8);
      }
      return w.done();
    }
    case 'order': {
      const symbol = id(msg.symbol);
      if (symbol < 0) return null;
      const w = new Writer(0x43).str(msg.id).u32(symbol).u8(msg.side === 'sell' ? 1 : 0).dec(msg.qty);
      if (msg.price !== undefined) w.u8(1).dec(msg.price); else w.u8(0);
      return w.optU64(msg.sent_ns).done();
    }
    case 'cancel': return new Writer(0x44).str(msg.id).optU64(msg.sent_ns).done();
    case 'ping': return new Writer(0x45).big(BigInt(msg.sent_ns), 8).done();
    case 'auth': return new Writer(0x46).str(msg.token).done();
    default: return null;
  }
}
