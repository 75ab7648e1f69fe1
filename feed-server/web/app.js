// The Tickwire quote page: a watchlist, a chart of the selected symbol, an order ticket and the
// orders it sent, over one WebSocket. Messages only update the model; the DOM and the chart are
// redrawn at most once per animation frame, so thousands of events a second cost one render per
// frame, not one per message.

import { Feed } from './feed.js';
import { Series, draw } from './chart.js';
import { DepthBook } from './depth.js';

// Levels a side the depth ladder streams: the checksum's ten.
const DEPTH = 10;

const $ = (id) => document.getElementById(id);

// ---- model -----------------------------------------------------------------------------------

const model = {
  symbols: [], // from hello, in its order
  rows: new Map(), // symbol -> {bid, ask, last, prevClose, dir, el, dirty}
  subscribed: null, // Set of symbols the user wants; null until the first hello
  selected: null,
  series: new Series(),
  orders: new Map(), // id -> order
  nextOrder: 1,
  lastRtt: null,
  authRequired: false,
  authorized: false,
  hellos: 0,
  lastClose: null,
  reconnects: 0,
  epoch: null, // the epoch of the last hello: the rows' seqs are from it
  gaps: 0, // seq jumps seen outside a re-sync
  resumes: [], // what each resume got: {recovered, snapshot}
  stale: new Set(), // symbols whose source the server says is stale (a live venue reconnecting)
  // The depth ladder of the selected symbol: its book, every checksum verified.
  depth: { symbol: null, book: new DepthBook(DEPTH), state: 'off', updates: 0, mismatches: 0, resyncs: 0, books: 0, bookResumes: 0, resumed: null },
};

const dirty = { rows: new Set(), list: true, chart: true, orders: true, status: true, depth: true };
let frame = 0;

function schedule() {
  if (frame) return;
  frame = requestAnimationFrame(render);
}

// ---- connection --------------------------------------------------------------------------------

const feed = new Feed({
  state: (name, detail) => setState(name, detail),
  open: (protocol) => {
    $('protocol').textContent = protocol || '(none)';
  },
  message: onMessage,
  close: (info) => {
    model.lastClose = info;
    const who = info.byUser ? 'closed by you' : 'closed by the server or the network';
    log(`${who}: code ${info.code}${info.reason ? ` (${info.reason})` : ''}${info.wasClean ? '' : ', not clean'}`);
    if (!info.byUser) {
      notice(`Connection lost: ${info.code}${info.reason ? ` ${info.reason}` : ''}. Reconnecting…`, 'warn');
    } else {
      notice(`Disconnected: the server answered ${info.code}${info.reason ? ` (${info.reason})` : ''}.`, 'info');
    }
  },
  log,
});

function setState(name, detail) {
  const badge = $('state');
  badge.dataset.state = name;
  badge.className = `badge ${name}`;
  if (name === 'reconnecting') {
    model.reconnects++;
    const secs = (detail.delay / 1000).toFixed(1);
    badge.textContent = `reconnecting in ${secs} s`;
    log(`reconnecting in ${secs} s`);
  } else {
    badge.textContent = name;
  }
  if (name === 'connecting') log(`connecting to ${detail}`);
  $('disconnect').disabled = name === 'closed' || name === 'idle';
  $('connect').textContent = name === 'closed' || name === 'idle' ? 'Connect' : 'Reconnect';
  dirty.status = true;
  schedule();
}

function onMessage(msg) {
  switch (msg.type) {
    case 'hello':
      return onHello(msg);
    case 'snapshot':
      return onSnapshot(msg);
    case 'quote':
      return onQuote(msg);
    case 'trade':
      return onTrade(msg);
    case 'ack':
    case 'fill':
    case 'reject':
    case 'canceled':
      return onOrderReply(msg);
    case 'resumed':
      return onResumed(msg);
    case 'status':
      return onStatus(msg);
    case 'book':
      return onBook(msg, true);
    case 'book_update':
      return onBook(msg, false);
    case 'authorized':
      model.authorized = true;
      log('orders authorized');
      dirty.status = true;
      return schedule();
    case 'error':
      log(`server error ${msg.code}: ${msg.message}`);
      if (msg.code === 'bad_token') notice(`Token refused: ${msg.message}`, 'warn');
      return;
    default:
      return;
  }
}

function onHello(hello) {
  feed.healthy();
  model.hellos++;
  // A new connection: the server sends a `status` after `hello` if any source is stale.
  onStatus({ stale: [] });
  model.authRequired = !!hello.auth_required;
  model.authorized = !model.authRequired;
  $('server').textContent = `${hello.server.name} ${hello.server.version}`;
  const symbols = hello.symbols.slice(0, 5000);
  const changed = symbols.join(',') !== model.symbols.join(',');
  if (changed) {
    model.symbols = symbols;
    for (const s of model.rows.keys()) if (!symbols.includes(s)) model.rows.delete(s);
    for (const s of symbols) if (!model.rows.has(s)) model.rows.set(s, newRow());
    dirty.list = true;
  }
  if (model.subscribed === null) model.subscribed = new Set(symbols);
  for (const s of [...model.subscribed]) if (!model.rows.has(s)) model.subscribed.delete(s);
  if (!model.selected || !model.rows.has(model.selected)) select(symbols[0] ?? null);
  const token = $('token').value.trim();
  if (token) feed.send({ type: 'auth', token });
  const wanted = [...model.subscribed];
  // On the same server (the same epoch) each symbol resumes from the seq it holds; otherwise
  // every symbol starts again from a snapshot.
  const resume = hello.epoch && hello.epoch === model.epoch;
  const from = {};
  for (const [s, row] of model.rows) {
    if (resume && row.seq !== null && model.subscribed.has(s)) {
      from[s] = row.seq;
      row.resuming = true;
    } else {
      row.seq = null;
      row.resuming = false;
    }
  }
  model.epoch = hello.epoch ?? null;
  if (wanted.length) {
    const all = wanted.length === hello.symbols.length;
    const request = { type: 'subscribe', symbols: all ? ['*'] : wanted };
    if (Object.keys(from).length) request.resume = { epoch: hello.epoch, from };
    feed.send(request);
  }
  // A new connection resumes the ladder's book from its seq on the same server (the updates it
  // missed come, or a fresh `book`); on another it starts again from a `book`.
  followDepth(true, resume ? hello.epoch : null);
  if (model.hellos > 1) {
    log(`reconnected; resubscribed to ${wanted.length} symbols`);
    notice(`Reconnected and resubscribed to ${wanted.length} symbols.`, 'ok');
  } else {
    log(`connected to ${hello.server.name}; ${symbols.length} symbols, subscribed to ${wanted.length}`);
    notice('', '');
  }
  dirty.status = true;
  schedule();
}

function newRow() {
  return {
    bid: null, ask: null, last: null, prevClose: null, dir: 0, lastDir: 0, el: null,
    seq: null, resuming: false,
  };
}

// Streams the book of the selected symbol (and only that one); `again` subscribes again to the
// same symbol (a new connection), resuming its book from the seq held when `epoch` names the
// session it is from.
function followDepth(again, epoch = null) {
  const d = model.depth;
  const symbol = model.selected;
  if (!again && d.symbol === symbol) return;
  if (d.symbol && d.symbol !== symbol && feed.connected) {
    feed.send({ type: 'unsubscribe', symbols: [d.symbol], channels: ['book'] });
  }
  const request = { type: 'subscribe', symbols: [symbol], channels: ['book'], depth: DEPTH };
  if (epoch && d.symbol === symbol && d.state === 'in sync' && d.book.seq !== null) {
    request.resume = { epoch, from: {}, book_from: { [symbol]: d.book.seq } };
    d.bookResumes++;
    // What came first after the resume: the update after `seq`, or a fresh book.
    d.resumed = { from: d.book.seq, first: null };
  } else {
    d.book.reset();
    d.state = symbol ? 'waiting for the book' : 'off';
  }
  d.symbol = symbol;
  if (symbol && feed.connected) feed.send(request);
  dirty.depth = true;
}

function onBook(msg, whole) {
  const d = model.depth;
  if (msg.symbol !== d.symbol) return;
  // While a fresh book is on its way, updates of the dropped one are of no use.
  if (!whole && d.state !== 'in sync') return;
  if (d.resumed && !d.resumed.first) d.resumed.first = { whole, seq: msg.seq };
  const step = d.book.apply(msg, whole);
  if (whole) d.books++;
  if (step === 'in sync') {
    d.state = 'in sync';
    if (!whole) d.updates++;
  } else if (step !== 'stale') {
    d.resyncs++;
    if (step === 'mismatch') d.mismatches++;
    d.state = step === 'mismatch' ? 'checksum mismatch: resyncing' : 'missed updates: resyncing';
    log(`book of ${msg.symbol}: ${d.state}`);
    d.book.reset();
    feed.send({ type: 'subscribe', symbols: [msg.symbol], channels: ['book'], depth: DEPTH });
  }
  dirty.depth = true;
  schedule();
}

function onResumed(r) {
  model.resumes.push({ recovered: r.recovered_count, snapshot: r.snapshot_count });
  const text = r.snapshot_count === 0
    ? `resumed ${r.recovered_count} symbols`
    : `${r.recovered_count} resumed, ${r.snapshot_count} from snapshot`;
  log(`reconnected: ${text}`);
}

// Follows a symbol's seq: false for an event to skip (a duplicate, or one before the snapshot a
// resume is waiting for). A jump counts as a gap.
function sequenced(row, seq) {
  if (row.seq === null) return false;
  if (seq <= row.seq) return false;
  if (row.resuming) {
    if (seq !== row.seq + 1) return false;
    row.resuming = false;
  } else if (seq > row.seq + 1) {
    model.gaps++;
  }
  row.seq = seq;
  return true;
}

function touch(symbol, row) {
  dirty.rows.add(symbol);
  if (symbol === model.selected) dirty.chart = true;
  schedule();
  return row;
}

function mid(row) {
  if (row.bid === null || row.ask === null) return undefined;
  return (Number(row.bid) + Number(row.ask)) / 2;
}

function onSnapshot(s) {
  const row = model.rows.get(s.symbol);
  if (!row) return;
  row.seq = s.seq;
  row.resuming = false;
  Object.assign(row, { bid: s.bid, ask: s.ask, last: s.last, prevClose: s.prev_close });
  if (s.symbol === model.selected) model.series.push({ t: performance.now(), mid: mid(row) });
  touch(s.symbol, row);
}

function onQuote(q) {
  const row = model.rows.get(q.symbol);
  if (!row || !sequenced(row, q.seq)) return;
  const before = mid(row);
  row.bid = q.bid;
  row.ask = q.ask;
  const after = mid(row);
  if (before !== undefined && after !== before) row.dir = after > before ? 1 : -1;
  if (q.symbol === model.selected) model.series.push({ t: performance.now(), mid: after });
  touch(q.symbol, row);
}

function onTrade(t) {
  const row = model.rows.get(t.symbol);
  if (!row || !sequenced(row, t.seq)) return;
  if (row.last !== null && Number(t.price) !== Number(row.last)) {
    row.lastDir = Number(t.price) > Number(row.last) ? 1 : -1;
  }
  row.last = t.price;
  if (t.symbol === model.selected) {
    model.series.push({ t: performance.now(), mid: mid(row), trade: Number(t.price) });
  }
  touch(t.symbol, row);
}

// ---- orders ----------------------------------------------------------------------------------

function sendOrder(event) {
  event.preventDefault();
  const symbol = $('order-symbol').value;
  const side = document.querySelector('input[name=side]:checked').value;
  const kind = document.querySelector('input[name=kind]:checked').value;
  const qty = $('order-qty').value.trim();
  const price = $('order-price').value.trim();
  if (!/^\d+(\.\d+)?$/.test(qty)) return notice('Quantity must be a positive number.', 'warn');
  if (kind === 'limit' && !/^\d+(\.\d+)?$/.test(price)) {
    return notice('A limit order needs a price.', 'warn');
  }
  const id = `w${model.nextOrder++}`;
  const order = { type: 'order', id, symbol, side, qty };
  if (kind === 'limit') order.price = price;
  if (!feed.send(order)) return notice('Not connected: the order was not sent.', 'warn');
  model.orders.set(id, {
    id, symbol, side, kind, qty, price: kind === 'limit' ? price : '',
    status: 'sent', filled: 0, notional: 0, sentAt: performance.now(), rtt: null, reason: '',
  });
  dirty.orders = true;
  schedule();
}

function cancelOrder(id) {
  feed.send({ type: 'cancel', id });
}

function onOrderReply(msg) {
  const order = model.orders.get(msg.id);
  if (!order) {
    if (msg.type === 'reject') log(`reject ${msg.code}: ${msg.reason}`);
    return;
  }
  const now = performance.now();
  switch (msg.type) {
    case 'ack':
      order.status = 'acked';
      order.rtt = now - order.sentAt;
      model.lastRtt = order.rtt;
      break;
    case 'fill': {
      const qty = Number(msg.qty);
      order.filled += qty;
      order.notional += qty * Number(msg.price);
      order.status = Number(msg.leaves) === 0 ? 'filled' : 'partial';
      break;
    }
    case 'canceled':
      order.status = 'canceled';
      break;
    case 'reject':
      if (order.status === 'sent') {
        order.status = 'rejected';
        order.rtt = now - order.sentAt;
        model.lastRtt = order.rtt;
      }
      order.reason = `${msg.code}: ${msg.reason}`;
      if (msg.code === 'unauthorized') notice('Orders need the server\'s token: enter it above.', 'warn');
      break;
    default:
      break;
  }
  dirty.orders = true;
  dirty.status = true;
  dirty.depth = true;
  schedule();
}

// ---- rendering -------------------------------------------------------------------------------

function render() {
  frame = 0;
  if (dirty.list) renderList();
  for (const symbol of dirty.rows) renderRow(symbol);
  dirty.rows.clear();
  if (dirty.chart) {
    const range = draw($('chart'), model.series);
    $('chart-range').textContent = range ? `${model.series.points.length} points` : '';
    dirty.chart = false;
  }
  if (dirty.orders) renderOrders();
  if (dirty.status) renderStatus();
  if (dirty.depth) renderDepth();
}

// What my resting limit orders of a symbol leave open at each price of a side, keyed by the
// price's numeric value (the ladder writes prices at the symbol's grid, an order as typed).
function restingAt(symbol, side) {
  const mine = new Map();
  for (const o of model.orders.values()) {
    if (o.symbol !== symbol || o.side !== side || o.kind !== 'limit') continue;
    if (o.status !== 'acked' && o.status !== 'partial') continue;
    const key = Number(o.price);
    mine.set(key, (mine.get(key) ?? 0) + Number(o.qty) - o.filled);
  }
  return mine;
}

// Asks above bids, the best of each meeting at the spread; each level's size, the total from the
// touch, that total as a bar, and my resting orders at the level's price (`◀ 7`).
function renderDepth() {
  dirty.depth = false;
  const d = model.depth;
  $('depth-symbol').textContent = d.symbol ?? '–';
  $('depth-state').textContent = `${d.state} · resyncs ${d.resyncs}`;
  $('depth-state').dataset.state = d.state;
  const body = $('depth').tBodies[0];
  body.textContent = '';
  const totals = (side) => {
    let total = 0;
    return side.map(([p, s]) => [p, s, (total += Number(s))]);
  };
  const asks = totals(d.book.asks);
  const bids = totals(d.book.bids);
  const most = Math.max(1, ...asks.map((l) => l[2]), ...bids.map((l) => l[2]));
  const mine = { ask: restingAt(d.symbol, 'sell'), bid: restingAt(d.symbol, 'buy') };
  const row = ([price, size, total], cls) => {
    const tr = document.createElement('tr');
    tr.className = cls;
    cell(tr, price, 'num');
    cell(tr, size, 'num');
    cell(tr, String(total), 'num');
    const bar = document.createElement('span');
    bar.className = 'bar';
    bar.style.width = `${(100 * total) / most}%`;
    cell(tr, '').appendChild(bar);
    const open = mine[cls].get(Number(price));
    cell(tr, open ? `◀ ${open}` : '', 'mine');
    body.appendChild(tr);
  };
  for (const level of [...asks].reverse()) row(level, 'ask');
  const spread = document.createElement('tr');
  spread.className = 'spread';
  const td = cell(spread, asks.length && bids.length
    ? `spread ${(Number(asks[0][0]) - Number(bids[0][0])).toFixed(Math.max(...[asks[0][0], bids[0][0]].map((p) => (p.split('.')[1] ?? '').length)))}`
    : '');
  td.colSpan = 5;
  body.appendChild(spread);
  for (const level of bids) row(level, 'bid');
}

function cell(tr, text, cls) {
  const td = document.createElement('td');
  td.textContent = text;
  if (cls) td.className = cls;
  tr.appendChild(td);
  return td;
}

function renderList() {
  dirty.list = false;
  const body = $('quotes').querySelector('tbody');
  body.replaceChildren();
  const select = $('order-symbol');
  select.replaceChildren();
  for (const symbol of model.symbols) {
    const row = model.rows.get(symbol);
    const tr = document.createElement('tr');
    tr.dataset.symbol = symbol;
    const box = document.createElement('input');
    box.type = 'checkbox';
    box.checked = model.subscribed?.has(symbol) ?? true;
    box.title = `subscribe to ${symbol}`;
    box.addEventListener('click', (e) => {
      e.stopPropagation();
      toggle(symbol, box.checked);
    });
    const td = document.createElement('td');
    td.appendChild(box);
    tr.appendChild(td);
    cell(tr, symbol, 'sym');
    row.el = {
      tr,
      bid: cell(tr, '', 'num'),
      ask: cell(tr, '', 'num'),
      last: cell(tr, '', 'num'),
      chg: cell(tr, '', 'num'),
      pct: cell(tr, '', 'num'),
    };
    tr.addEventListener('click', () => select_(symbol));
    body.appendChild(tr);
    renderRow(symbol);
    const option = document.createElement('option');
    option.value = symbol;
    option.textContent = symbol;
    select.appendChild(option);
  }
  if (model.selected) select.value = model.selected;
  $('sub-all').checked = model.subscribed?.size === model.symbols.length;
}

// Which symbols' venue stream is down: their rows are marked until it is back.
function onStatus(status) {
  const before = model.stale;
  model.stale = new Set(status.stale);
  for (const symbol of new Set([...before, ...model.stale])) {
    if (before.has(symbol) !== model.stale.has(symbol)) dirty.rows.add(symbol);
  }
  if (before.size !== model.stale.size) log(`${model.stale.size} symbols stale at their source`);
  schedule();
}

function renderRow(symbol) {
  const row = model.rows.get(symbol);
  if (!row?.el) return;
  const { el } = row;
  el.tr.classList.toggle('selected', symbol === model.selected);
  el.tr.classList.toggle('stale', model.stale.has(symbol));
  el.tr.classList.toggle('off', !model.subscribed?.has(symbol));
  el.bid.textContent = row.bid ?? '–';
  el.ask.textContent = row.ask ?? '–';
  el.last.textContent = row.last ?? '–';
  el.bid.className = `num ${dirClass(row.dir)}`;
  el.ask.className = `num ${dirClass(row.dir)}`;
  el.last.className = `num ${dirClass(row.lastDir)}`;
  if (row.last !== null && row.prevClose !== null && Number(row.prevClose) > 0) {
    const change = Number(row.last) - Number(row.prevClose);
    const decimals = Math.max(2, (row.prevClose.split('.')[1] ?? '').length);
    el.chg.textContent = `${change >= 0 ? '+' : ''}${change.toFixed(decimals)}`;
    el.pct.textContent = `${change >= 0 ? '+' : ''}${((change / Number(row.prevClose)) * 100).toFixed(2)}%`;
    const cls = `num ${dirClass(Math.sign(change))}`;
    el.chg.className = cls;
    el.pct.className = cls;
  }
}

function dirClass(dir) {
  return dir > 0 ? 'up' : dir < 0 ? 'down' : '';
}

function renderOrders() {
  dirty.orders = false;
  const body = $('orders').querySelector('tbody');
  body.replaceChildren();
  const recent = [...model.orders.values()].slice(-200).reverse();
  for (const o of recent) {
    const tr = document.createElement('tr');
    tr.dataset.id = o.id;
    tr.dataset.status = o.status;
    cell(tr, o.id);
    cell(tr, o.symbol, 'sym');
    cell(tr, o.side, o.side === 'buy' ? 'up' : 'down');
    cell(tr, o.kind);
    cell(tr, o.qty, 'num');
    cell(tr, o.price || 'market', 'num');
    const status = cell(tr, o.status, `status ${o.status}`);
    if (o.reason) status.title = o.reason;
    cell(tr, o.filled ? String(o.filled) : '', 'num');
    cell(tr, o.filled ? (o.notional / o.filled).toFixed(4) : '', 'num');
    cell(tr, o.rtt === null ? '' : formatMs(o.rtt), 'num');
    const action = document.createElement('td');
    if (o.status === 'acked' || o.status === 'partial') {
      const button = document.createElement('button');
      button.type = 'button';
      button.textContent = 'Cancel';
      button.addEventListener('click', () => cancelOrder(o.id));
      action.appendChild(button);
    } else if (o.reason) {
      action.textContent = o.reason;
      action.className = 'reason';
    }
    tr.appendChild(action);
    body.appendChild(tr);
  }
}

function renderStatus() {
  dirty.status = false;
  $('rtt').textContent = model.lastRtt === null ? '–' : formatMs(model.lastRtt);
  $('auth').textContent = model.authRequired
    ? model.authorized ? 'authorized' : 'need a token'
    : 'open';
  $('send-order').disabled = !feed.connected;
}

function formatMs(ms) {
  return ms < 1 ? `${(ms * 1000).toFixed(0)} µs` : `${ms.toFixed(2)} ms`;
}

// ---- user actions ----------------------------------------------------------------------------

function select_(symbol) {
  select(symbol);
  schedule();
}

function select(symbol) {
  const before = model.selected;
  model.selected = symbol;
  $('chart-symbol').textContent = symbol ?? '–';
  if (before !== symbol) {
    model.series.clear();
    const row = symbol && model.rows.get(symbol);
    const m = row && mid(row);
    if (m !== undefined && m !== null) model.series.push({ t: performance.now(), mid: m });
  }
  if (symbol) $('order-symbol').value = symbol;
  if (before) dirty.rows.add(before);
  if (symbol) dirty.rows.add(symbol);
  dirty.chart = true;
  followDepth(false);
}

function toggle(symbol, on) {
  if (!model.subscribed) return;
  if (on) model.subscribed.add(symbol);
  else model.subscribed.delete(symbol);
  feed.send({ type: on ? 'subscribe' : 'unsubscribe', symbols: [symbol] });
  $('sub-all').checked = model.subscribed.size === model.symbols.length;
  dirty.rows.add(symbol);
  schedule();
}

function toggleAll(on) {
  if (!model.subscribed) return;
  model.subscribed = new Set(on ? model.symbols : []);
  feed.send({ type: on ? 'subscribe' : 'unsubscribe', symbols: ['*'] });
  for (const row of model.rows.values()) if (row.el) row.el.tr.querySelector('input').checked = on;
  for (const s of model.symbols) dirty.rows.add(s);
  schedule();
}

const notices = { timer: 0 };
function notice(text, kind) {
  const el = $('notice');
  el.textContent = text;
  el.className = `notice ${kind}`;
  el.hidden = !text;
  clearTimeout(notices.timer);
  if (text && kind !== 'warn') notices.timer = setTimeout(() => { el.hidden = true; }, 8000);
}

function log(text) {
  const list = $('log');
  const item = document.createElement('li');
  item.textContent = `${new Date().toLocaleTimeString()} ${text}`;
  list.prepend(item);
  while (list.children.length > 50) list.lastChild.remove();
}

function defaultUrl() {
  const given = new URLSearchParams(location.search).get('url');
  if (given) return given;
  if (location.protocol === 'http:' || location.protocol === 'https:') {
    return `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/ws`;
  }
  return 'ws://127.0.0.1:9001/ws';
}

function start() {
  $('url').value = defaultUrl();
  const params = new URLSearchParams(location.search);
  $('encoding').value = params.get('encoding') === 'bin' ? 'bin' : 'json';
  $('connect-form').addEventListener('submit', (e) => {
    e.preventDefault();
    model.hellos = 0;
    feed.connect($('url').value.trim(), $('encoding').value);
  });
  $('encoding').addEventListener('change', () => {
    model.hellos = 0;
    feed.connect($('url').value.trim(), $('encoding').value);
  });
  $('disconnect').addEventListener('click', () => feed.disconnect('closed by the user'));
  $('ticket').addEventListener('submit', sendOrder);
  $('sub-all').addEventListener('change', (e) => toggleAll(e.target.checked));
  $('token').addEventListener('change', () => {
    const token = $('token').value.trim();
    if (token && feed.connected) feed.send({ type: 'auth', token });
  });
  for (const input of document.querySelectorAll('input[name=kind]')) {
    input.addEventListener('change', () => {
      const limit = document.querySelector('input[name=kind]:checked').value === 'limit';
      $('order-price').disabled = !limit;
      if (limit && !$('order-price').value && model.selected) {
        const row = model.rows.get(model.selected);
        $('order-price').value = row?.bid ?? '';
      }
    });
  }
  $('order-symbol').addEventListener('change', (e) => select_(e.target.value));
  let seen = 0;
  let seenBytes = 0;
  setInterval(() => {
    const messages = feed.received - seen;
    $('rate').textContent = String(messages);
    $('msg-bytes').textContent = messages ? ((feed.bytes - seenBytes) / messages).toFixed(1) : '–';
    seen = feed.received;
    seenBytes = feed.bytes;
    $('send-order').disabled = !feed.connected;
  }, 1000);
  // Tests and the curious read the model here.
  window.tickwire = { model, feed };
  feed.connect($('url').value, $('encoding').value);
}

start();
