// The page served at / of a real feed-server, in headless Chromium (Debian's `chromium`), driven
// by playwright-core. Each test starts its own server on a free loopback port and stops it.
//
//   FEED_SERVER  the binary (default: target/debug/feed-server of this checkout)
//   CHROMIUM     the browser (default: /usr/bin/chromium)
//   SHOTS        where screenshots go (default: target/web-tests)

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const SERVER = process.env.FEED_SERVER ?? `${ROOT}target/debug/feed-server`;
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const SHOTS = process.env.SHOTS ?? `${ROOT}target/web-tests`;
// What this machine needs: no sandbox as root, no GPU, and no background traffic to a network
// that refuses it.
const FLAGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
const WAIT = 15_000;

let browser;

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: FLAGS });
});

// Every server a test started, so that one whose test failed before stopping it (say, while
// opening the page) does not outlive the run.
const servers = new Set();

after(async () => {
  await browser?.close();
  for (const child of servers) child.kill('SIGKILL');
});

async function freePort() {
  const server = net.createServer();
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address();
  await new Promise((ok) => server.close(ok));
  return port;
}

// Starts a feed server; resolves once it prints its ready line.
async function startServer(args = [], port = 0) {
  const child = spawn(SERVER, ['--listen', `127.0.0.1:${port}`, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  servers.add(child);
  child.on('exit', () => servers.delete(child));
  let out = '';
  let err = '';
  child.stderr.on('data', (d) => { err = (err + d).slice(-4000); });
  const exited = new Promise((ok) => child.on('exit', (code, signal) => ok({ code, signal })));
  const ready = await new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`no ready line from ${SERVER}: ${out}${err}`)), WAIT);
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/^listening on (wss?):\/\/([^/\s]+)\/ws\b/m);
      if (m) {
        clearTimeout(timer);
        ok(m);
      }
    });
    child.on('exit', () => fail(new Error(`feed-server exited: ${err}`)));
  });
  const [, scheme, host] = ready;
  return {
    page: `${scheme === 'wss' ? 'https' : 'http'}://${host}/`,
    port: Number(host.split(':').pop()),
    cert: out.match(/self-signed certificate: ([^;]+);/)?.[1],
    async stop() {
      child.kill('SIGINT');
      const { code } = await exited;
      assert.equal(code, 0, `feed-server exit status; stderr: ${err}`);
    },
  };
}

async function open(url, context = browser) {
  const page = await context.newPage();
  const problems = [];
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  await page.goto(url);
  await page.waitForFunction(() => window.tickwire?.model.hellos >= 1, null, { timeout: WAIT });
  return { page, problems };
}

const received = (page) => page.evaluate(() => window.tickwire.feed.received);
const bids = (page) => page.$$eval('#quotes tbody tr td:nth-child(3)', (tds) => tds.map((t) => t.textContent));

test('quotes render and keep updating at 5,000 events/s', async () => {
  const server = await startServer(['--rate', '5000']);
  const { page, problems } = await open(server.page);
  try {
    assert.equal(await page.textContent('#protocol'), 'tickwire.v1.json');
    assert.equal(await page.getAttribute('#state', 'data-state'), 'open');
    assert.equal(await page.locator('#quotes tbody tr').count(), 20);
    await page.waitForFunction(
      () => [...document.querySelectorAll('#quotes tbody tr td:nth-child(3)')].every((t) => /^\d/.test(t.textContent)),
      null, { timeout: WAIT },
    );
    const first = await bids(page);
    const count = await received(page);
    await page.waitForTimeout(2000);
    const later = await bids(page);
    const delivered = (await received(page)) - count;
    // Every event reaches the page (20 symbols subscribed: all of them), and the DOM follows.
    assert.ok(delivered > 7000, `only ${delivered} messages in 2 s at 5,000/s`);
    assert.ok(later.filter((b, i) => b !== first[i]).length >= 10, `bids barely moved: ${first} -> ${later}`);
    assert.ok(Number(await page.textContent('#rate')) > 3000, 'the msg/s figure');
    // The page still answers the user at this rate: select a symbol and see its chart.
    await page.click('#quotes tbody tr:nth-child(3) td:nth-child(2)');
    const symbol = await page.textContent('#quotes tbody tr:nth-child(3) td:nth-child(2)');
    assert.equal(await page.textContent('#chart-symbol'), symbol);
    await page.waitForFunction(() => window.tickwire.model.series.points.length > 20, null, { timeout: WAIT });
    await page.screenshot({ path: `${SHOTS}/page.png`, fullPage: true });
    assert.deepEqual(problems, []);
  } finally {
    await page.close();
    await server.stop();
  }
});

test('an order is acked and filled, and a resting one can be canceled', async () => {
  const server = await startServer(['--rate', '500']);
  const { page, problems } = await open(server.page);
  try {
    await page.waitForFunction(() => /^\d/.test(document.querySelector('#quotes tbody tr td:nth-child(3)')?.textContent), null, { timeout: WAIT });
    await page.fill('#order-qty', '100');
    await page.click('#send-order');
    await page.waitForSelector('#orders tr[data-id="w1"][data-status="filled"]', { timeout: WAIT });
    const rtt = await page.textContent('#rtt');
    assert.match(rtt, /^\d+(\.\d+)? (ms|µs)$/);
    // A limit buy far below the market rests until canceled.
    await page.check('input[name=kind][value=limit]');
    await page.fill('#order-price', '1.00');
    await page.click('#send-order');
    await page.waitForSelector('#orders tr[data-id="w2"][data-status="acked"]', { timeout: WAIT });
    await page.click('#orders tr[data-id="w2"] button');
    await page.waitForSelector('#orders tr[data-id="w2"][data-status="canceled"]', { timeout: WAIT });
    assert.deepEqual(problems, []);
  } finally {
    await page.close();
    await server.stop();
  }
});

test('orders need the token on a server with --order-token', async () => {
  const server = await startServer(['--rate', '200', '--order-token', 'letmein']);
  const { page } = await open(server.page);
  try {
    assert.equal(await page.textContent('#auth'), 'need a token');
    await page.click('#send-order');
    await page.waitForSelector('#orders tr[data-id="w1"][data-status="rejected"]', { timeout: WAIT });
    assert.match(await page.textContent('#orders tr[data-id="w1"] td:last-child'), /unauthorized/);
    await page.fill('#token', 'wrong');
    await page.press('#token', 'Enter');
    await page.waitForFunction(() => /Token refused/.test(document.querySelector('#notice').textContent), null, { timeout: WAIT });
    await page.fill('#token', 'letmein');
    await page.press('#token', 'Enter');
    await page.waitForFunction(() => document.querySelector('#auth').textContent === 'authorized', null, { timeout: WAIT });
    await page.click('#send-order');
    await page.waitForSelector('#orders tr[data-id="w2"][data-status="filled"]', { timeout: WAIT });
  } finally {
    await page.close();
    await server.stop();
  }
});

// A TCP relay to a server's port whose connections the test can cut, as a network failure
// would, while the server stays up.
async function relay(port) {
  const pairs = new Set();
  const server = net.createServer((inbound) => {
    const outbound = net.connect(port, '127.0.0.1');
    const pair = [inbound, outbound];
    pairs.add(pair);
    inbound.pipe(outbound);
    outbound.pipe(inbound);
    const drop = () => { pairs.delete(pair); inbound.destroy(); outbound.destroy(); };
    inbound.on('error', drop).on('close', drop);
    outbound.on('error', drop).on('close', drop);
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    url: `ws://127.0.0.1:${server.address().port}/ws`,
    cut() {
      for (const [a, b] of pairs) { a.destroy(); b.destroy(); }
      pairs.clear();
    },
    close: () => new Promise((ok) => { server.close(ok); }),
  };
}

test('a dropped connection resumes: every symbol continues from its seq, with no gap', async () => {
  const server = await startServer(['--rate', '2000']);
  const link = await relay(server.port);
  const { page, problems } = await open(`${server.page}?url=${encodeURIComponent(link.url)}`);
  try {
    const seqs = () => page.evaluate(() => [...window.tickwire.model.rows.values()].map((r) => r.seq));
    await page.waitForFunction(
      () => [...window.tickwire.model.rows.values()].every((r) => r.seq !== null && r.seq > 5),
      null, { timeout: WAIT },
    );
    await page.waitForFunction(() => window.tickwire.model.depth.updates > 20, null, { timeout: WAIT });
    const depthBefore = await page.evaluate(() => ({ ...window.tickwire.model.depth, book: undefined }));
    link.cut();
    await page.waitForFunction(() => window.tickwire.model.resumes.length === 1, null, { timeout: WAIT });
    const before = await seqs();
    assert.deepEqual(await page.evaluate(() => window.tickwire.model.resumes[0]), { recovered: 20, snapshot: 0 });
    await page.waitForTimeout(500);
    const after = await seqs();
    assert.ok(after.every((seq, i) => seq > before[i]), `streams go on: ${before} then ${after}`);
    assert.equal(await page.evaluate(() => window.tickwire.model.gaps), 0, 'no seq gap');
    // The ladder's book resumed from its seq: the update after it came first, no fresh `book`,
    // and the book went on in sync.
    const depthAfter = await page.evaluate(() => ({ ...window.tickwire.model.depth, book: undefined }));
    assert.equal(depthAfter.bookResumes, 1);
    assert.deepEqual(depthAfter.resumed.first, { whole: false, seq: depthAfter.resumed.from + 1 }, JSON.stringify(depthAfter));
    assert.equal(depthAfter.state, 'in sync');
    assert.equal(depthAfter.resyncs, 0);
    assert.ok(depthAfter.updates > depthBefore.updates + 20, `${depthBefore.updates} then ${depthAfter.updates}`);
    assert.equal(await page.evaluate(() => window.tickwire.model.hellos), 2);
    assert.deepEqual(problems, []);
  } finally {
    await page.close();
    await link.close();
    await server.stop();
  }
});

test('a server restart is survived: the page reconnects and resubscribes', async () => {
  const port = await freePort();
  let server = await startServer(['--rate', '500'], port);
  const { page } = await open(server.page);
  try {
    // Watch only two symbols, so that resubscribing must restore a choice, not a default.
    await page.uncheck('#sub-all');
    await page.check('#quotes tbody tr:nth-child(1) input');
    await page.check('#quotes tbody tr:nth-child(2) input');
    await server.stop();
    await page.waitForFunction(() => window.tickwire.model.lastClose?.code === 1001, null, { timeout: WAIT });
    assert.match(await page.textContent('#notice'), /1001 server shutting down/);
    assert.match(await page.textContent('#state'), /^(reconnecting|connecting)/);
    server = await startServer(['--rate', '500'], port);
    await page.waitForFunction(() => window.tickwire.model.hellos >= 2, null, { timeout: 40_000 });
    assert.match(await page.textContent('#notice'), /Reconnected and resubscribed to 2 symbols/);
    const before = await received(page);
    await page.waitForFunction((n) => window.tickwire.feed.received > n + 20, before, { timeout: WAIT });
    const watched = await page.$$eval('#quotes tbody tr:not(.off) td:nth-child(2)', (t) => t.map((x) => x.textContent));
    assert.equal(watched.length, 2);
  } finally {
    await page.close();
    await server.stop();
  }
});

test('Disconnect closes with 1000 and shows what the server answered', async () => {
  const server = await startServer(['--rate', '200']);
  const { page } = await open(server.page);
  try {
    await page.click('#disconnect');
    await page.waitForFunction(() => document.querySelector('#state').dataset.state === 'closed', null, { timeout: WAIT });
    const close = await page.evaluate(() => window.tickwire.model.lastClose);
    assert.equal(close.code, 1000);
    assert.equal(close.reason, 'closed by the user');
    assert.equal(close.wasClean, true);
    assert.match(await page.textContent('#notice'), /server answered 1000/);
    // No reconnect after the user's own close.
    await page.waitForTimeout(3500);
    assert.equal(await page.evaluate(() => window.tickwire.model.hellos), 1);
  } finally {
    await page.close();
    await server.stop();
  }
});

test('wss:// with the self-signed certificate', async () => {
  const server = await startServer(['--rate', '500', '--tls-self-signed']);
  assert.ok(server.cert, 'the server names its certificate file');
  assert.ok(server.page.startsWith('https://'));
  // This browser, for this test only, accepts the certificate it cannot verify.
  const trusting = await chromium.launch({
    executablePath: CHROMIUM, headless: true, args: [...FLAGS, '--ignore-certificate-errors'],
  });
  try {
    const { page, problems } = await open(server.page, trusting);
    assert.equal(await page.textContent('#protocol'), 'tickwire.v1.json');
    assert.match(await page.inputValue('#url'), /^wss:\/\//);
    const before = await received(page);
    await page.waitForFunction((n) => window.tickwire.feed.received > n + 50, before, { timeout: WAIT });
    await page.click('#send-order');
    await page.waitForSelector('#orders tr[data-id="w1"][data-status="filled"]', { timeout: WAIT });
    await page.screenshot({ path: `${SHOTS}/page-wss.png` });
    assert.deepEqual(problems, []);
  } finally {
    await trusting.close();
    await server.stop();
  }
});

test('the binary subprotocol: quotes, an order, and back to JSON with the switch', async () => {
  const server = await startServer(['--rate', '2000']);
  const { page, problems } = await open(`${server.page}?encoding=bin`);
  try {
    assert.equal(await page.textContent('#protocol'), 'tickwire.v1.bin');
    assert.equal(await page.inputValue('#encoding'), 'bin');
    await page.waitForFunction(
      () => [...document.querySelectorAll('#quotes tbody tr td:nth-child(3)')].every((t) => /^\d+\.\d+$/.test(t.textContent)),
      null, { timeout: WAIT },
    );
    const first = await bids(page);
    await page.waitForTimeout(1500);
    assert.ok((await bids(page)).filter((b, i) => b !== first[i]).length >= 5, 'bids move');
    // Binary quotes are about 41 bytes against about 130 in JSON.
    const perMessage = Number(await page.textContent('#msg-bytes'));
    assert.ok(perMessage > 20 && perMessage < 60, `${perMessage} bytes per message`);
    await page.check('input[name=kind][value=limit]');
    await page.fill('#order-price', '1.00');
    await page.click('#send-order');
    await page.waitForSelector('#orders tr[data-id="w1"][data-status="acked"]', { timeout: WAIT });
    await page.click('#orders tr[data-id="w1"] button');
    await page.waitForSelector('#orders tr[data-id="w1"][data-status="canceled"]', { timeout: WAIT });
    await page.check('input[name=kind][value=market]');
    await page.click('#send-order');
    await page.waitForSelector('#orders tr[data-id="w2"][data-status="filled"]', { timeout: WAIT });
    await page.screenshot({ path: `${SHOTS}/page-bin.png` });
    await page.selectOption('#encoding', 'json');
    await page.waitForFunction(() => document.querySelector('#protocol').textContent === 'tickwire.v1.json', null, { timeout: WAIT });
    // The figure covers the last whole second: wait for one that the switch does not straddle.
    await page.waitForFunction(() => Number(document.querySelector('#msg-bytes').textContent) > 90, null, { timeout: WAIT });
    assert.ok(Number(await page.textContent('#msg-bytes')) > 90, 'JSON messages are larger');
    assert.deepEqual(problems, []);
  } finally {
    await page.close();
    await server.stop();
  }
});

test('the depth ladder marks my resting orders at their price', async () => {
  // A quiet market (a quote a second per symbol), so the level the order rests at stays put.
  const server = await startServer(['--rate', '20', '--book-rate', '20']);
  const { page, problems } = await open(server.page);
  try {
    await page.waitForFunction(() => window.tickwire.model.depth.state === 'in sync'
      && window.tickwire.model.depth.book.bids.length >= 5, null, { timeout: WAIT });
    const { symbol, price } = await page.evaluate(() => {
      const d = window.tickwire.model.depth;
      return { symbol: d.symbol, price: d.book.bids[4][0] };
    });
    await page.selectOption('#order-symbol', symbol);
    await page.check('input[name=kind][value=limit]');
    await page.fill('#order-qty', '7');
    await page.fill('#order-price', price);
    await page.click('#send-order');
    await page.waitForSelector('#orders tr[data-id="w1"][data-status="acked"]', { timeout: WAIT });
    // The bid at the order's price shows it; no other row does.
    await page.waitForFunction((p) => [...document.querySelectorAll('#depth tr.bid')]
      .some((tr) => tr.cells[0].textContent === p && tr.cells[4].textContent === '◀ 7'), price, { timeout: WAIT });
    const marked = await page.$$eval('#depth td.mine', (tds) => tds.filter((td) => td.textContent).length);
    assert.equal(marked, 1);
    await page.screenshot({ path: `${SHOTS}/page-depth-mine.png`, fullPage: true });
    // Canceled, the mark goes.
    await page.click('#orders tr[data-id="w1"] button');
    await page.waitForSelector('#orders tr[data-id="w1"][data-status="canceled"]', { timeout: WAIT });
    await page.waitForFunction(() => [...document.querySelectorAll('#depth td.mine')].every((td) => !td.textContent), null, { timeout: WAIT });
    assert.deepEqual(problems, []);
  } finally {
    await page.close();
    await server.stop();
  }
});

test('?url= takes a list: when one server goes away the page goes on at the next', async () => {
  const first = await startServer(['--rate', '200']);
  const second = await startServer(['--rate', '200']);
  const list = `ws://127.0.0.1:${first.port}/ws,ws://127.0.0.1:${second.port}/ws`;
  const { page, problems } = await open(`${first.page}?url=${encodeURIComponent(list)}`);
  try {
    assert.equal(await page.evaluate(() => window.tickwire.feed.url), `ws://127.0.0.1:${first.port}/ws`);
    await first.stop();
    // The page reconnects to the second server and gets its hello and quotes.
    await page.waitForFunction(() => window.tickwire.model.hellos >= 2, null, { timeout: WAIT });
    assert.equal(await page.evaluate(() => window.tickwire.feed.url), `ws://127.0.0.1:${second.port}/ws`);
    const before = await received(page);
    await page.waitForFunction((n) => window.tickwire.feed.received > n + 50, before, { timeout: WAIT });
    // The page's own origin was the first server: a resource the browser asks of it after it
    // stopped (the favicon) fails to load, by design of this test; anything else is a problem.
    const others = problems.filter((p) => !p.startsWith('console: Failed to load resource: net::ERR_'));
    assert.deepEqual(others, []);
  } finally {
    await page.close();
    await second.stop();
  }
});

test('the depth ladder follows the selected book, every checksum verified, in both encodings', async () => {
  const server = await startServer(['--rate', '2000', '--book-rate', '2000']);
  try {
    for (const query of ['', '?encoding=bin']) {
      const { page, problems } = await open(`${server.page}${query}`);
      try {
        const depth = () => page.evaluate(() => {
          const d = window.tickwire.model.depth;
          return { symbol: d.symbol, state: d.state, updates: d.updates, mismatches: d.mismatches, resyncs: d.resyncs };
        });
        await page.waitForFunction(() => window.tickwire.model.depth.updates > 200, null, { timeout: WAIT });
        let d = await depth();
        assert.equal(d.state, 'in sync', JSON.stringify(d));
        assert.equal(d.mismatches, 0, JSON.stringify(d));
        // Ten levels a side around the spread, asks above bids.
        assert.equal(await page.locator('#depth tr.ask').count(), 10);
        assert.equal(await page.locator('#depth tr.bid').count(), 10);
        assert.match(await page.textContent('#depth tr.spread'), /^spread \d/);
        assert.match(await page.textContent('#depth-state'), /^in sync/);
        // Selecting another symbol moves the ladder to its book.
        await page.click('#quotes tbody tr:nth-child(4) td:nth-child(2)');
        const symbol = await page.textContent('#quotes tbody tr:nth-child(4) td:nth-child(2)');
        await page.waitForFunction(
          (s) => window.tickwire.model.depth.symbol === s && window.tickwire.model.depth.state === 'in sync',
          symbol, { timeout: WAIT },
        );
        const before = (await depth()).updates;
        await page.waitForFunction((n) => window.tickwire.model.depth.updates > n + 100, before, { timeout: WAIT });
        d = await depth();
        assert.equal(d.mismatches, 0, JSON.stringify(d));
        assert.equal(await page.textContent('#depth-symbol'), symbol);
        await page.screenshot({ path: `${SHOTS}/page-depth${query ? '-bin' : ''}.png`, fullPage: true });
        assert.deepEqual(problems, []);
      } finally {
        await page.close();
      }
    }
  } finally {
    await server.stop();
  }
});
