//! `feed-server import`: tick data people already own, turned into a recording.
//!
//! Inputs are Tickwire CSV (`tickwire_csv`), Tardis.dev CSV (`tardis`, and its books in
//! `tardis_book`) or Databento DBN (`dbn_file`, MBO books built in `mbo`). Book rows become
//! version-2 book lines (`books`), and the quotes of a symbol that no input gives quotes for
//! come from its book's top. Two passes over them: the first checks every row and learns each symbol's price
//! and size grids (the finest decimal place its values use) and first price, which the header
//! needs before any event; the second merges the inputs by time and writes. Any bad row stops the
//! import with `FILE:LINE: what is wrong`, and no output file is left behind.

mod books;
mod dbn_file;
mod fields;
mod mbo;
mod row;
mod tardis;
mod tardis_book;
mod tickwire_csv;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use protocol::{Decimal, Quote, ServerMessage, Symbol, Trade};

use crate::generate::io_error;
use protocol::recording::{Header, RecordingError, SymbolInfo, Writer, in_units};
use row::{Opened, Row, RowKind, Rows};

/// The arguments of `feed-server import`.
#[derive(Debug, Clone, Args)]
pub struct ImportArgs {
    /// Input files, merged by time: Tickwire CSV, Tardis.dev CSV (`.csv` or `.csv.gz`) or
    /// Databento DBN (`.dbn`, `.dbn.zst`).
    #[arg(required = true, value_name = "INPUT")]
    pub inputs: Vec<PathBuf>,

    /// Output recording: `.jsonl`, or `.jsonl.zst` for zstd.
    #[arg(long)]
    pub out: PathBuf,

    /// Input format; `auto` goes by the file name (`.dbn`) and the CSV header row.
    #[arg(long, value_enum, default_value_t = Format::Auto)]
    pub format: Format,
}

/// What an input file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Auto,
    /// Tickwire CSV (see recordings/README.md).
    Csv,
    /// Tardis.dev `quotes`, `trades`, `incremental_book_L2` or `book_snapshot_N` CSV.
    Tardis,
    /// Databento DBN: `mbp-1`, `tbbo`, `trades`, `bbo-1s`, `bbo-1m`, `mbp-10`, `mbo`.
    Dbn,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Imported {
    /// Rows or records read, over all inputs.
    pub rows: u64,
    /// Events written.
    pub events: u64,
    /// Rows that carry no event Tickwire can replay (a one-sided quote, a book record with no
    /// change at the top), counted, not errors.
    pub skipped: u64,
    /// Rows whose time is before the previous row's of the same input (written in file order).
    pub out_of_order: u64,
    pub symbols: usize,
    pub bytes: u64,
    /// Things the user should know, such as symbols named by instrument id.
    pub notes: Vec<String>,
}

fn open(path: &Path, format: Format) -> Result<Opened, RecordingError> {
    let format = match format {
        Format::Auto => detect(path)?,
        chosen => chosen,
    };
    match format {
        Format::Dbn => dbn_file::open(path),
        Format::Tardis => {
            let (_, headers) = fields::csv(path)?;
            if tardis_book::is_book(&headers) {
                let (rows, depth) = tardis_book::open(path)?;
                Ok(Opened {
                    rows,
                    notes: Vec::new(),
                    book_depth: Some(depth),
                })
            } else {
                Ok(Opened {
                    rows: tardis::open(path)?,
                    notes: Vec::new(),
                    book_depth: None,
                })
            }
        }
        Format::Csv | Format::Auto => Ok(Opened {
            rows: tickwire_csv::open(path)?,
            notes: Vec::new(),
            book_depth: None,
        }),
    }
}

fn detect(path: &Path) -> Result<Format, RecordingError> {
    // Lower-cased first, so `.DBN` counts too.
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let dbn = [".dbn", ".dbn.zst"]
        .iter()
        .any(|ext| name.len() > ext.len() && name.get(name.len() - ext.len()..) == Some(*ext));
    if dbn {
        return Ok(Format::Dbn);
    }
    let header = fields::first_line(path)?;
    if header.starts_with("exchange,symbol,timestamp,local_timestamp,") {
        Ok(Format::Tardis)
    } else {
        Ok(Format::Csv)
    }
}

/// What the first pass learns about a symbol.
#[derive(Debug, Default)]
struct Grids {
    price_scale: u32,
    size_scale: u32,
    first_price: Option<Decimal>,
    /// An input gives the symbol's quotes; otherwise its book's top makes them.
    quoted: bool,
    /// An input gives the symbol's book.
    booked: bool,
}

/// The finest decimal place a recording grid may have.
const MAX_SCALE: u32 = 12;

impl Grids {
    fn learn(&mut self, kind: &RowKind) -> Result<(), String> {
        let (prices, sizes): (Vec<Decimal>, Vec<Decimal>) = match kind {
            RowKind::Quote {
                bid,
                bid_size,
                ask,
                ask_size,
            } => {
                self.quoted = true;
                (vec![*bid, *ask], vec![*bid_size, *ask_size])
            }
            RowKind::Trade { price, size } => (vec![*price], vec![*size]),
            RowKind::Book(book) => {
                self.booked = true;
                book.bids.iter().chain(&book.asks).copied().unzip()
            }
        };
        for &p in &prices {
            if p <= Decimal::ZERO {
                return Err(format!("price {p} must be positive"));
            }
            self.price_scale = self.price_scale.max(p.normalize().scale());
        }
        for s in sizes {
            if s < Decimal::ZERO {
                return Err(format!("size {s} must not be negative"));
            }
            self.size_scale = self.size_scale.max(s.normalize().scale());
        }
        if self.price_scale > MAX_SCALE || self.size_scale > MAX_SCALE {
            return Err(format!("more than {MAX_SCALE} decimal places"));
        }
        if self.first_price.is_none() {
            self.first_price = prices.first().copied();
        }
        Ok(())
    }

    fn info(&self, symbol: &Symbol) -> SymbolInfo {
        SymbolInfo {
            symbol: symbol.clone(),
            tick_size: Decimal::new(1, self.price_scale),
            lot_size: Decimal::new(1, self.size_scale),
            prev_close: self.first_price.unwrap_or(Decimal::ONE),
        }
    }
}

/// Runs an import; on any error nothing is written at `args.out`.
pub fn import(args: &ImportArgs) -> Result<Imported, RecordingError> {
    let mut summary = Imported::default();
    // Pass 1: check every row, learn the grids, find the start.
    let mut grids: HashMap<Symbol, Grids> = HashMap::new();
    let mut order: Vec<Symbol> = Vec::new();
    let mut start_ns = u64::MAX;
    let mut book_depth: Option<u32> = None;
    for path in &args.inputs {
        let opened = open(path, args.format)?;
        summary.notes.extend(opened.notes);
        let mut previous = 0;
        for row in opened.rows {
            summary.rows += 1;
            let Some(row) = row? else {
                summary.skipped += 1;
                continue;
            };
            let stats = grids.entry(row.symbol.clone()).or_insert_with(|| {
                order.push(row.symbol.clone());
                Grids::default()
            });
            stats
                .learn(&row.kind)
                .map_err(|e| row.place.error(path, e))?;
            if matches!(row.kind, RowKind::Book(_)) {
                book_depth = book_depth.max(opened.book_depth);
            }
            if row.ts_ns < previous {
                summary.out_of_order += 1;
            }
            previous = row.ts_ns;
            start_ns = start_ns.min(row.ts_ns);
        }
    }
    if order.is_empty() {
        return Err(RecordingError::new(
            &args.out,
            None,
            format!(
                "the inputs hold no quote, trade or book to import ({} rows carried none; MBO records that cancel orders placed before the file began change no book)",
                summary.skipped
            ),
        ));
    }
    order.sort();
    let symbols: Vec<SymbolInfo> = order
        .iter()
        .filter_map(|s| grids.get(s).map(|g| g.info(s)))
        .collect();
    summary.symbols = symbols.len();
    let units: HashMap<Symbol, (Decimal, Decimal)> = symbols
        .iter()
        .map(|s| (s.symbol.clone(), (s.tick_size, s.lot_size)))
        .collect();
    let mut header = Header::new("import", symbols, start_ns, created_by(args));
    if let Some(depth) = book_depth {
        header = header.with_book_depth(depth);
    }
    let mut book_lines = books::BookLines::new(book_depth.unwrap_or(1) as usize);
    header.origin = Some(
        args.inputs
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(" "),
    );

    // Pass 2: merge by time and write.
    let mut writer =
        Writer::create(&args.out, &header, true).map_err(|e| io_error(&args.out, &e))?;
    let mut inputs: Vec<Rows> = Vec::with_capacity(args.inputs.len());
    for path in &args.inputs {
        inputs.push(open(path, args.format)?.rows);
    }
    let mut heads: Vec<Option<Row>> = Vec::with_capacity(inputs.len());
    let mut queue = BinaryHeap::new();
    for (i, input) in inputs.iter_mut().enumerate() {
        let head = next_row(input)?;
        if let Some(row) = &head {
            queue.push(Reverse((row.ts_ns, i)));
        }
        heads.push(head);
    }
    let mut seqs: HashMap<Symbol, u64> = HashMap::new();
    while let Some(Reverse((_, i))) = queue.pop() {
        let Some(row) = heads[i].take() else {
            continue;
        };
        // The first pass checked every value; this keeps a file changed in between from
        // writing a value off its grid.
        if let Some(&(tick, lot)) = units.get(&row.symbol) {
            check_units(&row.kind, tick, lot).map_err(|e| row.place.error(&args.inputs[i], e))?;
        }
        let seq = seqs.entry(row.symbol.clone()).or_insert(0);
        let message = if let RowKind::Book(book) = &row.kind {
            let scales = grids
                .get(&row.symbol)
                .map_or((0, 0), |g| (g.price_scale, g.size_scale));
            let written = book_lines.row(&row.symbol, row.ts_ns, book, scales);
            if let Some(line) = written.line {
                writer
                    .write_event(&line)
                    .map_err(|e| io_error(&args.out, &e))?;
            }
            let quoted = grids.get(&row.symbol).is_some_and(|g| g.quoted);
            match written.top {
                Some((bid, bid_size, ask, ask_size)) if !quoted => Some(RowKind::Quote {
                    bid,
                    bid_size,
                    ask,
                    ask_size,
                }),
                _ => None,
            }
        } else {
            Some(row.kind.clone())
        };
        if let Some(kind) = message {
            *seq += 1;
            if let Some(line) = event_message(&row, &kind, *seq) {
                writer
                    .write_event(&line)
                    .map_err(|e| io_error(&args.out, &e))?;
            }
        }
        let head = next_row(&mut inputs[i])?;
        if let Some(next) = &head {
            queue.push(Reverse((next.ts_ns, i)));
        }
        heads[i] = head;
    }
    summary.events = writer.events();
    summary.bytes = writer.finish().map_err(|e| io_error(&args.out, &e))?;
    Ok(summary)
}

/// The next row that is not skipped.
fn next_row(rows: &mut Rows) -> Result<Option<Row>, RecordingError> {
    for row in rows.by_ref() {
        if let Some(row) = row? {
            return Ok(Some(row));
        }
    }
    Ok(None)
}

fn check_units(kind: &RowKind, tick: Decimal, lot: Decimal) -> Result<(), String> {
    match kind {
        RowKind::Book(book) => {
            for (price, size) in book.bids.iter().chain(&book.asks) {
                in_units(*price, tick, "price")?;
                in_units(*size, lot, "size")?;
            }
        }
        RowKind::Quote {
            bid,
            bid_size,
            ask,
            ask_size,
        } => {
            in_units(*bid, tick, "bid")?;
            in_units(*ask, tick, "ask")?;
            in_units(*bid_size, lot, "bid_size")?;
            in_units(*ask_size, lot, "ask_size")?;
        }
        RowKind::Trade { price, size } => {
            in_units(*price, tick, "price")?;
            in_units(*size, lot, "size")?;
        }
    }
    Ok(())
}

/// A quote or trade line (a book row makes none here).
fn event_message(row: &Row, kind: &RowKind, seq: u64) -> Option<ServerMessage> {
    Some(match *kind {
        RowKind::Quote {
            bid,
            bid_size,
            ask,
            ask_size,
        } => ServerMessage::Quote(Quote {
            symbol: row.symbol.clone(),
            seq,
            bid: bid.normalize(),
            bid_size: bid_size.normalize(),
            ask: ask.normalize(),
            ask_size: ask_size.normalize(),
            ts_ns: row.ts_ns,
            exch_ts_ns: None,
        }),
        RowKind::Trade { price, size } => ServerMessage::Trade(Trade {
            symbol: row.symbol.clone(),
            seq,
            price: price.normalize(),
            size: size.normalize(),
            ts_ns: row.ts_ns,
            exch_ts_ns: None,
            trade_id: None,
            aggressor: None,
        }),
        RowKind::Book(_) => return None,
    })
}

fn created_by(args: &ImportArgs) -> String {
    let format = match args.format {
        Format::Auto => "auto",
        Format::Csv => "csv",
        Format::Tardis => "tardis",
        Format::Dbn => "dbn",
    };
    format!(
        "feed-server {} import --format {format} ({} input{})",
        env!("CARGO_PKG_VERSION"),
        args.inputs.len(),
        if args.inputs.len() == 1 { "" } else { "s" }
    )
}
