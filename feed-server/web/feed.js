// The WebSocket side of the page: connects with a Tickwire subprotocol (JSON, or binary with
// JSON as the fallback), reconnects with backoff after an error or a close it did not ask for,
// and hands every message to the page as the same objects whichever encoding carried it. It
// knows nothing of the DOM.

import { BinaryDecoder, encodeRequest } from './binary.js';

export const SUBPROTOCOLS = {
  json: ['tickwire.v1.json'],
  bin: ['tickwire.v1.bin', 'tickwire.v1.json'],
};

// The first retry waits 3 s, then each doubles up to 30 s; each wait is spread by +-25% so that
// many pages dropped by one server restart do not all come back in the same instant.
export const FIRST_RETRY_MS = 3000;
export const MAX_RETRY_MS = 30000;

export function retryDelay(attempt, random = Math.random) {
  const base = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** Math.min(attempt, 10));
  return Math.round(base * (0.75 + random() * 0.5));
}

// Events (all optional callbacks):
//   state(name, detail)   connecting | open | reconnecting | closed
//   open(protocol)        the handshake completed
//   message(msg)          one server message (a batch is split into its messages)
//   close(info)           {code, reason, wasClean, byUser}
//   log(text)
export class Feed {
  constructor(handlers) {
    this.on = handlers;
    this.ws = null;
    this.url = null;
    // With several URLs (edges of a cluster, comma-separated), each reconnect tries the next.
    this.urls = [];
    this.attempt = 0;
    this.timer = null;
    this.byUser = false;
    this.received = 0;
    this.bytes = 0;
    this.encoding = 'json';
    this.binary = new BinaryDecoder();
  }

  connect(url, encoding = 'json') {
    this.stop();
    this.urls = String(url).split(',').map((u) => u.trim()).filter((u) => u);
    if (this.urls.length === 0) this.urls = [''];
    this.url = this.urls[0];
    this.encoding = encoding in SUBPROTOCOLS ? encoding : 'json';
    this.attempt = 0;
    this.byUser = false;
    this.open();
  }

  open() {
    clearTimeout(this.timer);
    this.timer = null;
    this.on.state?.('connecting', this.url);
    let ws;
    try {
      ws = new WebSocket(this.url, SUBPROTOCOLS[this.encoding]);
      ws.binaryType = 'arraybuffer';
      this.binary = new BinaryDecoder();
    } catch (e) {
      this.on.log?.(`cannot connect to ${this.url}: ${e.message}`);
      this.on.state?.('closed', 'bad URL');
      return;
    }
    this.ws = ws;
    ws.onopen = () => {
      this.on.state?.('open', ws.protocol);
      this.on.open?.(ws.protocol);
    };
    ws.onmessage = (event) => this.receive(event.data);
    ws.onerror = () => this.on.log?.('connection error');
    ws.onclose = (event) => {
      if (this.ws !== ws) return;
      this.ws = null;
      const info = {
        code: event.code,
        reason: event.reason,
        wasClean: event.wasClean,
        byUser: this.byUser,
      };
      this.on.close?.(info);
      if (this.byUser) {
        this.on.state?.('closed', info);
        return;
      }
      const delay = retryDelay(this.attempt++);
      if (this.urls.length > 1) {
        this.url = this.urls[(this.urls.indexOf(this.url) + 1) % this.urls.length];
        this.on.log?.(`next: ${this.url}`);
      }
      this.on.state?.('reconnecting', { delay, info });
      this.timer = setTimeout(() => this.open(), delay);
    };
  }

  // A connection that got as far as `hello` resets the backoff.
  healthy() {
    this.attempt = 0;
  }

  receive(data) {
    let messages;
    try {
      if (typeof data === 'string') {
        this.bytes += data.length;
        const parsed = JSON.parse(data);
        messages = Array.isArray(parsed) ? parsed : [parsed];
      } else {
        this.bytes += data.byteLength;
        messages = this.binary.frame(data);
      }
    } catch (e) {
      this.on.log?.(`unreadable message: ${e.message}`);
      return;
    }
    for (const msg of messages) {
      this.received++;
      this.on.message?.(msg);
    }
  }

  send(msg) {
    if (this.ws?.readyState !== WebSocket.OPEN) return false;
    // A binary connection also takes JSON: used when a symbol has no binary id.
    const frame = this.ws.protocol === 'tickwire.v1.bin' ? encodeRequest(msg, this.binary.symbols) : null;
    this.ws.send(frame ?? JSON.stringify(msg));
    return true;
  }

  // Closes with 1000 and a reason; the close event then reports what the server answered.
  disconnect(reason = 'closed by the user') {
    this.byUser = true;
    clearTimeout(this.timer);
    this.timer = null;
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) {
      this.ws.close(1000, reason);
    } else {
      this.on.state?.('closed', { code: 1000, reason, byUser: true });
    }
  }

  stop() {
    clearTimeout(this.timer);
    this.timer = null;
    if (this.ws) {
      const ws = this.ws;
      this.ws = null;
      ws.onclose = null;
      ws.close(1000, 'reconnecting elsewhere');
    }
  }

  get connected() {
    return this.ws?.readyState === WebSocket.OPEN;
  }
}
