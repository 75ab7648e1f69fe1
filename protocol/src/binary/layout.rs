//! Each message's layout, written and read side by side, in the order PROTOCOL.md lists them.
//!
//! Server messages name symbols strictly (an id outside `hello`'s list is an error); client
//! messages leniently (an unknown id becomes `#ID`, which the server reports as an unknown
//! symbol like any other name).

use rust_decimal::Decimal;

use super::cursor::{In, Out};
use super::{ALL_IDS, Kind, SymbolIds, UnknownSymbol};
use crate::error::DecodeError;
use crate::types::{
    ALL_SYMBOLS, Ack, Auth, Authorized, Book, Cancel, Canceled, Channel, ErrorCode, ErrorReply,
    Fill, Hello, Level, Order, Ping, Pong, Quote, Reject, RejectCode, Resume, Resumed, ServerInfo,
    Side, Snapshot, SourceInfo, Status, Subscribe, Symbol, Trade, Unsubscribe,
};

/// One message type's bytes after the 3-byte header.
pub(super) trait Layout: Sized {
    /// Appends the message, header included, naming symbols by their ids in `ids`.
    fn put(&self, frame: &mut Vec<u8>, ids: &SymbolIds) -> Result<(), UnknownSymbol>;
    /// Reads the fields of a message of type `kind`, naming symbol ids from `symbols`.
    fn get(r: &mut In<'_>, kind: Kind, symbols: &[Symbol]) -> Result<Self, DecodeError>;
}

fn id_of(ids: &SymbolIds, symbol: &Symbol) -> Result<u32, UnknownSymbol> {
    ids.get(symbol).ok_or_else(|| UnknownSymbol(symbol.clone()))
}

/// A symbol id in a server message: it must be in `hello`'s list.
fn symbol_of(r: &In<'_>, symbols: &[Symbol], id: u32) -> Result<Symbol, DecodeError> {
    usize::try_from(id)
        .ok()
        .and_then(|i| symbols.get(i))
        .cloned()
        .ok_or_else(|| r.fail(format!("symbol id {id} is not in hello's list")))
}

/// A symbol id in a client message: `*` for [`ALL_IDS`], `#ID` for one the server does not have.
fn name_of(symbols: &[Symbol], id: u32) -> Symbol {
    if id == ALL_IDS {
        return ALL_SYMBOLS.into();
    }
    usize::try_from(id)
        .ok()
        .and_then(|i| symbols.get(i))
        .cloned()
        .unwrap_or_else(|| format!("#{id}").into())
}

/// Symbol names, each a u16-length string, after a u32 count.
fn put_names(out: &mut Out<'_>, names: &[Symbol]) {
    out.count(names.len());
    for s in names {
        out.str(s);
    }
}

fn get_names(r: &mut In<'_>) -> Result<Vec<Symbol>, DecodeError> {
    // Each name takes at least its 2-byte length.
    let count = r.count(2)?;
    let mut names = Vec::with_capacity(count);
    for _ in 0..count {
        names.push(Symbol::from(r.str()?));
    }
    Ok(names)
}

/// A code's byte on the wire, by a table of `(code, byte)`; codes without one are 0.
fn code_byte<C: Copy + PartialEq>(table: &[(C, u8)], code: C) -> u8 {
    table
        .iter()
        .find(|(c, _)| *c == code)
        .map_or(0, |&(_, b)| b)
}

/// A byte's code, by the same table; bytes without one are `other`.
fn byte_code<C: Copy>(table: &[(C, u8)], byte: u8, other: C) -> C {
    table
        .iter()
        .find(|(_, b)| *b == byte)
        .map_or(other, |&(c, _)| c)
}

/// `reject.code` on the wire; `other` is 0.
const REJECT_CODES: [(RejectCode, u8); 11] = [
    (RejectCode::UnknownSymbol, 1),
    (RejectCode::BadQuantity, 2),
    (RejectCode::BadPrice, 3),
    (RejectCode::DuplicateId, 4),
    (RejectCode::TooManyOpenOrders, 5),
    (RejectCode::RateLimited, 6),
    (RejectCode::UnknownOrder, 7),
    (RejectCode::NoLiquidity, 8),
    (RejectCode::BadId, 9),
    (RejectCode::Unauthorized, 10),
    (RejectCode::Unavailable, 11),
];

/// `error.code` on the wire; `other` is 0.
const ERROR_CODES: [(ErrorCode, u8); 8] = [
    (ErrorCode::BadRequest, 1),
    (ErrorCode::UnknownType, 2),
    (ErrorCode::UnknownSymbol, 3),
    (ErrorCode::UnsupportedFrame, 4),
    (ErrorCode::RateLimited, 5),
    (ErrorCode::BadToken, 6),
    (ErrorCode::BadChannel, 7),
    (ErrorCode::BadDepth, 8),
];

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

// ---- server to client ------------------------------------------------------------------------

impl Layout for Hello {
    fn put(&self, frame: &mut Vec<u8>, _: &SymbolIds) -> Result<(), UnknownSymbol> {
        let mut out = Out::begin(frame, Kind::Hello);
        out.str(&self.protocol)
            .str(&self.server.name)
            .str(&self.server.version)
            .u64(self.heartbeat_ms)
            .u64(self.ts_ns)
            .bool(self.auth_required);
        let source = self
            .source
            .as_ref()
            .and_then(|s| serde_json::to_string(s).ok())
            .unwrap_or_default();
        out.str(&source).str(self.epoch.as_deref().unwrap_or(""));
        // Symbols go last; a list too long for a u16 length makes the length 0 (to the end of
        // the frame), and a hello is always alone in its frame.
        put_names(&mut out, &self.symbols);
        out.finish();
        Ok(())
    }

    fn get(r: &mut In<'_>, _: Kind, _: &[Symbol]) -> Result<Self, DecodeError> {
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
        let epoch = Some(r.str()?).filter(|e| !e.is_empty()).map(str::to_owned);
        Ok(Self {
            protocol,
            server: ServerInfo { name, version },
            symbols: get_names(r)?,
            heartbeat_ms,
            ts_ns,
            source,
            auth_required,
            epoch,
        })
    }
}

/// The fields every market-data message (a snapshot, a quote or a trade, in either form)
/// starts with, at fixed offsets after the header: the symbol's id, `seq` and `ts_ns`. Readers
/// that want only these (the bench) read them with [`EventHead::of`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventHead {
    pub symbol: u32,
    pub seq: u64,
    pub ts_ns: u64,
}

impl EventHead {
    fn begin(self, frame: &mut Vec<u8>, kind: Kind) -> Out<'_> {
        let mut out = Out::begin(frame, kind);
        out.u32(self.symbol).u64(self.seq).u64(self.ts_ns);
        out
    }

    fn get(r: &mut In<'_>) -> Result<Self, DecodeError> {
        Ok(Self {
            symbol: r.u32()?,
            seq: r.u64()?,
            ts_ns: r.u64()?,
        })
    }

    /// The head of one message as [`super::messages`] yields it (header included), or `None`
    /// for a message that is not market data.
    pub fn of(message: &[u8]) -> Result<Option<Self>, DecodeError> {
        let Some(kind) = message
            .first()
            .and_then(|&b| Kind::try_from(b).ok())
            .filter(|k| k.is_market_data())
        else {
            return Ok(None);
        };
        Self::get(&mut In::new(message, kind)).map(Some)
    }
}

impl Layout for Snapshot {
    fn put(&self, frame: &mut Vec<u8>, ids: &SymbolIds) -> Result<(), UnknownSymbol> {
        let head = EventHead {
            symbol: id_of(ids, &self.symbol)?,
            seq: self.seq,
            ts_ns: self.ts_ns,
        };
        let mut out = head.begin(frame, Kind::Snapshot);
        for d in [
            self.bid,
            self.bid_size,
            self.ask,
            self.ask_size,
            self.last,
            self.last_size,
            self.volume,
            self.open,
            self.high,
            self.low,
            self.prev_close,
            self.tick_size,
        ] {
            out.dec(d);
        }
        out.finish();
        Ok(())
    }

    fn get(r: &mut In<'_>, _: Kind, symbols: &[Symbol]) -> Result<Self, DecodeError> {
        let head = EventHead::get(r)?;
        let symbol = symbol_of(r, symbols, head.symbol)?;
        let mut d = [Decimal::ZERO; 12];
        for slot in &mut d {
            *slot = r.dec()?;
        }
        Ok(Self {
            symbol,
            seq: head.seq,
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
            ts_ns: head.ts_ns,
        })
    }
}

/// A live venue's optional fields of a quote or trade, after its fixed fields: a `u8` of flags
/// (1: `exch_ts_ns`, 2: `trade_id`, 4: `aggressor`), then each flagged field in that order
/// (`u64`, `u64`, `u8` 1 buy / 2 sell). Absent altogether when none is set, so the compact
/// forms keep their sizes.
#[derive(Debug, Default)]
struct Extras {
    exch_ts_ns: Option<u64>,
    trade_id: Option<u64>,
    aggressor: Option<Side>,
}

const HAS_EXCH_TS: u8 = 1;
const HAS_TRADE_ID: u8 = 2;
const HAS_AGGRESSOR: u8 = 4;

fn put_extras(
    out: &mut Out<'_>,
    exch_ts_ns: Option<u64>,
    trade_id: Option<u64>,
    aggressor: Option<Side>,
) {
    let mut flags = 0;
    for (set, bit) in [
        (exch_ts_ns.is_some(), HAS_EXCH_TS),
        (trade_id.is_some(), HAS_TRADE_ID),
        (aggressor.is_some(), HAS_AGGRESSOR),
    ] {
        if set {
            flags |= bit;
        }
    }
    if flags == 0 {
        return;
    }
    out.u8(flags);
    if let Some(ts) = exch_ts_ns {
        out.u64(ts);
    }
    if let Some(id) = trade_id {
        out.u64(id);
    }
    if let Some(side) = aggressor {
        out.u8(match side {
            Side::Buy => 1,
            Side::Sell => 2,
        });
    }
}

impl Extras {
    fn get(r: &mut In<'_>) -> Result<Self, DecodeError> {
        if r.at_end() {
            return Ok(Self::default());
        }
        let flags = r.u8()?;
        let mut extras = Self::default();
        if flags & HAS_EXCH_TS != 0 {
            extras.exch_ts_ns = Some(r.u64()?);
        }
        if flags & HAS_TRADE_ID != 0 {
            extras.trade_id = Some(r.u64()?);
        }
        if flags & HAS_AGGRESSOR != 0 {
            extras.aggressor = Some(match r.u8()? {
                1 => Side::Buy,
                2 => Side::Sell,
                other => return Err(r.fail(format!("aggressor {other} is neither 1 nor 2"))),
            });
        }
        Ok(extras)
    }
}

/// Compact (0x03): a price scale and a size scale, then bid, bid size, ask, ask size as i32
/// mantissas. Wide (0x04): the four as `dec`s.
impl Layout for Quote {
    fn put(&self, frame: &mut Vec<u8>, ids: &SymbolIds) -> Result<(), UnknownSymbol> {
        let head = EventHead {
            symbol: id_of(ids, &self.symbol)?,
            seq: self.seq,
            ts_ns: self.ts_ns,
        };
        let prices = compact(self.bid, self.ask);
        let sizes = compact(self.bid_size, self.ask_size);
        if let (Some((ps, bid, ask)), Some((ss, bid_size, ask_size))) = (prices, sizes) {
            let mut out = head.begin(frame, Kind::Quote);
            out.u8(ps)
                .u8(ss)
                .i32(bid)
                .i32(bid_size)
                .i32(ask)
                .i32(ask_size);
            put_extras(&mut out, self.exch_ts_ns, None, None);
            out.finish();
        } else {
            let mut out = head.begin(frame, Kind::QuoteWide);
            out.dec(self.bid)
                .dec(self.bid_size)
                .dec(self.ask)
                .dec(self.ask_size);
            put_extras(&mut out, self.exch_ts_ns, None, None);
            out.finish();
        }
        Ok(())
    }

    fn get(r: &mut In<'_>, kind: Kind, symbols: &[Symbol]) -> Result<Self, DecodeError> {
        let head = EventHead::get(r)?;
        let symbol = symbol_of(r, symbols, head.symbol)?;
        let [bid, bid_size, ask, ask_size] = if kind == Kind::Quote {
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
        let extras = Extras::get(r)?;
        Ok(Self {
            symbol,
            seq: head.seq,
            bid,
            bid_size,
            ask,
            ask_size,
            ts_ns: head.ts_ns,
            exch_ts_ns: extras.exch_ts_ns,
        })
    }
}

/// Compact (0x05): a price scale and a size scale, then price and size as i32 mantissas. Wide
/// (0x06): the two as `dec`s.
impl Layout for Trade {
    fn put(&self, frame: &mut Vec<u8>, ids: &SymbolIds) -> Result<(), UnknownSymbol> {
        let head = EventHead {
            symbol: id_of(ids, &self.symbol)?,
            seq: self.seq,
            ts_ns: self.ts_ns,
        };
        let price = compact(self.price, self.price);
        let size = compact(self.size, self.size);
        if let (Some((ps, price, _)), Some((ss, size, _))) = (price, size) {
            let mut out = head.begin(frame, Kind::Trade);
            out.u8(ps).u8(ss).i32(price).i32(size);
            put_extras(&mut out, self.exch_ts_ns, self.trade_id, self.aggressor);
            out.finish();
        } else {
            let mut out = head.begin(frame, Kind::TradeWide);
            out.dec(self.price).dec(self.size);
            put_extras(&mut out, self.exch_ts_ns, self.trade_id, self.aggressor);
            out.finish();
        }
        Ok(())
    }

    fn get(r: &mut In<'_>, kind: Kind, symbols: &[Symbol]) -> Result<Self, DecodeError> {
        let head = EventHead::get(r)?;
        let symbol = symbol_of(r, symbols, head.symbol)?;
        let [price, size] = if kind == Kind::Trade {
            let (ps, ss) = (r.u8()?, r.u8()?);
            let (p, s) = (r.i32()?, r.i32()?);
            [r.scaled(p, ps)?, r.scaled(s, ss)?]
        } else {
            [r.dec()?, r.dec()?]
        };
        let extras = Extras::get(r)?;
        Ok(Self {
            symbol,
            seq: head.seq,
            price,
            size,
            ts_ns: head.ts_ns,
            exch_ts_ns: extras.exch_ts_ns,
            trade_id: extras.trade_id,
            aggressor: extras.aggressor,
        })
    }
}

impl Layout for Ack {
    fn put(&self, frame: &mut Vec<u8>, _: &SymbolIds) -> Result<(), UnknownSymbol> {
        let mut out = Out::begin(frame, Kind::Ack);
        out.str(&self.id)
            .str(&self.order_id)
            .opt_u64(self.sent_ns)
            .u64(self.ts_ns);
        out.finish();
        Ok(())
    }

    fn get(r: &mut In<'_>, _: Kind, _: &[Symbol]) -> Result<Self, DecodeError> {
        Ok(Self {
            id: r.str()?.into(),
            order_id: r.str()?.to_owned(),
            sent_ns: r.opt_u64()?,
            ts_ns: r.u64()?,
        })
    }
}

impl Layout for Reject {
    fn put(&self, frame: &mut Vec<u8>, _: &SymbolIds) -> Result<(), UnknownSymbol> {
        let mut out = Out::begin(frame, Kind::Reject);
        out.str(&self.id)
            .u8(code_byte(&REJECT_CODES, self.code))
            .str(&self.reason)
            .opt_u64(self.sent_ns)
            .u64(self.ts_ns);
        out.finish();
        Ok(())
    }

    fn get(r: &mut In<'_>, _: Kind, _: &[Symbol]) -> Result<Self, DecodeError> {
        Ok(Self {
            id: r.str()?.into(),
            code: byte_code(&REJECT_CODES, r.u8()?, RejectCode::Other),
            reason: r.str()?.to_owned(),
            sent_ns: r.opt_u64()?,
            ts_ns: r.u64()?,
        })
    }
}

impl Layout for Fill {
    fn put(&self, frame: &mut Vec<u8>, _: &SymbolIds) -> Result<(), UnknownSymbol> {
        let mut out = Out::begin(frame, Kind::Fill);
        out.str(&self.id)
            .str(&self.order_id)
            .dec(self.price)
            .dec(self.qty)
            .dec(self.leaves)
            .u64(self.ts_ns);
        out.finish();
        Ok(())
    }

    fn get(r: &mut In<'_>, _: Kind, _: &[Symbol]) -> Result<Self, DecodeError> {
        Ok(Self {
            id: r.str()?.into(),
            order_id: r.str()?.to_owned(),
            price: r.dec()?,
            qty: r.dec()?,
            leaves: r.dec()?,
            ts_ns: r.u64()?,
        })
    }
}

impl Layout for Canceled {
    fn put(&self, frame: &mut Vec<u8>, _: &SymbolIds) -> Result<(), UnknownSymbol> {
        let mut out = Out::begin(frame, Kind::Canceled);
        out.str(&self.id)
            .str(&self.order_id)
            .dec(self.leaves)
            .u64(self.ts_ns);
        if let Some(reason) = &self.reason {
            out.str(reason);
        }
        out.finish();
        Ok(())
    }

    fn get(r: &mut In<'_>, _: Kind, _: &[Symbol]) -> Result<Self, DecodeError> {
        Ok(Self {
            id: r.str()?.into(),
            order_id: r.str()?.to_owned(),
            leaves: r.dec()?,
            ts_ns: r.u64()?,
            reason: if r.left() > 0 {
                Some(r.str()?.to_owned())
            } else {
                None
            },
        })
    }
}

impl Layout for Status {
    fn put(&self, frame: &mut Vec<u8>, ids: &SymbolIds) -> Result<(), UnknownSymbol> {
        let mut out = Out::begin(frame, Kind::Status);
        out.u64(self.ts_ns);
        put_ids(&mut out, ids, &self.stale)?;
        out.finish();
        Ok(())
    }

    fn get(r: &mut In<'_>, _: Kind, symbols: &[Symbol]) -> Result<Self, DecodeError> {
        Ok(Self {
            ts_ns: r.u64()?,
            stale: get_ids(r, symbols)?,
        })
    }
}

impl Layout for Pong {
    fn put(&self, frame: &mut Vec<u8>, _: &SymbolIds) -> Result<(), UnknownSymbol> {
        let mut out = Out::begin(frame, Kind::Pong);
        out.u64(self.sent_ns).u64(self.ts_ns);
        out.finish();
        Ok(())
    }

    fn get(r: &mut In<'_>, _: Kind, _: &[Symbol]) -> Result<Self, DecodeError> {
        Ok(Self {
            sent_ns: r.u64()?,
            ts_ns: r.u64()?,
        })
    }
}

impl Layout for ErrorReply {
    fn put(&self, frame: &mut Vec<u8>, _: &SymbolIds) -> Result<(), UnknownSymbol> {
        let mut out = Out::begin(frame, Kind::Error);
        out.u8(code_byte(&ERROR_CODES, self.code))
            .str(&self.message);
        put_names(&mut out, &self.symbols);
        out.finish();
        Ok(())
    }

    fn get(r: &mut In<'_>, _: Kind, _: &[Symbol]) -> Result<Self, DecodeError> {
        Ok(Self {
            code: byte_code(&ERROR_CODES, r.u8()?, ErrorCode::Other),
            message: r.str()?.to_owned(),
            symbols: get_names(r)?,
        })
    }
}

/// The two lists as ids after their counts: `u64` count, `u32` n, n ids, for each.
impl Layout for Resumed {
    fn put(&self, frame: &mut Vec<u8>, ids: &SymbolIds) -> Result<(), UnknownSymbol> {
        let mut out = Out::begin(frame, Kind::Resumed);
        for (count, list) in [
            (self.recovered_count, &self.recovered),
            (self.snapshot_count, &self.snapshot),
        ] {
            out.u64(count).count(list.len());
            for symbol in list {
                out.u32(id_of(ids, symbol)?);
            }
        }
        out.finish();
        Ok(())
    }

    fn get(r: &mut In<'_>, _: Kind, symbols: &[Symbol]) -> Result<Self, DecodeError> {
        let mut lists = [(0, Vec::new()), (0, Vec::new())];
        for (count, list) in &mut lists {
            *count = r.u64()?;
            let n = r.count(4)?;
            for _ in 0..n {
                let id = r.u32()?;
                list.push(symbol_of(r, symbols, id)?);
            }
        }
        let [(recovered_count, recovered), (snapshot_count, snapshot)] = lists;
        Ok(Self {
            recovered,
            recovered_count,
            snapshot,
            snapshot_count,
        })
    }
}

/// A book's levels in their compact form: one price scale and one size scale, every price and
/// size an i32 mantissa at it. Only when that is the values' own scale, so the text a client
/// writes back (and checksums) is the text the server wrote.
fn compact_levels(levels: &[&[Level]]) -> Option<(u8, u8)> {
    let mut all = levels.iter().flat_map(|side| side.iter());
    let first = all.clone().next();
    let (ps, ss) = first.map_or((0, 0), |l| (l.0.scale(), l.1.scale()));
    let fits = |d: Decimal, scale: u32| d.scale() == scale && i32::try_from(d.mantissa()).is_ok();
    all.all(|l| fits(l.0, ps) && fits(l.1, ss))
        .then(|| Some((u8::try_from(ps).ok()?, u8::try_from(ss).ok()?)))
        .flatten()
}

/// `book` (0x0F) and `book_update` (0x10): the event head, the checksum, a form byte, then
/// the bids and the asks, each a u32 count and its levels. Form 0: a price scale and a size
/// scale, then each level as two i32 mantissas (8 bytes). Form 1: each level as two `dec`s.
pub(super) fn put_book(
    book: &Book,
    kind: Kind,
    frame: &mut Vec<u8>,
    ids: &SymbolIds,
) -> Result<(), UnknownSymbol> {
    let head = EventHead {
        symbol: id_of(ids, &book.symbol)?,
        seq: book.seq,
        ts_ns: book.ts_ns,
    };
    let mut out = head.begin(frame, kind);
    out.u32(book.checksum);
    if let Some((ps, ss)) = compact_levels(&[&book.bids, &book.asks]) {
        out.u8(0).u8(ps).u8(ss);
        for side in [&book.bids, &book.asks] {
            out.count(side.len());
            for level in side {
                // `compact_levels` checked that each mantissa fits.
                let m = |d: Decimal| i32::try_from(d.mantissa()).unwrap_or_default();
                out.i32(m(level.0)).i32(m(level.1));
            }
        }
    } else {
        out.u8(1);
        for side in [&book.bids, &book.asks] {
            out.count(side.len());
            for level in side {
                out.dec(level.0).dec(level.1);
            }
        }
    }
    out.finish();
    Ok(())
}

impl Layout for Book {
    fn put(&self, frame: &mut Vec<u8>, ids: &SymbolIds) -> Result<(), UnknownSymbol> {
        put_book(self, Kind::Book, frame, ids)
    }

    fn get(r: &mut In<'_>, _: Kind, symbols: &[Symbol]) -> Result<Self, DecodeError> {
        let head = EventHead::get(r)?;
        let symbol = symbol_of(r, symbols, head.symbol)?;
        let checksum = r.u32()?;
        let form = r.u8()?;
        let mut sides = [Vec::new(), Vec::new()];
        match form {
            0 => {
                let (ps, ss) = (r.u8()?, r.u8()?);
                for side in &mut sides {
                    let n = r.count(8)?;
                    for _ in 0..n {
                        let (p, s) = (r.i32()?, r.i32()?);
                        side.push(Level(r.scaled(p, ps)?, r.scaled(s, ss)?));
                    }
                }
            }
            1 => {
                for side in &mut sides {
                    // A `dec` is at least 9 bytes.
                    let n = r.count(18)?;
                    for _ in 0..n {
                        side.push(Level(r.dec()?, r.dec()?));
                    }
                }
            }
            other => return Err(r.fail(format!("book form {other} is not 0 or 1"))),
        }
        let [bids, asks] = sides;
        Ok(Self {
            symbol,
            seq: head.seq,
            bids,
            asks,
            checksum,
            ts_ns: head.ts_ns,
        })
    }
}

impl Layout for Authorized {
    fn put(&self, frame: &mut Vec<u8>, _: &SymbolIds) -> Result<(), UnknownSymbol> {
        let mut out = Out::begin(frame, Kind::Authorized);
        out.u64(self.ts_ns);
        out.finish();
        Ok(())
    }

    fn get(r: &mut In<'_>, _: Kind, _: &[Symbol]) -> Result<Self, DecodeError> {
        Ok(Self { ts_ns: r.u64()? })
    }
}

// ---- client to server ------------------------------------------------------------------------

/// Symbol ids after a u32 count; `*` is [`ALL_IDS`].
fn put_ids(out: &mut Out<'_>, ids: &SymbolIds, list: &[Symbol]) -> Result<(), UnknownSymbol> {
    out.count(list.len());
    for s in list {
        let id = if s == ALL_SYMBOLS {
            ALL_IDS
        } else {
            id_of(ids, s)?
        };
        out.u32(id);
    }
    Ok(())
}

fn get_ids(r: &mut In<'_>, symbols: &[Symbol]) -> Result<Vec<Symbol>, DecodeError> {
    let count = r.count(4)?;
    (0..count).map(|_| Ok(name_of(symbols, r.u32()?))).collect()
}

/// Channels as bits: quotes 1, book 2; a channel this build does not know is bit 7, and any
/// bit a reader does not know reads as that.
const CHANNEL_BITS: [(Channel, u8); 3] = [
    (Channel::Quotes, 1),
    (Channel::Book, 2),
    (Channel::Other, 0x80),
];

fn channel_bits(channels: &[Channel]) -> u8 {
    channels
        .iter()
        .fold(0, |bits, &c| bits | code_byte(&CHANNEL_BITS, c))
}

fn bits_channels(bits: u8) -> Vec<Channel> {
    let mut channels: Vec<Channel> = CHANNEL_BITS
        .iter()
        .filter(|&&(c, b)| c != Channel::Other && bits & b != 0)
        .map(|&(c, _)| c)
        .collect();
    if bits & !3 != 0 {
        channels.push(Channel::Other);
    }
    channels
}

/// `(id, seq)` pairs after a u32 count.
fn put_seqs(
    out: &mut Out<'_>,
    ids: &SymbolIds,
    seqs: &std::collections::BTreeMap<Symbol, u64>,
) -> Result<(), UnknownSymbol> {
    out.count(seqs.len());
    for (symbol, &seq) in seqs {
        out.u32(id_of(ids, symbol)?).u64(seq);
    }
    Ok(())
}

fn get_seqs(
    r: &mut In<'_>,
    symbols: &[Symbol],
) -> Result<std::collections::BTreeMap<Symbol, u64>, DecodeError> {
    // Each entry is an id and a seq.
    let count = r.count(12)?;
    let mut seqs = std::collections::BTreeMap::new();
    for _ in 0..count {
        let symbol = name_of(symbols, r.u32()?);
        seqs.insert(symbol, r.u64()?);
    }
    Ok(seqs)
}

/// A subscribe's ids; then, if it resumes or names channels or a depth, the resume block (the
/// epoch and each symbol's last `seq`; an empty epoch with no `seq`s when it does not resume);
/// then, if it names channels, a depth or book `seq`s, the book block: channel bits (0: not
/// named), the depth (0: not named) and each symbol's last book `seq`. A subscribe that names
/// none of these ends after its ids.
impl Layout for Subscribe {
    fn put(&self, frame: &mut Vec<u8>, ids: &SymbolIds) -> Result<(), UnknownSymbol> {
        let mut out = Out::begin(frame, Kind::Subscribe);
        put_ids(&mut out, ids, &self.symbols)?;
        let book_from = self.resume.as_ref().map(|r| &r.book_from);
        let book_block = self.channels.is_some()
            || self.depth.is_some()
            || book_from.is_some_and(|b| !b.is_empty());
        if self.resume.is_some() || book_block {
            let empty = std::collections::BTreeMap::new();
            let (epoch, from) = self
                .resume
                .as_ref()
                .map_or(("", &empty), |r| (r.epoch.as_str(), &r.from));
            out.str(epoch);
            put_seqs(&mut out, ids, from)?;
            if book_block {
                let bits = self.channels.as_deref().map_or(0, channel_bits);
                let depth = self.depth.map_or(0, |d| u8::try_from(d).unwrap_or(u8::MAX));
                out.u8(bits).u8(depth);
                put_seqs(&mut out, ids, book_from.unwrap_or(&empty))?;
            }
        }
        out.finish();
        Ok(())
    }

    fn get(r: &mut In<'_>, _: Kind, symbols: &[Symbol]) -> Result<Self, DecodeError> {
        let list = get_ids(r, symbols)?;
        let mut subscribe = Self::to(list);
        if r.left() == 0 {
            return Ok(subscribe);
        }
        let epoch = r.str()?.to_owned();
        let from = get_seqs(r, symbols)?;
        let mut book_from = std::collections::BTreeMap::new();
        let book_block = r.left() > 0;
        if book_block {
            let (bits, depth) = (r.u8()?, r.u8()?);
            subscribe.channels = (bits != 0).then(|| bits_channels(bits));
            subscribe.depth = (depth != 0).then_some(u32::from(depth));
            book_from = get_seqs(r, symbols)?;
        }
        // With a book block, an empty epoch and no `seq`s stand for no resume.
        if !book_block || !epoch.is_empty() || !from.is_empty() || !book_from.is_empty() {
            subscribe.resume = Some(Resume {
                epoch,
                from,
                book_from,
            });
        }
        Ok(subscribe)
    }
}

/// The ids, then, if it names channels, their bits.
impl Layout for Unsubscribe {
    fn put(&self, frame: &mut Vec<u8>, ids: &SymbolIds) -> Result<(), UnknownSymbol> {
        let mut out = Out::begin(frame, Kind::Unsubscribe);
        put_ids(&mut out, ids, &self.symbols)?;
        if let Some(channels) = &self.channels {
            out.u8(channel_bits(channels));
        }
        out.finish();
        Ok(())
    }

    fn get(r: &mut In<'_>, _: Kind, symbols: &[Symbol]) -> Result<Self, DecodeError> {
        let symbols = get_ids(r, symbols)?;
        let channels = if r.left() > 0 {
            Some(bits_channels(r.u8()?))
        } else {
            None
        };
        Ok(Self { symbols, channels })
    }
}

/// The side as a byte: 0 buy, 1 sell.
const SIDES: [(Side, u8); 2] = [(Side::Buy, 0), (Side::Sell, 1)];

impl Layout for Order {
    fn put(&self, frame: &mut Vec<u8>, ids: &SymbolIds) -> Result<(), UnknownSymbol> {
        let symbol = id_of(ids, &self.symbol)?;
        let mut out = Out::begin(frame, Kind::Order);
        out.str(&self.id)
            .u32(symbol)
            .u8(code_byte(&SIDES, self.side))
            .dec(self.qty)
            .bool(self.price.is_some());
        if let Some(price) = self.price {
            out.dec(price);
        }
        out.opt_u64(self.sent_ns);
        out.finish();
        Ok(())
    }

    fn get(r: &mut In<'_>, _: Kind, symbols: &[Symbol]) -> Result<Self, DecodeError> {
        let id = r.str()?.into();
        let symbol = name_of(symbols, r.u32()?);
        let side = match r.u8()? {
            side @ (0 | 1) => byte_code(&SIDES, side, Side::Buy),
            other => {
                return Err(r.fail(format!("side {other} is neither 0 (buy) nor 1 (sell)")));
            }
        };
        let qty = r.dec()?;
        let price = if r.bool()? { Some(r.dec()?) } else { None };
        Ok(Self {
            id,
            symbol,
            side,
            qty,
            price,
            sent_ns: r.opt_u64()?,
        })
    }
}

impl Layout for Cancel {
    fn put(&self, frame: &mut Vec<u8>, _: &SymbolIds) -> Result<(), UnknownSymbol> {
        let mut out = Out::begin(frame, Kind::Cancel);
        out.str(&self.id).opt_u64(self.sent_ns);
        out.finish();
        Ok(())
    }

    fn get(r: &mut In<'_>, _: Kind, _: &[Symbol]) -> Result<Self, DecodeError> {
        Ok(Self {
            id: r.str()?.into(),
            sent_ns: r.opt_u64()?,
        })
    }
}

impl Layout for Ping {
    fn put(&self, frame: &mut Vec<u8>, _: &SymbolIds) -> Result<(), UnknownSymbol> {
        let mut out = Out::begin(frame, Kind::Ping);
        out.u64(self.sent_ns);
        out.finish();
        Ok(())
    }

    fn get(r: &mut In<'_>, _: Kind, _: &[Symbol]) -> Result<Self, DecodeError> {
        Ok(Self { sent_ns: r.u64()? })
    }
}

impl Layout for Auth {
    fn put(&self, frame: &mut Vec<u8>, _: &SymbolIds) -> Result<(), UnknownSymbol> {
        let mut out = Out::begin(frame, Kind::Auth);
        out.str(&self.token);
        out.finish();
        Ok(())
    }

    fn get(r: &mut In<'_>, _: Kind, _: &[Symbol]) -> Result<Self, DecodeError> {
        Ok(Self {
            token: r.str()?.to_owned(),
        })
    }
}
