//! `feed-server import`: tick data people already own, turned into a recording.
//!
//! Inputs are Tickwire CSV (`tickwire_csv`), Tardis.dev CSV (`tardis`) or Databento DBN
//! (`dbn_file`). Two passes over them: the first checks every row and learns each symbol's price
//! and size grids (the finest decimal place its values use) and first price, which the header
//! needs before any event; the second merges the inputs by time and writes. Any bad row stops the
//! import with `FILE:LINE: what is wrong`, and no output file is left behind.

mod dbn_file;
mod fields;
mod row;
mod tardis;
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
    /// Tardis.dev `quotes` or `trades` CSV.
    Tardis,
    /// Databento DBN: `mbp-1`, `tbbo`, `trades`, `bbo-1s`, `bbo-1m`.
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
        Format::Tardis => Ok(Opened {
            rows: tardis::open(path)?,
            notes: Vec::new(),
        }),
        Format::Csv | Format::Auto => Ok(Opened {
            rows: tickwire_csv::open(path)?,
            notes: Vec::new(),
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
}

/// The finest decimal place a recording grid may have.
const MAX_SCALE: u32 = 12;

impl Grids {
    fn learn(&mut self, kind: &RowKind) -> Result<(), String> {
        let (prices, sizes) = match *kind {
            RowKind::Quote {
                bid,
                bid_size,
                ask,
                ask_size,
            } => ([bid, ask], [bid_size, ask_size]),
            RowKind::Trade { price, size } => ([price, price], [size, size]),
        };
        for p in prices {
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
            self.first_price = Some(match *kind {
                RowKind::Trade { price, .. } => price,
                RowKind::Quote { bid, .. } => bid,
            });
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
            "the inputs hold no quote or trade to import",
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
        let seq = seqs.entry(row.symbol.clone()).or_insert(0);
        *seq += 1;
        let message = message(&row, *seq);
        // The first pass checked every value; this keeps a file changed in between from
        // writing a value off its grid.
        if let Some(&(tick, lot)) = units.get(&row.symbol) {
            check_units(&row.kind, tick, lot).map_err(|e| row.place.error(&args.inputs[i], e))?;
        }
        writer
            .write_event(&message)
            .map_err(|e| io_error(&args.out, &e))?;
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
    match *kind {
        RowKind::Quote {
            bid,
            bid_size,
            ask,
            ask_size,
        } => {
            in_units(bid, tick, "bid")?;
            in_units(ask, tick, "ask")?;
            in_units(bid_size, lot, "bid_size")?;
            in_units(ask_size, lot, "ask_size")?;
        }
        RowKind::Trade { price, size } => {
            in_units(price, tick, "price")?;
            in_units(size, lot, "size")?;
        }
    }
    Ok(())
}

fn message(row: &Row, seq: u64) -> ServerMessage {
    match row.kind {
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
        }),
        RowKind::Trade { price, size } => ServerMessage::Trade(Trade {
            symbol: row.symbol.clone(),
            seq,
            price: price.normalize(),
            size: size.normalize(),
            ts_ns: row.ts_ns,
        }),
    }
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
