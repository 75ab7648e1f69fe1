//! `feed-server generate`: a synthetic session written to a recording as fast as the disk takes it.
//!
//! The events are the ones a server with the same `--symbols`, `--rate` and `--seed` would stream,
//! timed from a fixed start (not the clock), so the same arguments always give the same bytes.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;

use crate::feed::event::MarketEvent;
use crate::feed::source::{Source, Step};
use crate::feed::synth::SynthSource;
use crate::feed::universe::Universe;
use crate::feed::{SymbolChoice, SynthArgs};
use crate::market::Market;
use crate::market::book::MAX_LEVELS;
use protocol::recording::{Header, RecordingError, SymbolInfo, Writer};

/// 2026-01-02 14:30:00 UTC, the New York open of the first trading day of 2026: the default start.
const DEFAULT_START_NS: u64 = 1_767_364_200_000_000_000;

/// The depth a generated recording's books are written at: the whole book as the market keeps it.
const BOOK_DEPTH: usize = MAX_LEVELS;
const BOOK_DEPTH_U32: u32 = MAX_LEVELS as u32;

/// Most events one `generate` writes (at 1,000,000 events/s, almost three hours).
const MAX_EVENTS: u64 = 10_000_000_000;

/// The arguments of `feed-server generate`.
#[derive(Debug, Clone, Args)]
pub struct GenerateArgs {
    /// `--symbols`, `--rate`, `--seed`, as a server takes them.
    #[command(flatten)]
    pub synth: SynthArgs,

    /// Length of the session, e.g. `60s`, `10m`.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Duration,

    /// When the session starts, RFC 3339 (e.g. `2026-01-02T14:30:00Z`). Fixed by default, so
    /// the output depends only on the arguments.
    #[arg(long, value_parser = humantime::parse_rfc3339_weak)]
    pub start: Option<std::time::SystemTime>,

    /// Output file: `.jsonl`, or `.jsonl.zst` for zstd.
    #[arg(long)]
    pub out: PathBuf,
}

/// What a run wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    pub events: u64,
    pub bytes: u64,
}

/// Writes the session; on any error the output file is not left behind.
pub fn generate(args: &GenerateArgs) -> Result<Written, RecordingError> {
    let out = &args.out;
    let fail = |message: String| RecordingError::new(out, None, message);
    let start_ns = match args.start {
        None => DEFAULT_START_NS,
        Some(t) => t
            .duration_since(std::time::UNIX_EPOCH)
            .ok()
            .and_then(|d| u64::try_from(d.as_nanos()).ok())
            .ok_or_else(|| fail("--start must be after 1970".to_owned()))?,
    };
    let duration_ns = u64::try_from(args.duration.as_nanos()).unwrap_or(u64::MAX);
    let events =
        u64::try_from(u128::from(duration_ns) * u128::from(args.synth.rate) / 1_000_000_000)
            .unwrap_or(u64::MAX);
    if events > MAX_EVENTS {
        return Err(fail(format!(
            "{events} events is more than the {MAX_EVENTS} one run writes; shorten --duration or lower --rate"
        )));
    }
    let universe = Universe::new(&args.synth.symbols, args.synth.seed);
    let mut markets: Vec<Market> = universe
        .instruments
        .iter()
        .map(|i| Market::new(i.clone(), start_ns))
        .collect();
    let books = args.synth.book_rate > 0;
    let mut header = Header::new(
        "generate",
        markets
            .iter()
            .map(|m| SymbolInfo {
                symbol: m.instrument.symbol.clone(),
                tick_size: m.instrument.tick_size,
                lot_size: m.instrument.lot_size,
                prev_close: m.price(m.instrument.reference_ticks),
            })
            .collect(),
        start_ns,
        created_by(args),
    );
    if books {
        header = header.with_book_depth(BOOK_DEPTH_U32);
    }
    let mut writer = Writer::create(out, &header, true).map_err(|e| io_error(out, &e))?;
    let mut source = SynthSource::new(
        &universe,
        args.synth.seed,
        args.synth.rate,
        args.synth.book_rate,
    );
    let mut written = 0;
    // The opening books are written as one `book` line per symbol before the first quote.
    let mut opening = books;
    while written < events {
        let Ok(Some(Step::Event { at_ns, event, .. })) = source.next_step() else {
            break;
        };
        let ts_ns = start_ns.saturating_add(at_ns);
        let Some(market) = markets.get_mut(event.symbol()) else {
            continue;
        };
        if let Some(change) = market.apply_book(&event, ts_ns) {
            if !opening {
                let update = market.book_update(&event, &change, BOOK_DEPTH);
                writer.write_event(&update).map_err(|e| io_error(out, &e))?;
            }
            continue;
        }
        if opening {
            opening = false;
            for market in &markets {
                writer
                    .write_event(&market.book(BOOK_DEPTH))
                    .map_err(|e| io_error(out, &e))?;
            }
        }
        let Some(market) = markets.get_mut(event.symbol()) else {
            continue;
        };
        let message = market.apply(&event, ts_ns);
        writer
            .write_event(&message)
            .map_err(|e| io_error(out, &e))?;
        written += 1;
        // As the core does: a quote the book does not agree with moves the book's touch.
        if let MarketEvent::Quote {
            symbol,
            bid,
            bid_size,
            ask,
            ask_size,
        } = event
            && books
            && !market.book.agrees_with(bid, bid_size, ask, ask_size)
        {
            let touch = MarketEvent::Touch {
                symbol,
                bid,
                bid_size,
                ask,
                ask_size,
            };
            if let Some(change) = market.apply_book(&touch, ts_ns) {
                let update = market.book_update(&touch, &change, BOOK_DEPTH);
                writer.write_event(&update).map_err(|e| io_error(out, &e))?;
            }
        }
    }
    let events = writer.events();
    let bytes = writer.finish().map_err(|e| io_error(out, &e))?;
    Ok(Written { events, bytes })
}

fn created_by(args: &GenerateArgs) -> String {
    let symbols = match &args.synth.symbols {
        SymbolChoice::Default => "default".to_owned(),
        SymbolChoice::List(list) => list.join(","),
        SymbolChoice::Generated(n) => n.to_string(),
    };
    let mut line = format!(
        "feed-server {} generate --symbols {symbols} --rate {} --book-rate {} --seed {} --duration {}",
        env!("CARGO_PKG_VERSION"),
        args.synth.rate,
        args.synth.book_rate,
        args.synth.seed,
        humantime::format_duration(args.duration)
    );
    if let Some(start) = args.start {
        line.push_str(" --start ");
        line.push_str(&humantime::format_rfc3339_nanos(start).to_string());
    }
    line
}

pub(crate) fn io_error(path: &Path, e: &std::io::Error) -> RecordingError {
    RecordingError::new(path, None, format!("cannot write: {e}"))
}
