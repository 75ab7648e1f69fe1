//! Tickwire CSV: the simplest way to bring your own ticks (see recordings/README.md).
//!
//! A file holds quotes (`timestamp,symbol,bid,bid_size,ask,ask_size`) or trades
//! (`timestamp,symbol,price,size`), with a header row; columns may come in any order and extra
//! columns are ignored. `timestamp` is nanoseconds since the Unix epoch or RFC 3339
//! (`2026-01-02T14:30:00.000123Z`).

use std::path::Path;

use protocol::Decimal;

use super::fields::{self, columns, decimal, symbol, text};
use super::row::{Row, RowKind, Rows};
use protocol::recording::RecordingError;

const QUOTES: [&str; 6] = ["timestamp", "symbol", "bid", "bid_size", "ask", "ask_size"];
const TRADES: [&str; 4] = ["timestamp", "symbol", "price", "size"];

pub fn open(path: &Path) -> Result<Rows, RecordingError> {
    let (reader, headers) = fields::csv(path)?;
    let fail = |e: String| RecordingError::new(path, Some(1), e);
    if headers.iter().any(|h| h == "bid") {
        let c = columns(&headers, QUOTES, "Tickwire quotes").map_err(fail)?;
        Ok(fields::rows(path, reader, move |r, place| {
            Ok(Some(Row {
                place,
                ts_ns: timestamp(text(r, c[0], "timestamp")?)?,
                symbol: symbol(r, c[1])?,
                kind: RowKind::Quote {
                    bid: decimal(r, c[2], "bid")?,
                    bid_size: decimal(r, c[3], "bid_size")?,
                    ask: decimal(r, c[4], "ask")?,
                    ask_size: decimal(r, c[5], "ask_size")?,
                },
            }))
        }))
    } else {
        let c = columns(&headers, TRADES, "Tickwire trades (or quotes)").map_err(fail)?;
        Ok(fields::rows(path, reader, move |r, place| {
            let size = decimal(r, c[3], "size")?;
            if size <= Decimal::ZERO {
                return Err(format!("trade size {size} must be positive"));
            }
            Ok(Some(Row {
                place,
                ts_ns: timestamp(text(r, c[0], "timestamp")?)?,
                symbol: symbol(r, c[1])?,
                kind: RowKind::Trade {
                    price: decimal(r, c[2], "price")?,
                    size,
                },
            }))
        }))
    }
}

/// Nanoseconds since the epoch, or RFC 3339.
fn timestamp(t: &str) -> Result<u64, String> {
    if t.bytes().all(|b| b.is_ascii_digit()) && !t.is_empty() {
        return fields::integer_time(t, 1, "timestamp");
    }
    let time = humantime::parse_rfc3339_weak(t).map_err(|e| {
        format!("`timestamp` `{t}` is neither nanoseconds since the epoch nor RFC 3339 ({e})")
    })?;
    time.duration_since(std::time::UNIX_EPOCH)
        .ok()
        .and_then(|d| u64::try_from(d.as_nanos()).ok())
        .ok_or_else(|| format!("`timestamp` `{t}` is before 1970"))
}
