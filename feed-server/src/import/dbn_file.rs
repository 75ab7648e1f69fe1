//! Databento DBN files (`.dbn`, `.dbn.zst`), read with the `dbn` crate.
//!
//! Schemas: `mbp-1` and `tbbo` (a quote when the top of the book changes, and a trade for each
//! trade record), `trades`, and `bbo-1s`/`bbo-1m` (a quote when the top changes). Records are
//! timed by `ts_recv`, the order Databento's files are in. Prices are fixed-point integers in
//! units of 1e-9 and become exact decimals, never floats. Symbols come from the file's symbol
//! mappings; a file without them names instruments by id (`ID1234`), and the import says so.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};

use dbn::decode::{DbnMetadata, DecodeRecordRef, DynDecoder};
use dbn::{BboMsg, Mbp1Msg, RecordRef, TradeMsg, TsSymbolMap, UNDEF_PRICE, VersionUpgradePolicy};
use protocol::{Decimal, Symbol};

use super::row::{Opened, Place, Row, RowKind};
use protocol::recording::RecordingError;

/// The best bid and ask of an instrument: prices in 1e-9 units and sizes.
type Top = (i64, u32, i64, u32);

struct Records {
    path: PathBuf,
    decoder: DynDecoder<'static, std::io::BufReader<std::fs::File>>,
    symbols: TsSymbolMap,
    tops: HashMap<u32, Top>,
    index: u64,
    pending: VecDeque<Option<Row>>,
    done: bool,
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
            Schema::Mbp1 | Schema::Tbbo | Schema::Trades | Schema::Bbo1S | Schema::Bbo1M
        ) {
            return Err(RecordingError::new(
                path,
                None,
                format!(
                    "schema `{schema}` is not supported; use mbp-1, tbbo, trades, bbo-1s or bbo-1m"
                ),
            ));
        }
    }
    let records = Records {
        path: path.to_owned(),
        decoder,
        symbols,
        tops: HashMap::new(),
        index: 0,
        pending: VecDeque::new(),
        done: false,
    };
    Ok(Opened {
        rows: Box::new(records),
        notes,
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
                return None;
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
        let rows = convert(record, place, &self.symbols, &mut self.tops);
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
) -> Result<Vec<Row>, String> {
    let header = record.header();
    let id = header.instrument_id;
    let symbol = || -> Result<Symbol, String> {
        match symbols.get_for_ts(header.ts_event, id) {
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

/// A DBN fixed-point price (units of 1e-9) as an exact decimal.
fn price(px: i64) -> Decimal {
    Decimal::new(px, 9).normalize()
}
