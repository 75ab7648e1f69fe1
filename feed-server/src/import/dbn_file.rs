//! Databento DBN files (`.dbn`, `.dbn.zst`), read with the `dbn` crate.
//!
//! Schemas: `mbp-1` and `tbbo` (a quote when the top of the book changes, and a trade for each
//! trade record), `trades`, `bbo-1s`/`bbo-1m` (a quote when the top changes), and the books:
//! `mbp-10` (each record's ten levels a side replace the book) and `mbo` (the book built from
//! every order, `mbo`), with a trade for each trade record; their quotes come from the book. Records are
//! timed by `ts_recv`, the order Databento's files are in. Prices are fixed-point integers in
//! units of 1e-9 and become exact decimals, never floats. Symbols come from the file's symbol
//! mappings; a file without them names instruments by id (`ID1234`), and the import says so.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};

use dbn::decode::{DbnMetadata, DecodeRecordRef, DynDecoder};
use dbn::{
    BboMsg, MboMsg, Mbp1Msg, Mbp10Msg, RecordRef, TradeMsg, TsSymbolMap, UNDEF_PRICE,
    VersionUpgradePolicy,
};
use protocol::{Decimal, Symbol};

use super::mbo::{MboBooks, price_of};
use super::row::{BookRow, Opened, Place, Row, RowKind};
use protocol::recording::RecordingError;

/// The best bid and ask of an instrument: prices in 1e-9 units and sizes.
type Top = (i64, u32, i64, u32);

struct Records {
    path: PathBuf,
    decoder: DynDecoder<'static, std::io::BufReader<std::fs::File>>,
    symbols: TsSymbolMap,
    tops: HashMap<u32, Top>,
    mbo: MboBooks,
    index: u64,
    pending: VecDeque<Option<Row>>,
    done: bool,
    last_ts: u64,
}

pub fn open(path: &Path) -> Result<Opened, RecordingError> {
    let fail =
        |e: dbn::Error| RecordingError::new(path, None, format!("not a readable DBN file: {e}"));
    let decoder = DynDecoder::from_file(path, VersionUpgradePolicy::default()).map_err(fail)?;
    let metadata = decoder.metadata();
    let symbols = metadata.symbol_map().map_err(fail)?;
    let mut notes = Vec::new();
    if symbols.is_empty() {
        notes.push(format!(
            "{}: the file has no symbol mappings; instruments are named by id (ID1234)",
            path.display()
        ));
    }
    if let Some(schema) = metadata.schema {
        use dbn::Schema;
        if !matches!(
            schema,
            Schema::Mbp1
                | Schema::Tbbo
                | Schema::Trades
                | Schema::Bbo1S
                | Schema::Bbo1M
                | Schema::Mbp10
                | Schema::Mbo
        ) {
            return Err(RecordingError::new(
                path,
                None,
                format!(
                    "schema `{schema}` is not supported; use mbp-1, tbbo, trades, bbo-1s, bbo-1m, mbp-10 or mbo"
                ),
            ));
        }
    }
    let book_depth = match metadata.schema {
        Some(dbn::Schema::Mbp10) => Some(10),
        Some(dbn::Schema::Mbo) | None => Some(protocol::recording::MAX_BOOK_DEPTH as u32),
        Some(_) => None,
    };
    let records = Records {
        path: path.to_owned(),
        decoder,
        symbols,
        tops: HashMap::new(),
        mbo: MboBooks::default(),
        index: 0,
        pending: VecDeque::new(),
        done: false,
        last_ts: 0,
    };
    Ok(Opened {
        rows: Box::new(records),
        notes,
        book_depth,
    })
}

impl Iterator for Records {
    type Item = Result<Option<Row>, RecordingError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(row) = self.pending.pop_front() {
            return Some(Ok(row));
        }
        if self.done {
            return None;
        }
        let record = match self.decoder.decode_record_ref() {
            Ok(Some(record)) => record,
            Ok(None) => {
                self.done = true;
                // An MBO file that ends inside an event: what changed still counts.
                for (id, book) in self.mbo.flush() {
                    let symbol = match self.symbols.get_for_ts(self.last_ts, id) {
                        Some(name) => Symbol::from(name.as_str()),
                        None => Symbol::from(format!("ID{id}")),
                    };
                    self.pending.push_back(Some(Row {
                        place: Place::Record(self.index),
                        ts_ns: self.last_ts,
                        symbol,
                        kind: RowKind::Book(Box::new(book)),
                    }));
                }
                return self.pending.pop_front().map(Ok);
            }
            Err(e) => {
                self.done = true;
                return Some(Err(RecordingError::new(
                    &self.path,
                    None,
                    format!("record {}: cannot decode: {e}", self.index + 1),
                )));
            }
        };
        self.index += 1;
        let place = Place::Record(self.index);
        self.last_ts = self.last_ts.max(record.header().ts_event);
        let rows = convert(record, place, &self.symbols, &mut self.tops, &mut self.mbo);
        match rows {
            Ok(rows) => {
                if rows.is_empty() {
                    return Some(Ok(None));
                }
                self.pending.extend(rows.into_iter().map(Some));
                self.pending.pop_front().map(Ok)
            }
            Err(why) => {
                self.done = true;
                Some(Err(place.error(&self.path, why)))
            }
        }
    }
}

fn convert(
    record: RecordRef<'_>,
    place: Place,
    symbols: &TsSymbolMap,
    tops: &mut HashMap<u32, Top>,
    mbo: &mut MboBooks,
) -> Result<Vec<Row>, String> {
    let header = record.header();
    let id = header.instrument_id;
    // Snapshot records keep the time the order was placed, which can be before the symbol
    // mappings' first day: their receive time names the instrument then.
    let ts_recv = record
        .get::<MboMsg>()
        .map(|m| m.ts_recv)
        .or_else(|| record.get::<Mbp10Msg>().map(|m| m.ts_recv))
        .unwrap_or(header.ts_event);
    let symbol = || -> Result<Symbol, String> {
        match symbols
            .get_for_ts(header.ts_event, id)
            .or_else(|| symbols.get_for_ts(ts_recv, id))
        {
            Some(name) => {
                protocol::check_symbol(name)?;
                Ok(Symbol::from(name.as_str()))
            }
            None => Ok(Symbol::from(format!("ID{id}"))),
        }
    };
    let mut rows = Vec::new();
    if let Some(m) = record.get::<Mbp1Msg>() {
        let l = &m.levels[0];
        quote(
            &mut rows,
            place,
            m.ts_recv,
            id,
            (l.bid_px, l.bid_sz, l.ask_px, l.ask_sz),
            tops,
            &symbol,
        )?;
        if m.action as u8 == b'T' {
            trade(&mut rows, place, m.ts_recv, m.price, m.size, &symbol)?;
        }
    } else if let Some(m) = record.get::<Mbp10Msg>() {
        let mut book = BookRow {
            replace: true,
            ..BookRow::default()
        };
        for l in &m.levels {
            if l.bid_px != UNDEF_PRICE && l.bid_px > 0 && l.bid_sz > 0 {
                book.bids
                    .push((price_of(l.bid_px), Decimal::from(l.bid_sz)));
            }
            if l.ask_px != UNDEF_PRICE && l.ask_px > 0 && l.ask_sz > 0 {
                book.asks
                    .push((price_of(l.ask_px), Decimal::from(l.ask_sz)));
            }
        }
        rows.push(Row {
            place,
            ts_ns: m.ts_recv,
            symbol: symbol()?,
            kind: RowKind::Book(Box::new(book)),
        });
        if m.action as u8 == b'T' {
            trade(&mut rows, place, m.ts_recv, m.price, m.size, &symbol)?;
        }
    } else if let Some(m) = record.get::<MboMsg>() {
        if let Some(book) = mbo.apply(m)? {
            rows.push(Row {
                place,
                ts_ns: m.ts_recv,
                symbol: symbol()?,
                kind: RowKind::Book(Box::new(book)),
            });
        }
        if m.action as u8 == b'T' && m.size > 0 && m.price != UNDEF_PRICE {
            trade(&mut rows, place, m.ts_recv, m.price, m.size, &symbol)?;
        }
    } else if let Some(t) = record.get::<TradeMsg>() {
        trade(&mut rows, place, t.ts_recv, t.price, t.size, &symbol)?;
    } else if let Some(b) = record.get::<BboMsg>() {
        let l = &b.levels[0];
        quote(
            &mut rows,
            place,
            b.ts_recv,
            id,
            (l.bid_px, l.bid_sz, l.ask_px, l.ask_sz),
            tops,
            &symbol,
        )?;
    }
    // Anything else (symbol mappings, system messages, definitions) carries no event.
    Ok(rows)
}

fn quote(
    rows: &mut Vec<Row>,
    place: Place,
    ts_ns: u64,
    id: u32,
    top: Top,
    tops: &mut HashMap<u32, Top>,
    symbol: &dyn Fn() -> Result<Symbol, String>,
) -> Result<(), String> {
    let (bid, bid_size, ask, ask_size) = top;
    // A side with no order has no Tickwire quote; an unchanged top is no event.
    if bid == UNDEF_PRICE || ask == UNDEF_PRICE || bid <= 0 || ask <= 0 {
        return Ok(());
    }
    if tops.insert(id, top) == Some(top) {
        return Ok(());
    }
    rows.push(Row {
        place,
        ts_ns,
        symbol: symbol()?,
        kind: RowKind::Quote {
            bid: price(bid),
            bid_size: Decimal::from(bid_size),
            ask: price(ask),
            ask_size: Decimal::from(ask_size),
        },
    });
    Ok(())
}

fn trade(
    rows: &mut Vec<Row>,
    place: Place,
    ts_ns: u64,
    px: i64,
    size: u32,
    symbol: &dyn Fn() -> Result<Symbol, String>,
) -> Result<(), String> {
    if px == UNDEF_PRICE || px <= 0 {
        return Err(format!("trade with no price ({px})"));
    }
    if size == 0 {
        return Err("trade with size 0".to_owned());
    }
    rows.push(Row {
        place,
        ts_ns,
        symbol: symbol()?,
        kind: RowKind::Trade {
            price: price(px),
            size: Decimal::from(size),
        },
    });
    Ok(())
}

fn price(px: i64) -> Decimal {
    price_of(px)
}
