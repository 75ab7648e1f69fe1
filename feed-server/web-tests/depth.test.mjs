// The page's book rules in Node: the checksum against Kraken's published example, and a book
// kept from updates, as the depth ladder keeps it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DepthBook, checksum, crc32 } from '../web/depth.js';

test('crc32 is zlib\'s', () => {
  assert.equal(crc32('123456789'), 0xcbf43926);
});

test('the checksum matches Kraken\'s documented example', () => {
  const level = (p) => [p, '0.00000500'];
  const asks = ['0.05005', '0.05010', '0.05015', '0.05020', '0.05025', '0.05030', '0.05035', '0.05040',
    '0.05045', '0.05050'].map(level);
  const bids = ['0.05000', '0.04995', '0.04990', '0.04980', '0.04975', '0.04970', '0.04965', '0.04960',
    '0.04955', '0.04950'].map(level);
  assert.equal(checksum(asks, bids), 974947235);
});

test('a book and its updates stay in sync, and a gap or a bad checksum is told', () => {
  const book = new DepthBook(3);
  const msg = (seq, bids, asks, sum) => ({ seq, bids, asks, checksum: sum });
  const bids = [['187.25', '300'], ['187.24', '500'], ['187.23', '800']];
  const asks = [['187.26', '200'], ['187.27', '600'], ['187.28', '900']];
  // PROTOCOL.md's example book and update.
  assert.equal(book.apply(msg(88, bids, asks, 566185597), true), 'in sync');
  assert.equal(
    book.apply(msg(89, [['187.24', '0'], ['187.22', '1000']], [['187.26', '100']], 125977796), false),
    'in sync',
  );
  assert.deepEqual(book.bids, [['187.25', '300'], ['187.23', '800'], ['187.22', '1000']]);
  assert.equal(book.apply(msg(89, [], [], 0), false), 'stale');
  assert.equal(book.apply(msg(91, [], [], 0), false), 'gap');
  assert.equal(book.apply(msg(90, [['187.25', '0.00']], [], 1), false), 'mismatch');
});
