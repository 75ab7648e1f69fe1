//! The v1 binary codec (`tickwire.v1.bin`): the same messages as JSON, in WebSocket binary frames.
//!
//! A frame is one or more messages back to back. Every message starts with a 3-byte header, a
//! type byte and its whole length (header included, u16 little-endian), so a reader can step
//! over a type it does not know, as SBE's block length allows. Fields are little-endian and fixed
//! width where they can be; strings are a u16 byte length and UTF-8. Symbols travel as u32 ids:
//! the index of the symbol in `hello`'s list, as ITCH's stock locate codes do.
//!
//! Decimals are exact: a scale and an integer mantissa, never a float. Quotes and trades, the
//! hot path, have a compact form with 32-bit mantissas and one scale for the prices and one for
//! the sizes (41 and 33 bytes, against about 130 and 100 in JSON), and a wide form with a full
//! `dec` per field when a value does not fit. A `dec` is a scale byte and an i64 mantissa, or,
//! with the scale's top bit set, an i128 mantissa (a [`Decimal`] has 96 bits).
//!
//! PROTOCOL.md has the byte layouts, with examples the tests decode.

use std::collections::HashMap;

use rust_decimal::Decimal;

use crate::error::DecodeError;
use crate::types::{
    ALL_SYMBOLS, Ack, Auth, Authorized, Cancel, Canceled, ClientMessage, ErrorCode, ErrorReply,
    Fill, Hello, Order, Ping, Pong, Quote, Reject, RejectCode, ServerInfo, ServerMessage, Side,
    Snapshot, SourceInfo, Subscribe, Symbol, Trade, Unsubscribe,
};

/// Message type bytes, server to client.
pub mod kind {
    pub const HELLO: u8 = 0x01;
    pub const SNAPSHOT: u8 = 0x02;
    pub const QUOTE: u8 = 0x03;
    pub const QUOTE_WIDE: u8 = 0x04;
    pub const TRADE: u8 = 0x05;
    pub const TRADE_WIDE: u8 = 0x06;
    pub const ACK: u8 = 0x07;
    pub const REJECT: u8 = 0x08;
    pub const FILL: u8 = 0x09;
    pub const CANCELED: u8 = 0x0A;
    pub const PONG: u8 = 0x0B;
    pub const ERROR: u8 = 0x0C;
    pub const AUTHORIZED: u8 = 0x0D;
    /// Client to server.
    pub const SUBSCRIBE: u8 = 0x41;
    pub const UNSUBSCRIBE: u8 = 0x42;
    pub const ORDER: u8 = 0x43;
    pub const CANCEL: u8 = 0x44;
    pub const PING: u8 = 0x45;
    pub const AUTH: u8 = 0x46;
}

/// The header every message starts with: type, then its whole length.
pub const HEADER: usize = 3;
/// The size of a compact quote and a compact trade.
pub const QUOTE_BYTES: usize = 41;
pub const TRADE_BYTES: usize = 33;
/// The symbol id that means every symbol in `subscribe` and `unsubscribe` (`*` in JSON).
pub const ALL_IDS: u32 = u32::MAX;
/// The flag in a `dec` scale byte for a 128-bit mantissa.
const WIDE: u8 = 0x80;
/// The largest scale a [`Decimal`] has.
const MAX_SCALE: u32 = 28;

/// Symbol ids for encoding: each symbol's index in `hello`'s list.
#[derive(Debug, Clone, Default)]
pub struct SymbolIds {
    ids: HashMap<Symbol, u32>,
}

impl SymbolIds {
    pub fn new<'a>(symbols: impl IntoIterator<Item = &'a Symbol>) -> Self {
        Self {
            ids: symbols
                .into_iter()
                .enumerate()
                .map(|(i, s)| (s.clone(), u32::try_from(i).unwrap_or(u32::MAX - 1)))
                .collect(),
        }
    }

    pub fn get(&self, symbol: &str) -> Option<u32> {
        self.ids.get(symbol).copied()
    }
}

/// Why a message could not be encoded: a symbol the table does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("symbol `{0}` has no id on this connection")]
pub struct UnknownSymbol(pub Symbol);

// ---- writing ---------------------------------------------------------------------------------

/// Appends one message to a frame, patching its length when done.
struct Out<'a> {
    buf: &'a mut Vec<u8>,
    start: usize,
}

impl<'a> Out<'a> {
    fn begin(buf: &'a mut Vec<u8>, kind: u8) -> Self {
        let start = buf.len();
        buf.extend_from_slice(&[kind, 0, 0]);
        Self { buf, start }
    }

    /// A market-data message: symbol id, `seq` and `ts_ns` first, at fixed offsets.
    fn event(buf: &'a mut Vec<u8>, kind: u8, symbol: u32, seq: u64, ts_ns: u64) -> Self {
        let mut out = Self::begin(buf, kind);
        out.u32(symbol).u64(seq).u64(ts_ns);
        out
    }

    fn u8(&mut self, v: u8) -> &mut Self {
        self.buf.push(v);
        self
    }
    fn u32(&mut self, v: u32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn u64(&mut self, v: u64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn i32(&mut self, v: i32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }
    fn opt_u64(&mut self, v: Option<u64>) -> &mut Self {
        self.u8(u8::from(v.is_some())).u64(v.unwrap_or(0))
    }
    /// A string, cut at a character boundary to fit a u16 length.
    fn str(&mut self, s: &str) -> &mut Self {
        let mut end = s.len().min(usize::from(u16::MAX));
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        self.buf.extend_from_slice(&(end as u16).to_le_bytes());
        self.buf.extend_from_slice(&s.as_bytes()[..end]);
        self
    }
    fn dec(&mut self, d: Decimal) -> &mut Self {
        let scale = d.scale() as u8;
        let mantissa = d.mantissa();
        if let Ok(m) = i64::try_from(mantissa) {
            self.u8(scale).u64(m as u64)
        } else {
            self.buf.push(scale | WIDE);
            self.buf.extend_from_slice(&mantissa.to_le_bytes());
            self
        }
    }

    /// Patches the length. A message over 64 KiB (a hello listing a large universe) says 0:
    /// it runs to the end of its frame, which it has to itself.
    fn finish(self) {
        let len = u16::try_from(self.buf.len() - self.start).unwrap_or(0);
        self.buf[self.start + 1..self.start + 3].copy_from_slice(&len.to_le_bytes());
    }
}

/// The two decimals as mantissas at one scale, if both fit in 32 bits there.
fn compact(a: Decimal, b: Decimal) -> Option<(u8, i32, i32)> {
    let scale = a.scale().max(b.scale());
    let at = |d: Decimal| -> Option<i32> {
        let up = scale - d.scale();
        let m = d.mantissa().checked_mul(10i128.checked_pow(up)?)?;
        i32::try_from(m).ok()
    };
    Some((scale as u8, at(a)?, at(b)?))
}

fn reject_code(code: RejectCode) -> u8 {
    match code {
        RejectCode::UnknownSymbol => 1,
        RejectCode::BadQuantity => 2,
        RejectCode::BadPrice => 3,
        RejectCode::DuplicateId => 4,
        RejectCode::TooManyOpenOrders => 5,
        RejectCode::RateLimited => 6,
        RejectCode::UnknownOrder => 7,
        RejectCode::NoLiquidity => 8,
        RejectCode::BadId => 9,
        RejectCode::Unauthorized => 10,
        RejectCode::Other => 0,
    }
}

fn reject_from(code: u8) -> RejectCode {
    match code {
        1 => RejectCode::UnknownSymbol,
        2 => RejectCode::BadQuantity,
        3 => RejectCode::BadPrice,
        4 => RejectCode::DuplicateId,
        5 => RejectCode::TooManyOpenOrders,
        6 => RejectCode::RateLimited,
        7 => RejectCode::UnknownOrder,
        8 => RejectCode::NoLiquidity,
        9 => RejectCode::BadId,
        10 => RejectCode::Unauthorized,
        _ => RejectCode::Other,
    }
}

fn error_code(code: ErrorCode) -> u8 {
    match code {
        ErrorCode::BadRequest => 1,
        ErrorCode::UnknownType => 2,
        ErrorCode::UnknownSymbol => 3,
        ErrorCode::UnsupportedFrame => 4,
        ErrorCode::RateLimited => 5,
        ErrorCode::BadToken => 6,
        ErrorCode::Other => 0,
    }
}

fn error_from(code: u8) -> ErrorCode {
    match code {
        1 => ErrorCode::BadRequest,
        2 => ErrorCode::UnknownType,
        3 => ErrorCode::UnknownSymbol,
        4 => ErrorCode::UnsupportedFrame,
        5 => ErrorCode::RateLimited,
        6 => ErrorCode::BadToken,
        _ => ErrorCode::Other,
    }
}

/// Appends one server message to `frame`. Quotes, trades and snapshots need their symbol in
/// `ids`; `hello` defines the ids, so it needs none.
pub fn encode_server(
    message: &ServerMessage,
    ids: &SymbolIds,
    frame: &mut Vec<u8>,
) -> Result<(), UnknownSymbol> {
    let id = |s: &Symbol| ids.get(s).ok_or_else(|| UnknownSymbol(s.clone()));
    match message {
        ServerMessage::Hello(h) => {
            let mut out = Out::begin(frame, kind::HELLO);
            out.str(&h.protocol)
                .str(&h.server.name)
                .str(&h.server.version)
                .u64(h.heartbeat_ms)
                .u64(h.ts_ns)
                .u8(u8::from(h.auth_required));
            let source = h
                .source
                .as_ref()
                .and_then(|s| serde_json::to_string(s).ok())
                .unwrap_or_default();
            out.str(&source);
            // Symbols go last; a list too long for a u16 length makes the length 0 (to the end
            // of the frame), and a hello is always alone in its frame.
            out.u32(u32::try_from(h.symbols.len()).unwrap_or(u32::MAX));
            for s in &h.symbols {
                out.str(s);
            }
            out.finish();
        }
        ServerMessage::Snapshot(s) => {
            let mut out = Out::event(frame, kind::SNAPSHOT, id(&s.symbol)?, s.seq, s.ts_ns);
            for d in [
                s.bid,
                s.bid_size,
                s.ask,
                s.ask_size,
                s.last,
                s.last_size,
                s.volume,
                s.open,
                s.high,
                s.low,
                s.prev_close,
                s.tick_size,
            ] {
                out.dec(d);
            }
            out.finish();
        }
        ServerMessage::Quote(q) => {
            let sym = id(&q.symbol)?;
            let prices = compact(q.bid, q.ask);
            let sizes = compact(q.bid_size, q.ask_size);
            if let (Some((ps, bid, ask)), Some((ss, bid_size, ask_size))) = (prices, sizes) {
                let mut out = Out::event(frame, kind::QUOTE, sym, q.seq, q.ts_ns);
                out.u8(ps)
                    .u8(ss)
                    .i32(bid)
                    .i32(bid_size)
                    .i32(ask)
                    .i32(ask_size);
                out.finish();
            } else {
                let mut out = Out::event(frame, kind::QUOTE_WIDE, sym, q.seq, q.ts_ns);
                out.dec(q.bid).dec(q.bid_size).dec(q.ask).dec(q.ask_size);
                out.finish();
            }
        }
        ServerMessage::Trade(t) => {
            let sym = id(&t.symbol)?;
            let price = compact(t.price, t.price);
            let size = compact(t.size, t.size);
            if let (Some((ps, price, _)), Some((ss, size, _))) = (price, size) {
                let mut out = Out::event(frame, kind::TRADE, sym, t.seq, t.ts_ns);
                out.u8(ps).u8(ss).i32(price).i32(size);
                out.finish();
            } else {
                let mut out = Out::event(frame, kind::TRADE_WIDE, sym, t.seq, t.ts_ns);
                out.dec(t.price).dec(t.size);
                out.finish();
            }
        }
        ServerMessage::Ack(a) => {
            let mut out = Out::begin(frame, kind::ACK);
            out.str(&a.id)
                .str(&a.order_id)
                .opt_u64(a.sent_ns)
                .u64(a.ts_ns);
            out.finish();
        }
        ServerMessage::Reject(r) => {
            let mut out = Out::begin(frame, kind::REJECT);
            out.str(&r.id)
                .u8(reject_code(r.code))
                .str(&r.reason)
                .opt_u64(r.sent_ns)
                .u64(r.ts_ns);
            out.finish();
        }
        ServerMessage::Fill(f) => {
            let mut out = Out::begin(frame, kind::FILL);
            out.str(&f.id)
                .str(&f.order_id)
                .dec(f.price)
                .dec(f.qty)
                .dec(f.leaves)
                .u64(f.ts_ns);
            out.finish();
        }
        ServerMessage::Canceled(c) => {
            let mut out = Out::begin(frame, kind::CANCELED);
            out.str(&c.id).str(&c.order_id).dec(c.leaves).u64(c.ts_ns);
            out.finish();
        }
        ServerMessage::Pong(p) => {
            let mut out = Out::begin(frame, kind::PONG);
            out.u64(p.sent_ns).u64(p.ts_ns);
            out.finish();
        }
        ServerMessage::Error(e) => {
            let mut out = Out::begin(frame, kind::ERROR);
            out.u8(error_code(e.code)).str(&e.message);
            out.u32(u32::try_from(e.symbols.len()).unwrap_or(u32::MAX));
            for s in &e.symbols {
                out.str(s);
            }
            out.finish();
        }
        ServerMessage::Authorized(a) => {
            let mut out = Out::begin(frame, kind::AUTHORIZED);
            out.u64(a.ts_ns);
            out.finish();
        }
    }
    Ok(())
}

/// Encodes one client message as a frame. Symbols are sent as ids from `ids` (`*` as
/// [`ALL_IDS`]); a symbol without an id is an error, as the server could not know it either.
pub fn encode_client(message: &ClientMessage, ids: &SymbolIds) -> Result<Vec<u8>, UnknownSymbol> {
    let mut frame = Vec::with_capacity(64);
    let symbols = |out: &mut Out<'_>, list: &[Symbol]| -> Result<(), UnknownSymbol> {
        out.u32(u32::try_from(list.len()).unwrap_or(u32::MAX));
        for s in list {
            let id = if s == ALL_SYMBOLS {
                ALL_IDS
            } else {
                ids.get(s).ok_or_else(|| UnknownSymbol(s.clone()))?
            };
            out.u32(id);
        }
        Ok(())
    };
    match message {
        ClientMessage::Subscribe(s) => {
            let mut out = Out::begin(&mut frame, kind::SUBSCRIBE);
            symbols(&mut out, &s.symbols)?;
            out.finish();
        }
        ClientMessage::Unsubscribe(s) => {
            let mut out = Out::begin(&mut frame, kind::UNSUBSCRIBE);
            symbols(&mut out, &s.symbols)?;
            out.finish();
        }
        ClientMessage::Order(o) => {
            let symbol = ids
                .get(&o.symbol)
                .ok_or_else(|| UnknownSymbol(o.symbol.clone()))?;
            let mut out = Out::begin(&mut frame, kind::ORDER);
            out.str(&o.id)
                .u32(symbol)
                .u8(match o.side {
                    Side::Buy => 0,
                    Side::Sell => 1,
                })
                .dec(o.qty)
                .u8(u8::from(o.price.is_some()));
            if let Some(price) = o.price {
                out.dec(price);
            }
            out.opt_u64(o.sent_ns);
            out.finish();
        }
        ClientMessage::Cancel(c) => {
            let mut out = Out::begin(&mut frame, kind::CANCEL);
            out.str(&c.id).opt_u64(c.sent_ns);
            out.finish();
        }
        ClientMessage::Ping(p) => {
            let mut out = Out::begin(&mut frame, kind::PING);
            out.u64(p.sent_ns);
            out.finish();
        }
        ClientMessage::Auth(a) => {
            let mut out = Out::begin(&mut frame, kind::AUTH);
            out.str(&a.token);
            out.finish();
        }
    }
    Ok(frame)
}

// ---- reading ---------------------------------------------------------------------------------

/// A cursor over one message's bytes; every read is checked.
struct In<'a> {
    bytes: &'a [u8],
    at: usize,
    what: &'static str,
}

impl<'a> In<'a> {
    fn fail(&self, detail: impl Into<String>) -> DecodeError {
        DecodeError::Invalid {
            kind: self.what.to_owned(),
            detail: detail.into(),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let Some(end) = end else {
            return Err(self.fail(format!(
                "ends at byte {} of {} while reading {n} more",
                self.at,
                self.bytes.len()
            )));
        };
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let slice = self.take(N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(slice);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }
    fn u16(&mut self) -> Result<u16, DecodeError> {
        Ok(u16::from_le_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.array()?))
    }
    fn i32(&mut self) -> Result<i32, DecodeError> {
        Ok(i32::from_le_bytes(self.array()?))
    }
    fn bool(&mut self) -> Result<bool, DecodeError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(self.fail(format!("flag byte {other} is neither 0 nor 1"))),
        }
    }
    fn opt_u64(&mut self) -> Result<Option<u64>, DecodeError> {
        let present = self.bool()?;
        let value = self.u64()?;
        Ok(present.then_some(value))
    }
    fn str(&mut self) -> Result<&'a str, DecodeError> {
        let len = usize::from(self.u16()?);
        let bytes = self.take(len)?;
        std::str::from_utf8(bytes).map_err(|_| self.fail("a string is not valid UTF-8"))
    }
    fn dec(&mut self) -> Result<Decimal, DecodeError> {
        let scale = self.u8()?;
        let mantissa = if scale & WIDE == 0 {
            i128::from(self.u64()? as i64)
        } else {
            i128::from_le_bytes(self.array()?)
        };
        let scale = u32::from(scale & !WIDE);
        if scale > MAX_SCALE {
            return Err(self.fail(format!("decimal scale {scale} is over {MAX_SCALE}")));
        }
        Decimal::try_from_i128_with_scale(mantissa, scale)
            .map_err(|_| self.fail("decimal mantissa is over 96 bits"))
    }
    /// A decimal from a compact mantissa and its shared scale.
    fn scaled(&self, mantissa: i32, scale: u8) -> Result<Decimal, DecodeError> {
        let scale = u32::from(scale);
        if scale > MAX_SCALE {
            return Err(self.fail(format!("decimal scale {scale} is over {MAX_SCALE}")));
        }
        Ok(Decimal::new(i64::from(mantissa), scale))
    }
    fn done(&self) -> Result<(), DecodeError> {
        if self.at == self.bytes.len() {
            Ok(())
        } else {
            Err(self.fail(format!(
                "{} bytes left over after the last field",
                self.bytes.len() - self.at
            )))
        }
    }
}

/// Splits a frame into its messages: `(type, whole message, header included)`, for readers that
/// pick fields at fixed offsets rather than decode every message.
pub fn messages(frame: &[u8]) -> impl Iterator<Item = Result<(u8, &[u8]), DecodeError>> {
    let mut rest = frame;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let (kind, len) = match rest {
            // 0: the message runs to the end of the frame (a hello over 64 KiB).
            [kind, 0, 0, ..] => (*kind, rest.len()),
            [kind, a, b, ..] => (*kind, usize::from(u16::from_le_bytes([*a, *b]))),
            _ => {
                rest = &[];
                return Some(Err(DecodeError::Invalid {
                    kind: "frame".to_owned(),
                    detail: "a message header needs 3 bytes".to_owned(),
                }));
            }
        };
        if len < HEADER || len > rest.len() {
            let detail = format!(
                "message type 0x{kind:02x} says {len} bytes, {} are left",
                rest.len()
            );
            rest = &[];
            return Some(Err(DecodeError::Invalid {
                kind: "frame".to_owned(),
                detail,
            }));
        }
        let (message, tail) = rest.split_at(len);
        rest = tail;
        Some(Ok((kind, message)))
    })
}

/// Decodes server frames; keeps the symbol list of the last `hello`, which gives ids their names.
#[derive(Debug, Default, Clone)]
pub struct ServerDecoder {
    symbols: Vec<Symbol>,
}

impl ServerDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// The symbols by id, as the last `hello` listed them.
    pub fn symbols(&self) -> &[Symbol] {
        &self.symbols
    }

    /// Decodes a frame, appending its messages to `out`. Messages of unknown types are skipped.
    pub fn frame(&mut self, frame: &[u8], out: &mut Vec<ServerMessage>) -> Result<(), DecodeError> {
        for part in messages(frame) {
            let (kind, bytes) = part?;
            if let Some(message) = self.message(kind, bytes)? {
                out.push(message);
            }
        }
        Ok(())
    }

    fn symbol(&self, r: &In<'_>, id: u32) -> Result<Symbol, DecodeError> {
        usize::try_from(id)
            .ok()
            .and_then(|i| self.symbols.get(i))
            .cloned()
            .ok_or_else(|| r.fail(format!("symbol id {id} is not in hello's list")))
    }

    fn message(&mut self, kind: u8, bytes: &[u8]) -> Result<Option<ServerMessage>, DecodeError> {
        let what = match kind {
            kind::HELLO => "hello",
            kind::SNAPSHOT => "snapshot",
            kind::QUOTE | kind::QUOTE_WIDE => "quote",
            kind::TRADE | kind::TRADE_WIDE => "trade",
            kind::ACK => "ack",
            kind::REJECT => "reject",
            kind::FILL => "fill",
            kind::CANCELED => "canceled",
            kind::PONG => "pong",
            kind::ERROR => "error",
            kind::AUTHORIZED => "authorized",
            _ => return Ok(None),
        };
        let mut r = In {
            bytes,
            at: HEADER,
            what,
        };
        let message = match kind {
            kind::HELLO => {
                let protocol = r.str()?.to_owned();
                let name = r.str()?.to_owned();
                let version = r.str()?.to_owned();
                let heartbeat_ms = r.u64()?;
                let ts_ns = r.u64()?;
                let auth_required = r.bool()?;
                let source = r.str()?;
                let source: Option<SourceInfo> = if source.is_empty() {
                    None
                } else {
                    Some(serde_json::from_str(source).map_err(|e| r.fail(e.to_string()))?)
                };
                let count = r.u32()?;
                // Each symbol takes at least 2 bytes: a count beyond that is a lie.
                if count as usize > (r.bytes.len() - r.at) / 2 {
                    return Err(r.fail(format!("{count} symbols cannot fit")));
                }
                let mut symbols = Vec::with_capacity(count as usize);
                for _ in 0..count {
                    symbols.push(Symbol::from(r.str()?));
                }
                self.symbols.clone_from(&symbols);
                ServerMessage::Hello(Hello {
                    protocol,
                    server: ServerInfo { name, version },
                    symbols,
                    heartbeat_ms,
                    ts_ns,
                    source,
                    auth_required,
                })
            }
            kind::SNAPSHOT => {
                let id = r.u32()?;
                let symbol = self.symbol(&r, id)?;
                let seq = r.u64()?;
                let ts_ns = r.u64()?;
                let mut d = [Decimal::ZERO; 12];
                for slot in &mut d {
                    *slot = r.dec()?;
                }
                ServerMessage::Snapshot(Snapshot {
                    symbol,
                    seq,
                    bid: d[0],
                    bid_size: d[1],
                    ask: d[2],
                    ask_size: d[3],
                    last: d[4],
                    last_size: d[5],
                    volume: d[6],
                    open: d[7],
                    high: d[8],
                    low: d[9],
                    prev_close: d[10],
                    tick_size: d[11],
                    ts_ns,
                })
            }
            kind::QUOTE | kind::QUOTE_WIDE => {
                let id = r.u32()?;
                let symbol = self.symbol(&r, id)?;
                let seq = r.u64()?;
                let ts_ns = r.u64()?;
                let [bid, bid_size, ask, ask_size] = if kind == kind::QUOTE {
                    let (ps, ss) = (r.u8()?, r.u8()?);
                    let (b, bs, a, asz) = (r.i32()?, r.i32()?, r.i32()?, r.i32()?);
                    [
                        r.scaled(b, ps)?,
                        r.scaled(bs, ss)?,
                        r.scaled(a, ps)?,
                        r.scaled(asz, ss)?,
                    ]
                } else {
                    [r.dec()?, r.dec()?, r.dec()?, r.dec()?]
                };
                ServerMessage::Quote(Quote {
                    symbol,
                    seq,
                    bid,
                    bid_size,
                    ask,
                    ask_size,
                    ts_ns,
                })
            }
            kind::TRADE | kind::TRADE_WIDE => {
                let id = r.u32()?;
                let symbol = self.symbol(&r, id)?;
                let seq = r.u64()?;
                let ts_ns = r.u64()?;
                let [price, size] = if kind == kind::TRADE {
                    let (ps, ss) = (r.u8()?, r.u8()?);
                    let (p, s) = (r.i32()?, r.i32()?);
                    [r.scaled(p, ps)?, r.scaled(s, ss)?]
                } else {
                    [r.dec()?, r.dec()?]
                };
                ServerMessage::Trade(Trade {
                    symbol,
                    seq,
                    price,
                    size,
                    ts_ns,
                })
            }
            kind::ACK => ServerMessage::Ack(Ack {
                id: r.str()?.into(),
                order_id: r.str()?.to_owned(),
                sent_ns: r.opt_u64()?,
                ts_ns: r.u64()?,
            }),
            kind::REJECT => ServerMessage::Reject(Reject {
                id: r.str()?.into(),
                code: reject_from(r.u8()?),
                reason: r.str()?.to_owned(),
                sent_ns: r.opt_u64()?,
                ts_ns: r.u64()?,
            }),
            kind::FILL => ServerMessage::Fill(Fill {
                id: r.str()?.into(),
                order_id: r.str()?.to_owned(),
                price: r.dec()?,
                qty: r.dec()?,
                leaves: r.dec()?,
                ts_ns: r.u64()?,
            }),
            kind::CANCELED => ServerMessage::Canceled(Canceled {
                id: r.str()?.into(),
                order_id: r.str()?.to_owned(),
                leaves: r.dec()?,
                ts_ns: r.u64()?,
            }),
            kind::PONG => ServerMessage::Pong(Pong {
                sent_ns: r.u64()?,
                ts_ns: r.u64()?,
            }),
            kind::ERROR => {
                let code = error_from(r.u8()?);
                let message = r.str()?.to_owned();
                let count = r.u32()?;
                if count as usize > (r.bytes.len() - r.at) / 2 {
                    return Err(r.fail(format!("{count} symbols cannot fit")));
                }
                let mut symbols = Vec::with_capacity(count as usize);
                for _ in 0..count {
                    symbols.push(Symbol::from(r.str()?));
                }
                ServerMessage::Error(ErrorReply {
                    code,
                    message,
                    symbols,
                })
            }
            _ => ServerMessage::Authorized(Authorized { ts_ns: r.u64()? }),
        };
        r.done()?;
        Ok(Some(message))
    }
}

/// Decodes one client message (a frame holds exactly one). Symbol ids are named from `symbols`,
/// the server's list as its `hello` gave it; an id outside it becomes `#ID`, which the server then
/// reports as an unknown symbol like any other.
pub fn decode_client(frame: &[u8], symbols: &[Symbol]) -> Result<ClientMessage, DecodeError> {
    let mut parts = messages(frame);
    let (kind, bytes) = parts
        .next()
        .transpose()?
        .ok_or_else(|| DecodeError::Invalid {
            kind: "frame".to_owned(),
            detail: "the frame is empty".to_owned(),
        })?;
    if parts.next().is_some() {
        return Err(DecodeError::Invalid {
            kind: "frame".to_owned(),
            detail: "a client frame carries one message".to_owned(),
        });
    }
    let what = match kind {
        kind::SUBSCRIBE => "subscribe",
        kind::UNSUBSCRIBE => "unsubscribe",
        kind::ORDER => "order",
        kind::CANCEL => "cancel",
        kind::PING => "ping",
        kind::AUTH => "auth",
        other => return Err(DecodeError::UnknownType(format!("0x{other:02x}"))),
    };
    let name = |id: u32| -> Symbol {
        if id == ALL_IDS {
            return ALL_SYMBOLS.into();
        }
        usize::try_from(id)
            .ok()
            .and_then(|i| symbols.get(i))
            .cloned()
            .unwrap_or_else(|| format!("#{id}").into())
    };
    let mut r = In {
        bytes,
        at: HEADER,
        what,
    };
    let list = |r: &mut In<'_>| -> Result<Vec<Symbol>, DecodeError> {
        let count = r.u32()?;
        if count as usize > (r.bytes.len() - r.at) / 4 {
            return Err(r.fail(format!("{count} symbol ids cannot fit")));
        }
        (0..count).map(|_| Ok(name(r.u32()?))).collect()
    };
    let message = match kind {
        kind::SUBSCRIBE => ClientMessage::Subscribe(Subscribe {
            symbols: list(&mut r)?,
        }),
        kind::UNSUBSCRIBE => ClientMessage::Unsubscribe(Unsubscribe {
            symbols: list(&mut r)?,
        }),
        kind::ORDER => {
            let id = r.str()?.into();
            let symbol = name(r.u32()?);
            let side = match r.u8()? {
                0 => Side::Buy,
                1 => Side::Sell,
                other => {
                    return Err(r.fail(format!("side {other} is neither 0 (buy) nor 1 (sell)")));
                }
            };
            let qty = r.dec()?;
            let price = if r.bool()? { Some(r.dec()?) } else { None };
            let sent_ns = r.opt_u64()?;
            ClientMessage::Order(Order {
                id,
                symbol,
                side,
                qty,
                price,
                sent_ns,
            })
        }
        kind::CANCEL => ClientMessage::Cancel(Cancel {
            id: r.str()?.into(),
            sent_ns: r.opt_u64()?,
        }),
        kind::PING => ClientMessage::Ping(Ping { sent_ns: r.u64()? }),
        _ => ClientMessage::Auth(Auth {
            token: r.str()?.to_owned(),
        }),
    };
    r.done()?;
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn quote(bid: &str, size: &str) -> ServerMessage {
        ServerMessage::Quote(Quote {
            symbol: "MSFT".into(),
            seq: 1042,
            bid: d(bid),
            bid_size: d(size),
            ask: d("187.26"),
            ask_size: d("200"),
            ts_ns: 1_732_400_000_000_000_000,
        })
    }

    #[test]
    fn quotes_are_compact_when_they_fit_and_wide_and_exact_when_not() {
        let ids = SymbolIds::new(&["AAPL".into(), "MSFT".into()]);
        let mut decoder = ServerDecoder {
            symbols: vec!["AAPL".into(), "MSFT".into()],
        };
        for (bid, size, bytes) in [
            ("187.25", "300", QUOTE_BYTES),
            ("187.255", "300", QUOTE_BYTES),
            ("99999999999.5", "300", 3 + 4 + 8 + 8 + 4 * 9),
            ("0.000000000000000000000000001", "1", 3 + 4 + 8 + 8 + 4 * 9),
            (
                "79228162514264337593543950335",
                "1",
                3 + 4 + 8 + 8 + 17 + 3 * 9,
            ),
        ] {
            let message = quote(bid, size);
            let mut frame = Vec::new();
            encode_server(&message, &ids, &mut frame).unwrap();
            assert_eq!(frame.len(), bytes, "{bid}");
            let mut out = Vec::new();
            decoder.frame(&frame, &mut out).unwrap();
            assert_eq!(out, vec![message]);
            let ServerMessage::Quote(q) = &out[0] else {
                unreachable!()
            };
            assert_eq!(q.bid.to_string(), bid);
        }
    }

    #[test]
    fn truncated_and_lying_frames_are_errors_not_panics() {
        let ids = SymbolIds::new(&["MSFT".into()]);
        let mut frame = Vec::new();
        encode_server(&quote("1.5", "2"), &ids, &mut frame).unwrap();
        let mut decoder = ServerDecoder {
            symbols: vec!["MSFT".into()],
        };
        for cut in 0..frame.len() {
            assert!(decoder.frame(&frame[..cut], &mut Vec::new()).is_err() || cut == 0);
        }
        // A symbol id past hello's list.
        let mut unknown = frame.clone();
        unknown[3] = 9;
        assert!(decoder.frame(&unknown, &mut Vec::new()).is_err());
        // A length that runs past the frame.
        let mut long = frame.clone();
        long[1] = 200;
        assert!(decoder.frame(&long, &mut Vec::new()).is_err());
        // A hello that claims four billion symbols.
        let hello = [kind::HELLO, 0x20, 0x00, 0, 0, 0, 0, 0, 0];
        assert!(decoder.frame(&hello, &mut Vec::new()).is_err());
        assert!(decode_client(&[kind::SUBSCRIBE, 7, 0, 255, 255, 255, 255], &[]).is_err());
        assert!(matches!(
            decode_client(&[0x7F, 3, 0], &[]),
            Err(DecodeError::UnknownType(_))
        ));
    }
}
