//! Tardis.dev order-book CSV: `incremental_book_L2` (one level per row, snapshots marked by
//! `is_snapshot`) and `book_snapshot_N` (`book_snapshot_25`, `_5`: the top N levels a side per
//! row, `asks[0].price`, `asks[0].amount`, `bids[0].price` ... columns).
//!
//! Rows are timed by `local_timestamp` like the other Tardis files. Incremental rows received
//! together (same symbol and `local_timestamp`) make one book row; a run of `is_snapshot` rows
//! after updates (or at the start) is a whole new book, as Tardis documents for reconnects.

use std::path::{Path, PathBuf};

use protocol::{Decimal, Symbol};

use super::fields::{self, CsvReader, columns, decimal, symbol, text};
use super::row::{BookRow, Place, Row, RowKind, Rows};
use protocol::recording::{MAX_BOOK_DEPTH, RecordingError};

/// Most levels one book row may gather (one snapshot), so a file cannot make it grow unbounded.
pub const MAX_ROW_LEVELS: usize = 1_000_000;

const INCREMENTAL: [&str; 6] = [
    "local_timestamp",
    "symbol",
    "is_snapshot",
    "side",
    "price",
    "amount",
];

/// Whether a header row is an incremental book's or a snapshot book's.
pub fn is_book(headers: &[String]) -> bool {
    headers
        .iter()
        .any(|h| h == "is_snapshot" || h == "asks[0].price")
}

/// Opens either kind; returns the rows and the depth their books hold.
pub fn open(path: &Path) -> Result<(Rows, u32), RecordingError> {
    let (reader, headers) = fields::csv(path)?;
    let fail = |e: String| RecordingError::new(path, Some(1), e);
    if headers.iter().any(|h| h == "is_snapshot") {
        let c = columns(&headers, INCREMENTAL, "Tardis incremental_book_L2").map_err(fail)?;
        let rows = Incremental {
            path: path.to_owned(),
            records: reader,
            columns: c,
            group: None,
            in_snapshot: Vec::new(),
            done: false,
        };
        return Ok((Box::new(rows), MAX_BOOK_DEPTH as u32));
    }
    let [ts, sym] = columns(
        &headers,
        ["local_timestamp", "symbol"],
        "Tardis book_snapshot",
    )
    .map_err(fail)?;
    let mut levels = Vec::new();
    for i in 0.. {
        let named = |what: &str| {
            headers
                .iter()
                .position(|h| *h == format!("{what}[{i}].price"))
        };
        let amount = |what: &str| {
            headers
                .iter()
                .position(|h| *h == format!("{what}[{i}].amount"))
        };
        match (named("asks"), amount("asks"), named("bids"), amount("bids")) {
            (Some(ap), Some(aa), Some(bp), Some(ba)) => levels.push([ap, aa, bp, ba]),
            _ => break,
        }
    }
    if levels.is_empty() || levels.len() > MAX_BOOK_DEPTH {
        return Err(fail(format!(
            "not a Tardis book_snapshot file: it needs asks[0].price, asks[0].amount, bids[0].price and bids[0].amount columns and at most {MAX_BOOK_DEPTH} levels"
        )));
    }
    let depth = u32::try_from(levels.len()).unwrap_or(1);
    let rows = fields::rows(path, reader, move |r, place| {
        let mut book = BookRow {
            replace: true,
            ..BookRow::default()
        };
        for [ap, aa, bp, ba] in &levels {
            // A book thinner than N levels leaves the rest of its columns empty.
            if let Some(level) = level(r, *ap, *aa)? {
                book.asks.push(level);
            }
            if let Some(level) = level(r, *bp, *ba)? {
                book.bids.push(level);
            }
        }
        Ok(Some(Row {
            place,
            ts_ns: time(r, ts)?,
            symbol: symbol(r, sym)?,
            kind: RowKind::Book(Box::new(book)),
        }))
    });
    Ok((rows, depth))
}

fn level(
    r: &csv::StringRecord,
    price: usize,
    amount: usize,
) -> Result<Option<(Decimal, Decimal)>, String> {
    if text(r, price, "price")?.is_empty() {
        return Ok(None);
    }
    Ok(Some((
        decimal(r, price, "price")?,
        decimal(r, amount, "amount")?,
    )))
}

fn time(r: &csv::StringRecord, i: usize) -> Result<u64, String> {
    fields::integer_time(text(r, i, "local_timestamp")?, 1_000, "local_timestamp")
}

/// `incremental_book_L2` rows gathered into book rows.
struct Incremental {
    path: PathBuf,
    records: CsvReader,
    columns: [usize; 6],
    /// The book row being gathered, with its key (symbol, time, snapshot).
    group: Option<(Symbol, u64, Row)>,
    /// Symbols whose last row was a snapshot row: another snapshot row continues it.
    in_snapshot: Vec<Symbol>,
    done: bool,
}

impl Incremental {
    /// Reads one CSV row into the group; returns a finished group when this row starts another.
    fn read(&mut self, record: &csv::StringRecord) -> Result<Option<Row>, String> {
        let c = self.columns;
        let ts_ns = time(record, c[0])?;
        let symbol = symbol(record, c[1])?;
        let snapshot = match text(record, c[2], "is_snapshot")? {
            "true" | "True" | "TRUE" => true,
            "false" | "False" | "FALSE" => false,
            other => return Err(format!("`is_snapshot` is `{other}`, not true or false")),
        };
        let bid = match text(record, c[3], "side")? {
            "bid" | "buy" => true,
            "ask" | "sell" => false,
            other => return Err(format!("`side` is `{other}`, not bid or ask")),
        };
        let price = decimal(record, c[4], "price")?;
        let amount = decimal(record, c[5], "amount")?;
        if price <= Decimal::ZERO {
            return Err(format!("price {price} must be positive"));
        }
        if amount < Decimal::ZERO {
            return Err(format!("amount {amount} must not be negative"));
        }
        let was_snapshot = self.in_snapshot.contains(&symbol);
        // A snapshot row continues the symbol's snapshot, or starts a new whole book.
        let starts_book = snapshot && !was_snapshot;
        if snapshot && !was_snapshot {
            self.in_snapshot.push(symbol.clone());
        } else if !snapshot && was_snapshot {
            self.in_snapshot.retain(|s| *s != symbol);
        }
        let joins = match &self.group {
            Some((s, t, row)) => {
                let RowKind::Book(book) = &row.kind else {
                    return Err("internal: a group that is not a book".to_owned());
                };
                // Rows received together, or the rest of the symbol's snapshot.
                *s == symbol && !starts_book && (*t == ts_ns || (snapshot && book.replace))
            }
            None => false,
        };
        let finished = if joins {
            None
        } else {
            self.group.take().map(|(_, _, row)| row)
        };
        let place = Place::Line(record.position().map_or(0, csv::Position::line));
        let (_, _, row) = self.group.get_or_insert_with(|| {
            (
                symbol.clone(),
                ts_ns,
                Row {
                    place,
                    ts_ns,
                    symbol,
                    kind: RowKind::Book(Box::new(BookRow {
                        // The rest of a snapshot split by other symbols' rows adds to it.
                        replace: starts_book,
                        ..BookRow::default()
                    })),
                },
            )
        });
        if let RowKind::Book(book) = &mut row.kind {
            if book.bids.len() + book.asks.len() >= MAX_ROW_LEVELS {
                return Err(format!(
                    "more than {MAX_ROW_LEVELS} levels received at one time"
                ));
            }
            if bid {
                book.bids.push((price, amount));
            } else {
                book.asks.push((price, amount));
            }
        }
        Ok(finished)
    }
}

impl Iterator for Incremental {
    type Item = Result<Option<Row>, RecordingError>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut record = csv::StringRecord::new();
        while !self.done {
            match self.records.read_record(&mut record) {
                Ok(true) => {}
                Ok(false) => {
                    self.done = true;
                    break;
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(fields::csv_error(&self.path, &e)));
                }
            }
            let line = record.position().map_or(0, csv::Position::line);
            match self.read(&record) {
                Ok(Some(row)) => return Some(Ok(Some(row))),
                Ok(None) => {}
                Err(why) => {
                    self.done = true;
                    return Some(Err(Place::Line(line).error(&self.path, why)));
                }
            }
        }
        self.group.take().map(|(_, _, row)| Ok(Some(row)))
    }
}
