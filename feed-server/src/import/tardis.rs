//! Tardis.dev CSV, the format most crypto tick data is sold in: `quotes` and `trades` files,
//! plain or `.csv.gz`.
//!
//! Rows are timed by `local_timestamp` (microseconds since the epoch), when Tardis received them:
//! the files are ordered by it, while exchange `timestamp`s can run backwards from row to row. A
//! quote with one side empty (no order on that side) has no Tickwire equivalent and is skipped.

use std::path::Path;

use protocol::Decimal;

use super::fields::{self, columns, decimal, symbol, text};
use super::row::{Row, RowKind, Rows};
use protocol::recording::RecordingError;

const QUOTES: [&str; 6] = [
    "local_timestamp",
    "symbol",
    "ask_amount",
    "ask_price",
    "bid_price",
    "bid_amount",
];
const TRADES: [&str; 4] = ["local_timestamp", "symbol", "price", "amount"];

pub fn open(path: &Path) -> Result<Rows, RecordingError> {
    let (reader, headers) = fields::csv(path)?;
    let fail = |e: String| RecordingError::new(path, Some(1), e);
    if headers.iter().any(|h| h == "bid_price") {
        let c = columns(&headers, QUOTES, "Tardis quotes").map_err(fail)?;
        Ok(fields::rows(path, reader, move |r, place| {
            let ts_ns = time(r, c[0])?;
            let symbol = symbol(r, c[1])?;
            let empty = |i: usize| r.get(i).is_none_or(|f| f.trim().is_empty());
            if empty(c[3]) || empty(c[4]) {
                return Ok(None);
            }
            Ok(Some(Row {
                place,
                ts_ns,
                symbol,
                kind: RowKind::Quote {
                    bid: decimal(r, c[4], "bid_price")?,
                    bid_size: decimal(r, c[5], "bid_amount")?,
                    ask: decimal(r, c[3], "ask_price")?,
                    ask_size: decimal(r, c[2], "ask_amount")?,
                },
            }))
        }))
    } else {
        let c = columns(&headers, TRADES, "Tardis trades (or quotes)").map_err(fail)?;
        Ok(fields::rows(path, reader, move |r, place| {
            let size = decimal(r, c[3], "amount")?;
            if size <= Decimal::ZERO {
                return Err(format!("trade amount {size} must be positive"));
            }
            Ok(Some(Row {
                place,
                ts_ns: time(r, c[0])?,
                symbol: symbol(r, c[1])?,
                kind: RowKind::Trade {
                    price: decimal(r, c[2], "price")?,
                    size,
                },
            }))
        }))
    }
}

fn time(r: &csv::StringRecord, i: usize) -> Result<u64, String> {
    fields::integer_time(text(r, i, "local_timestamp")?, 1_000, "local_timestamp")
}
