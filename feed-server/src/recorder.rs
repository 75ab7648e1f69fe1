//! `--record FILE`: what the server streams, written as a recording while it streams it.
//!
//! The recorder follows the core like one more edge: it takes every batch of sequenced events
//! (the hub waits for it as for an edge, so nothing is dropped), writes each quote and trade as
//! it went out, and keeps its own copy of every book to write each book event as a
//! `book_update` of the levels it changed, at full depth (a version-2 recording, `book_depth`
//! 1,000). A file opens with a `book` of every symbol, so each one (with `--record-rotate`, one
//! per period, named by its start time) replays on its own. It is flushed every second and
//! finished (zstd frame closed) when the server stops. A write that fails stops the recording
//! with an error in the log; the server goes on serving.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use protocol::recording::{Header, MAX_BOOK_DEPTH, Stream, SymbolInfo, Writer};
use protocol::{Decimal, now_ns};
use tokio::sync::mpsc;

use crate::bus::ToEdge;
use crate::feed::universe::Universe;
use crate::market::Market;

/// Where and how to record.
#[derive(Debug, Clone)]
pub struct RecordSettings {
    pub path: PathBuf,
    pub rotate: Option<Duration>,
    /// What `created_by` and `origin` say.
    pub created_by: String,
    pub origin: String,
}

/// Starts the recorder on its own thread; it ends when the queue closes (the hub is gone).
pub fn spawn(
    settings: RecordSettings,
    universe: Arc<Universe>,
    queue: mpsc::Receiver<ToEdge>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("tickwire-recorder".to_owned())
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
            {
                Ok(runtime) => runtime,
                Err(e) => {
                    tracing::error!("cannot start the recorder: {e}");
                    return;
                }
            };
            runtime.block_on(run(settings, universe, queue));
        })
}

/// The file being written and the books it follows.
struct Recording {
    settings: RecordSettings,
    universe: Arc<Universe>,
    markets: Vec<Market>,
    writer: Option<Writer>,
    path: PathBuf,
}

async fn run(settings: RecordSettings, universe: Arc<Universe>, mut queue: mpsc::Receiver<ToEdge>) {
    let now = now_ns();
    let markets = universe
        .instruments
        .iter()
        .map(|i| Market::new(i.clone(), now))
        .collect();
    let mut recording = Recording {
        path: settings.path.clone(),
        settings,
        universe,
        markets,
        writer: None,
    };
    recording.open();
    let mut flush = tokio::time::interval(Duration::from_secs(1));
    flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut next_file = recording
        .settings
        .rotate
        .map(|period| tokio::time::Instant::now() + period);
    loop {
        tokio::select! {
            message = queue.recv() => match message {
                Some(ToEdge::Events(batch)) => {
                    for delivery in batch.iter() {
                        recording.write(&delivery.sequenced, &delivery.message);
                    }
                }
                Some(_) => {}
                None => break,
            },
            _ = flush.tick() => {
                if let (Some(at), Some(period)) = (next_file, recording.settings.rotate)
                    && tokio::time::Instant::now() >= at
                {
                    recording.finish();
                    recording.open();
                    next_file = Some(at + period);
                } else {
                    recording.flush();
                }
            }
        }
    }
    recording.finish();
}

impl Recording {
    /// Starts a file: its header, then every symbol's book as it is now.
    fn open(&mut self) {
        let start_ns = now_ns();
        self.path = match self.settings.rotate {
            Some(_) => rotated_name(&self.settings.path, SystemTime::now()),
            None => self.settings.path.clone(),
        };
        let symbols = self
            .universe
            .instruments
            .iter()
            .map(|i| SymbolInfo {
                symbol: i.symbol.clone(),
                tick_size: i.tick_size,
                lot_size: i.lot_size,
                prev_close: Decimal::from(i.reference_ticks)
                    .checked_mul(i.tick_size)
                    .unwrap_or(i.tick_size),
            })
            .collect();
        let mut header = Header::new(
            "record",
            symbols,
            start_ns,
            self.settings.created_by.clone(),
        )
        .with_book_depth(MAX_BOOK_DEPTH as u32);
        header.origin = Some(self.settings.origin.clone());
        let opened = Writer::create(&self.path, &header, false).and_then(|mut writer| {
            for market in &self.markets {
                writer.write_event(&market.book(MAX_BOOK_DEPTH))?;
            }
            Ok(writer)
        });
        match opened {
            Ok(writer) => {
                tracing::info!(file = %self.path.display(), "recording");
                self.writer = Some(writer);
            }
            Err(e) => self.fail(&e),
        }
    }

    fn write(&mut self, sequenced: &crate::market::Sequenced, message: &protocol::ServerMessage) {
        let written = match sequenced.event.stream() {
            Stream::Quotes => match self.writer.as_mut() {
                Some(writer) => writer.write_event(message),
                None => return,
            },
            Stream::Book => {
                let Some(market) = self.markets.get_mut(sequenced.symbol) else {
                    return;
                };
                let Some(change) = market.apply_book(&sequenced.event, sequenced.ts_ns) else {
                    return;
                };
                // Keep the core's numbering even if this copy ever lost step.
                market.book_seq = sequenced.seq;
                let update = market.book_update(&sequenced.event, &change, MAX_BOOK_DEPTH);
                match self.writer.as_mut() {
                    Some(writer) => writer.write_event(&update),
                    None => return,
                }
            }
        };
        if let Err(e) = written {
            self.fail(&e);
        }
    }

    fn flush(&mut self) {
        if let Some(Err(e)) = self.writer.as_mut().map(Writer::flush) {
            self.fail(&e);
        }
    }

    fn finish(&mut self) {
        if let Some(writer) = self.writer.take() {
            let events = writer.events();
            match writer.finish() {
                Ok(bytes) => tracing::info!(
                    file = %self.path.display(),
                    lines = events,
                    bytes,
                    "recording finished"
                ),
                Err(e) => self.fail(&e),
            }
        }
    }

    fn fail(&mut self, e: &std::io::Error) {
        tracing::error!(
            file = %self.path.display(),
            "the recording stopped: cannot write: {e}; the server goes on"
        );
        self.writer = None;
    }
}

/// `FILE` with its start time before the extensions: `s.jsonl.zst` at 14:30:00 UTC on
/// 2026-01-02 is `s-20260102T143000Z.jsonl.zst`.
fn rotated_name(path: &Path, at: SystemTime) -> PathBuf {
    let stamp: String = humantime::format_rfc3339_seconds(at)
        .to_string()
        .chars()
        .filter(|c| *c != '-' && *c != ':')
        .collect();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (stem, extensions) = match name.find('.') {
        Some(dot) if dot > 0 => name.split_at(dot),
        _ => (name.as_str(), ""),
    };
    path.with_file_name(format!("{stem}-{stamp}{extensions}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotated_files_are_named_by_their_start_before_the_extensions() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_364_200);
        assert_eq!(
            rotated_name(Path::new("/tmp/s.jsonl.zst"), at),
            PathBuf::from("/tmp/s-20260102T143000Z.jsonl.zst")
        );
        assert_eq!(
            rotated_name(Path::new("plain"), at),
            PathBuf::from("plain-20260102T143000Z")
        );
    }
}
