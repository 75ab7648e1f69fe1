// The page's binary codec (feed-server/web/binary.js) against PROTOCOL.md's examples: every hex
// frame decodes to the same objects as its JSON twin, and every client request encodes to the
// documented bytes.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { BinaryDecoder, decimal, encodeRequest } from '../web/binary.js';

const doc = readFileSync(new URL('../../protocol/PROTOCOL.md', import.meta.url), 'utf8');

function blocks() {
  const out = [];
  const re = /^```([^\n]*)\n([\s\S]*?)^```/gm;
  for (let m = re.exec(doc); m; m = re.exec(doc)) out.push({ info: m[1].trim(), body: m[2] });
  return out;
}

const bytes = (hex) => new Uint8Array(hex.trim().split(/\s+/).map((b) => parseInt(b, 16)));

// What JSON.parse gives, with absent optional fields dropped on both sides.
function plain(value) {
  const clean = (m) => {
    const o = JSON.parse(JSON.stringify(m));
    if (o.auth_required === false) delete o.auth_required;
    if (Array.isArray(o.symbols) && o.symbols.length === 0 && o.type === 'error') delete o.symbols;
    return o;
  };
  return (Array.isArray(value) ? value : [value]).map(clean);
}

test('decimals are exact', () => {
  assert.equal(decimal(18725n, 2), '187.25');
  assert.equal(decimal(5n, 3), '0.005');
  assert.equal(decimal(-15n, 1), '-1.5');
  assert.equal(decimal(79228162514264337593543950335n, 0), '79228162514264337593543950335');
});

test('every documented binary frame decodes to its JSON twin', () => {
  const all = blocks();
  const decoder = new BinaryDecoder();
  let server = 0;
  let client = 0;
  for (let i = 0; i < all.length; i++) {
    const { info, body } = all[i];
    if (info === 'hex server') {
      const frame = bytes(body);
      const decoded = decoder.frame(frame.buffer);
      assert.deepEqual(plain(decoded), plain(JSON.parse(all[i + 1].body)), all[i + 1].body);
      server++;
    } else if (info === 'hex client') {
      const request = JSON.parse(all[i + 1].body);
      assert.deepEqual(encodeRequest(request, decoder.symbols), bytes(body), all[i + 1].body);
      client++;
    }
  }
  assert.ok(server >= 7 && client >= 5, `${server} server and ${client} client examples`);
});

test('a truncated frame is an error, not a crash or a made-up message', () => {
  const decoder = new BinaryDecoder();
  decoder.symbols = ['AAPL', 'MSFT'];
  const quote = bytes('03 29 00 00 00 00 00 12 04 00 00 00 00 00 00 00 00 e3 10 9f b8 0a 18 02 00 25 49 00 00 2c 01 00 00 26 49 00 00 c8 00 00 00');
  for (let cut = 1; cut < quote.length; cut++) {
    assert.throws(() => decoder.frame(quote.slice(0, cut).buffer));
  }
  assert.equal(decoder.frame(quote.buffer).length, 1);
});
