//! The bodies of the bus's messages (CLUSTER.md has the tables): events and market states in a
//! fixed little-endian layout, decoded without allocation per event; orders and their answers as
//! the protocol's own JSON messages, which are rare next to events.
//!
//! Decoding never panics: a body that is short, long or of an unknown kind or version is an
//! error that says so.

use crate::bitset::BitSet;
use crate::feed::event::{Extras, MarketEvent};
use crate::market::book::{Ladder, MAX_LEVELS};
use crate::market::{MarketState, Sequenced};
use protocol::Side;

/// The layout's version, first byte of every event and state body (2: states carry the book).
pub const VERSION: u8 = 2;
/// The stream an event belongs to: quotes and trades, or the order book.
pub const STREAM_QUOTES: u8 = 0;
pub const STREAM_BOOK: u8 = 1;
const KIND_QUOTE: u8 = 1;
const KIND_TRADE: u8 = 2;
const KIND_LEVEL: u8 = 3;
const KIND_TOUCH: u8 = 4;
/// A quote or trade with a live venue's fields after its own: u8 flags, u64 venue time, u64
/// trade id.
const KIND_QUOTE_VENUE: u8 = 5;
const KIND_TRADE_VENUE: u8 = 6;
/// A book re-sync: the head alone.
const KIND_RESYNC: u8 = 7;
/// Bytes of an encoded quote event (a trade is 16 shorter).
pub const QUOTE_BYTES: usize = 3 + 4 + 8 + 8 + 4 * 8;
/// Bytes of one encoded market state with an empty book (each level adds 16).
pub const STATE_BYTES: usize = 8 * 11 + 1 + 8 + 8 + 8 + 4 + 4;

/// A body that cannot be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WireError {
    #[error("bus message too short: {0}")]
    Short(&'static str),
    #[error("bus message of version {0}, this build reads {VERSION}")]
    Version(u8),
    #[error("bus event of unknown stream {0} or kind {1}")]
    Kind(u8, u8),
    #[error("bus message has {0} bytes past its end")]
    Trailing(usize),
    #[error("bus message names symbol {0}, past the universe")]
    Symbol(u32),
}

/// Reads fixed-size fields off the front of a body.
struct Reader<'a> {
    rest: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    fn new(body: &'a [u8], what: &'static str) -> Self {
        Self { rest: body, what }
    }

    fn take<const N: usize>(&mut self) -> Result<[u8; N], WireError> {
        let (head, rest) = self
            .rest
            .split_first_chunk::<N>()
            .ok_or(WireError::Short(self.what))?;
        self.rest = rest;
        Ok(*head)
    }

    fn u8(&mut self) -> Result<u8, WireError> {
        Ok(self.take::<1>()?[0])
    }

    fn u32(&mut self) -> Result<u32, WireError> {
        Ok(u32::from_le_bytes(self.take()?))
    }

    fn u64(&mut self) -> Result<u64, WireError> {
        Ok(u64::from_le_bytes(self.take()?))
    }

    fn i64(&mut self) -> Result<i64, WireError> {
        Ok(i64::from_le_bytes(self.take()?))
    }

    fn bytes(&mut self, n: usize) -> Result<&'a [u8], WireError> {
        if self.rest.len() < n {
            return Err(WireError::Short(self.what));
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(head)
    }

    fn remaining(&self) -> usize {
        self.rest.len()
    }

    fn end(&self) -> Result<(), WireError> {
        match self.rest.len() {
            0 => Ok(()),
            n => Err(WireError::Trailing(n)),
        }
    }
}

/// Appends one sequenced event.
fn put_extras(out: &mut Vec<u8>, extras: Extras) {
    let (flags, exch_ts_ns, trade_id) = extras.parts();
    out.push(flags);
    out.extend_from_slice(&exch_ts_ns.to_le_bytes());
    out.extend_from_slice(&trade_id.to_le_bytes());
}

pub fn put_event(out: &mut Vec<u8>, event: &Sequenced) {
    let symbol = u32::try_from(event.symbol).unwrap_or(u32::MAX);
    let stream = match event.event.stream() {
        protocol::recording::Stream::Quotes => STREAM_QUOTES,
        protocol::recording::Stream::Book => STREAM_BOOK,
    };
    out.extend_from_slice(&[VERSION, stream]);
    match event.event {
        MarketEvent::Quote {
            bid,
            bid_size,
            ask,
            ask_size,
            ..
        } => {
            let venue = !event.extras.is_none();
            out.push(if venue { KIND_QUOTE_VENUE } else { KIND_QUOTE });
            put_head(out, symbol, event);
            for v in [bid, bid_size, ask, ask_size] {
                out.extend_from_slice(&v.to_le_bytes());
            }
            if venue {
                put_extras(out, event.extras);
            }
        }
        MarketEvent::Trade { price, size, .. } => {
            let venue = !event.extras.is_none();
            out.push(if venue { KIND_TRADE_VENUE } else { KIND_TRADE });
            put_head(out, symbol, event);
            for v in [price, size] {
                out.extend_from_slice(&v.to_le_bytes());
            }
            if venue {
                put_extras(out, event.extras);
            }
        }
        MarketEvent::Level {
            side, price, size, ..
        } => {
            out.push(KIND_LEVEL);
            put_head(out, symbol, event);
            out.push(u8::from(side == Side::Sell));
            for v in [price, size] {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        MarketEvent::Touch {
            bid,
            bid_size,
            ask,
            ask_size,
            ..
        } => {
            out.push(KIND_TOUCH);
            put_head(out, symbol, event);
            for v in [bid, bid_size, ask, ask_size] {
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        MarketEvent::Resync { .. } => {
            out.push(KIND_RESYNC);
            put_head(out, symbol, event);
        }
    }
}

fn put_head(out: &mut Vec<u8>, symbol: u32, event: &Sequenced) {
    out.extend_from_slice(&symbol.to_le_bytes());
    out.extend_from_slice(&event.seq.to_le_bytes());
    out.extend_from_slice(&event.ts_ns.to_le_bytes());
}

/// One event's body, whole.
pub fn event(body: &[u8], symbols: usize) -> Result<Sequenced, WireError> {
    let mut r = Reader::new(body, "event");
    let event = read_event(&mut r, symbols)?;
    r.end()?;
    Ok(event)
}

fn read_event(r: &mut Reader<'_>, symbols: usize) -> Result<Sequenced, WireError> {
    let version = r.u8()?;
    if version != VERSION {
        return Err(WireError::Version(version));
    }
    let (stream, kind) = (r.u8()?, r.u8()?);
    let raw = r.u32()?;
    let symbol = usize::try_from(raw)
        .ok()
        .filter(|&s| s < symbols)
        .ok_or(WireError::Symbol(raw))?;
    let (seq, ts_ns) = (r.u64()?, r.u64()?);
    let event = match (stream, kind) {
        (STREAM_QUOTES, KIND_QUOTE | KIND_QUOTE_VENUE) => MarketEvent::Quote {
            symbol,
            bid: r.i64()?,
            bid_size: r.i64()?,
            ask: r.i64()?,
            ask_size: r.i64()?,
        },
        (STREAM_QUOTES, KIND_TRADE | KIND_TRADE_VENUE) => MarketEvent::Trade {
            symbol,
            price: r.i64()?,
            size: r.i64()?,
        },
        (STREAM_BOOK, KIND_LEVEL) => MarketEvent::Level {
            symbol,
            side: if r.u8()? == 1 { Side::Sell } else { Side::Buy },
            price: r.i64()?,
            size: r.i64()?,
        },
        (STREAM_BOOK, KIND_TOUCH) => MarketEvent::Touch {
            symbol,
            bid: r.i64()?,
            bid_size: r.i64()?,
            ask: r.i64()?,
            ask_size: r.i64()?,
        },
        (STREAM_BOOK, KIND_RESYNC) => MarketEvent::Resync { symbol },
        _ => return Err(WireError::Kind(stream, kind)),
    };
    let extras = if kind == KIND_QUOTE_VENUE || kind == KIND_TRADE_VENUE {
        let flags = r.u8()?;
        Extras::from_parts(flags, r.u64()?, r.u64()?)
    } else {
        Extras::NONE
    };
    Ok(Sequenced {
        symbol,
        seq,
        ts_ns,
        event,
        extras,
    })
}

/// A replay's answer: whether history held the events, and the events.
pub fn put_events(out: &mut Vec<u8>, events: Option<&[Sequenced]>) {
    out.push(u8::from(events.is_some()));
    let events = events.unwrap_or_default();
    out.extend_from_slice(&u32::try_from(events.len()).unwrap_or(0).to_le_bytes());
    for event in events {
        put_event(out, event);
    }
}

/// Reads [`put_events`]; at most `max` events.
pub fn events(
    body: &[u8],
    symbols: usize,
    max: usize,
) -> Result<Option<Vec<Sequenced>>, WireError> {
    let mut r = Reader::new(body, "replay");
    let held = r.u8()? == 1;
    let n = usize::try_from(r.u32()?).unwrap_or(usize::MAX);
    // Each event takes at least a trade's bytes: a count past what the body holds is refused
    // before anything is allocated for it.
    if n > max || n > r.remaining() / (QUOTE_BYTES - 16) {
        return Err(WireError::Short("replay"));
    }
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(read_event(&mut r, symbols)?);
    }
    r.end()?;
    Ok(held.then_some(out))
}

/// A replay request: the events of `symbol` after `after` up to `until`.
pub fn put_replay_request(symbol: u32, after: u64, until: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(20);
    out.extend_from_slice(&symbol.to_le_bytes());
    out.extend_from_slice(&after.to_le_bytes());
    out.extend_from_slice(&until.to_le_bytes());
    out
}

pub fn replay_request(body: &[u8]) -> Result<(u32, u64, u64), WireError> {
    let mut r = Reader::new(body, "replay request");
    let parts = (r.u32()?, r.u64()?, r.u64()?);
    r.end()?;
    Ok(parts)
}

/// The bytes one state takes in a page: its fixed part and its book's levels.
pub fn state_bytes(state: &MarketState) -> usize {
    let levels = state.book.len(Side::Buy) + state.book.len(Side::Sell);
    STATE_BYTES + 16 * levels
}

/// A page of market states: the universe's size, the first symbol in the page, and its states.
pub fn put_states(out: &mut Vec<u8>, total: usize, first: usize, states: &[MarketState]) {
    out.push(VERSION);
    for n in [total, first, states.len()] {
        out.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes());
    }
    for s in states {
        for v in [s.seq, s.ts_ns] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for v in [
            s.bid,
            s.bid_size,
            s.ask,
            s.ask_size,
            s.last,
            s.last_size,
            s.volume,
            s.high,
            s.low,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.push(u8::from(s.open.is_some()));
        out.extend_from_slice(&s.open.unwrap_or(0).to_le_bytes());
        for v in [s.book_seq, s.book_ts_ns] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for side in [Side::Buy, Side::Sell] {
            let n = s.book.len(side);
            out.extend_from_slice(&u32::try_from(n).unwrap_or(0).to_le_bytes());
            for (price, size) in s.book.side(side).take(n) {
                out.extend_from_slice(&price.to_le_bytes());
                out.extend_from_slice(&size.to_le_bytes());
            }
        }
    }
}

/// A page of states, as [`put_states`] wrote it.
#[derive(Debug, PartialEq, Eq)]
pub struct States {
    pub total: usize,
    pub first: usize,
    pub page: Vec<MarketState>,
}

pub fn states(body: &[u8]) -> Result<States, WireError> {
    let mut r = Reader::new(body, "states");
    let version = r.u8()?;
    if version != VERSION {
        return Err(WireError::Version(version));
    }
    let total = usize::try_from(r.u32()?).unwrap_or(usize::MAX);
    let first = usize::try_from(r.u32()?).unwrap_or(usize::MAX);
    let n = usize::try_from(r.u32()?).unwrap_or(usize::MAX);
    if n > r.remaining() / STATE_BYTES {
        return Err(WireError::Short("states"));
    }
    let mut states = Vec::with_capacity(n);
    for _ in 0..n {
        let (seq, ts_ns) = (r.u64()?, r.u64()?);
        let (bid, bid_size, ask, ask_size) = (r.i64()?, r.i64()?, r.i64()?, r.i64()?);
        let (last, last_size, volume, high, low) =
            (r.i64()?, r.i64()?, r.i64()?, r.i64()?, r.i64()?);
        let has_open = r.u8()? == 1;
        let open = r.i64()?;
        let (book_seq, book_ts_ns) = (r.u64()?, r.u64()?);
        let mut book = Ladder::default();
        for side in [Side::Buy, Side::Sell] {
            let n = usize::try_from(r.u32()?).unwrap_or(usize::MAX);
            // Each level is 16 bytes: a count past the body is refused before reading on.
            if n > r.remaining() / 16 || n > MAX_LEVELS {
                return Err(WireError::Short("book"));
            }
            for _ in 0..n {
                let (price, size) = (r.i64()?, r.i64()?);
                book.set(side, price, size);
            }
        }
        states.push(MarketState {
            seq,
            bid,
            bid_size,
            ask,
            ask_size,
            last,
            last_size,
            volume,
            open: has_open.then_some(open),
            high,
            low,
            ts_ns,
            book,
            book_seq,
            book_ts_ns,
        });
    }
    r.end()?;
    Ok(States {
        total,
        first,
        page: states,
    })
}

/// An edge's request for its connection `conn`: an order, a cancel or a close, with the edge's
/// id and the request's tag (the same on every retry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    pub edge: u64,
    pub conn: u64,
    pub tag: u64,
    /// The protocol's JSON `order` or `cancel` message; empty for a close.
    pub message: &'a [u8],
}

pub fn put_request(edge: u64, conn: u64, tag: u64, message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(24 + message.len());
    for v in [edge, conn, tag] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(message);
    out
}

pub fn request(body: &[u8]) -> Result<Request<'_>, WireError> {
    let mut r = Reader::new(body, "request");
    let (edge, conn, tag) = (r.u64()?, r.u64()?, r.u64()?);
    let message = r.bytes(r.remaining())?;
    Ok(Request {
        edge,
        conn,
        tag,
        message,
    })
}

/// A fill of a resting order, for connection `conn` of the edge the subject names.
pub fn put_fill(conn: u64, message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + message.len());
    out.extend_from_slice(&conn.to_le_bytes());
    out.extend_from_slice(message);
    out
}

pub fn fill(body: &[u8]) -> Result<(u64, &[u8]), WireError> {
    let mut r = Reader::new(body, "fill");
    let conn = r.u64()?;
    Ok((conn, r.bytes(r.remaining())?))
}

/// The symbols whose source is stale: `u32` count, then each symbol's `u32` index.
pub fn put_status(stale: &BitSet) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + 4 * stale.len());
    out.extend_from_slice(&u32::try_from(stale.len()).unwrap_or(u32::MAX).to_le_bytes());
    for s in stale.iter() {
        out.extend_from_slice(&u32::try_from(s).unwrap_or(u32::MAX).to_le_bytes());
    }
    out
}

/// A status body, every symbol checked against the universe's `symbols`.
pub fn status(body: &[u8], symbols: usize) -> Result<BitSet, WireError> {
    let mut r = Reader::new(body, "status");
    let count = r.u32()?;
    let mut stale = BitSet::new(symbols);
    for _ in 0..count {
        let raw = r.u32()?;
        let symbol = usize::try_from(raw)
            .ok()
            .filter(|&s| s < symbols)
            .ok_or(WireError::Symbol(raw))?;
        stale.insert(symbol);
    }
    r.end()?;
    Ok(stale)
}

/// An edge's heartbeat: its id and how many connections it serves.
pub fn put_heartbeat(edge: u64, connections: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(16);
    out.extend_from_slice(&edge.to_le_bytes());
    out.extend_from_slice(&connections.to_le_bytes());
    out
}

pub fn heartbeat(body: &[u8]) -> Result<(u64, u64), WireError> {
    let mut r = Reader::new(body, "heartbeat");
    let parts = (r.u64()?, r.u64()?);
    r.end()?;
    Ok(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quote(symbol: usize, seq: u64) -> Sequenced {
        Sequenced {
            symbol,
            seq,
            ts_ns: 1_700_000_000_000_000_000 + seq,
            event: MarketEvent::Quote {
                symbol,
                bid: 22_987,
                bid_size: 300,
                ask: 22_988,
                ask_size: -1,
            },
            extras: Extras::NONE,
        }
    }

    fn trade(symbol: usize, seq: u64) -> Sequenced {
        Sequenced {
            symbol,
            seq,
            ts_ns: 7,
            event: MarketEvent::Trade {
                symbol,
                price: i64::MAX,
                size: 5,
            },
            extras: Extras::NONE,
        }
    }

    #[test]
    fn events_read_back_as_written() {
        let level = Sequenced {
            symbol: 2,
            seq: 9,
            ts_ns: 3,
            event: MarketEvent::Level {
                symbol: 2,
                side: Side::Sell,
                price: 100,
                size: 0,
            },
            extras: Extras::NONE,
        };
        // A live venue's trade, with its time, id and aggressor.
        let venue = Sequenced {
            extras: Extras::new(
                Some(1_723_161_255_342_000_000),
                Some(3_735_683_259),
                Some(Side::Sell),
            ),
            ..trade(1, 7)
        };
        let resync = Sequenced {
            event: MarketEvent::Resync { symbol: 2 },
            seq: 10,
            ..level
        };
        let mut stale = BitSet::new(5);
        stale.insert(1);
        stale.insert(4);
        assert_eq!(status(&put_status(&stale), 5), Ok(stale.clone()));
        assert_eq!(status(&put_status(&stale), 4), Err(WireError::Symbol(4)));
        assert!(
            status(&[9, 0, 0, 0, 1, 0, 0, 0], 5).is_err(),
            "fewer than it counts"
        );
        for e in [quote(3, 41), trade(0, u64::MAX), level, venue, resync] {
            let mut body = Vec::new();
            put_event(&mut body, &e);
            assert_eq!(event(&body, 4), Ok(e));
        }
        let mut body = Vec::new();
        put_event(&mut body, &quote(3, 1));
        assert_eq!(body.len(), QUOTE_BYTES);
    }

    #[test]
    fn bad_events_are_errors() {
        let mut body = Vec::new();
        put_event(&mut body, &quote(3, 41));
        for n in 0..body.len() {
            assert!(event(&body[..n], 4).is_err(), "{n} bytes");
        }
        assert_eq!(event(&body, 3), Err(WireError::Symbol(3)));
        let mut long = body.clone();
        long.push(0);
        assert_eq!(event(&long, 4), Err(WireError::Trailing(1)));
        let mut other = body.clone();
        other[0] = 9;
        assert_eq!(event(&other, 4), Err(WireError::Version(9)));
        other = body.clone();
        other[2] = 7;
        assert_eq!(event(&other, 4), Err(WireError::Kind(0, 7)));
    }

    #[test]
    fn replays_read_back_and_counts_are_checked_before_allocating() {
        let list = [quote(1, 5), trade(1, 6), quote(1, 7)];
        let mut body = Vec::new();
        put_events(&mut body, Some(&list));
        assert_eq!(events(&body, 2, 10), Ok(Some(list.to_vec())));
        assert!(events(&body, 2, 2).is_err());
        let mut none = Vec::new();
        put_events(&mut none, None);
        assert_eq!(events(&none, 2, 10), Ok(None));
        // A count of four billion in a short body.
        let lying = [1, 255, 255, 255, 255];
        assert!(events(&lying, 2, usize::MAX).is_err());
    }

    #[test]
    fn states_read_back_as_written() {
        let s = MarketState {
            seq: 9,
            bid: 1,
            bid_size: 2,
            ask: 3,
            ask_size: 4,
            last: 5,
            last_size: 6,
            volume: 7,
            open: Some(8),
            high: 10,
            low: -11,
            ts_ns: 12,
            book: Ladder::default(),
            book_seq: 13,
            book_ts_ns: 14,
        };
        let mut deep = s.clone();
        deep.book.set(Side::Buy, 1, 20);
        deep.book.set(Side::Buy, 0, 30);
        deep.book.set(Side::Sell, 3, 40);
        let list = [s.clone(), MarketState { open: None, ..s }, deep];
        let mut body = Vec::new();
        put_states(&mut body, 40, 20, &list);
        assert_eq!(
            states(&body),
            Ok(States {
                total: 40,
                first: 20,
                page: list.to_vec()
            })
        );
        assert!(states(&body[..body.len() - 1]).is_err());
    }

    #[test]
    fn requests_fills_and_heartbeats_read_back() {
        let body = put_request(1, 2, 3, b"{}");
        assert_eq!(
            request(&body),
            Ok(Request {
                edge: 1,
                conn: 2,
                tag: 3,
                message: b"{}"
            })
        );
        assert!(request(&body[..23]).is_err());
        assert_eq!(fill(&put_fill(9, b"x")), Ok((9, &b"x"[..])));
        assert_eq!(heartbeat(&put_heartbeat(4, 5)), Ok((4, 5)));
        assert_eq!(replay_request(&put_replay_request(1, 2, 3)), Ok((1, 2, 3)));
    }
}
