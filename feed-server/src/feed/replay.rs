//! Replay as a source: a recording's events at their original spacing, once or in a loop.

use std::path::{Path, PathBuf};

use super::source::{Source, Step};
use super::universe::{Instrument, OPENING_SIZE, Universe};
use protocol::recording::{Reader, RecordingError, in_units};

/// The events of a recording, timed by their `ts_ns`; looping shifts each pass after the last.
#[derive(Debug)]
pub struct ReplaySource {
    path: PathBuf,
    reader: Reader,
    looping: bool,
    /// Added to every `ts_ns` of the current pass.
    offset: u64,
    first: Option<u64>,
    last: u64,
    in_pass: u64,
    passes: u64,
}

impl ReplaySource {
    /// Opens a recording and checks its header.
    pub fn open(path: &Path, looping: bool) -> Result<Self, RecordingError> {
        Ok(Self {
            path: path.to_owned(),
            reader: Reader::open(path)?,
            looping,
            offset: 0,
            first: None,
            last: 0,
            in_pass: 0,
            passes: 0,
        })
    }

    /// The recording's header.
    pub fn header(&self) -> &protocol::recording::Header {
        self.reader.header()
    }

    /// The instruments the recording names, with their grids and reference prices.
    pub fn universe(&self) -> Result<Universe, RecordingError> {
        let instruments = self
            .reader
            .header()
            .symbols
            .iter()
            .map(|s| {
                Ok(Instrument {
                    symbol: s.symbol.clone(),
                    tick_size: s.tick_size,
                    lot_size: s.lot_size,
                    reference_ticks: in_units(s.prev_close, s.tick_size, "prev_close")
                        .map_err(|e| RecordingError::new(&self.path, Some(1), e))?,
                    sigma: 0.0,
                })
            })
            .collect::<Result<Vec<_>, RecordingError>>()?;
        Universe::from_instruments(instruments)
            .map_err(|e| RecordingError::new(&self.path, Some(1), e))
    }

    /// Tells the reader what each market's book holds before the first book line (its
    /// opening touch, as `Market::new` makes it), so that line replaces it exactly.
    pub fn seed_books(&mut self, universe: &Universe) {
        for (i, instrument) in universe.instruments.iter().enumerate() {
            let (bid, ask) = instrument.opening_top();
            self.reader
                .seed_level(i, protocol::Side::Buy, bid, OPENING_SIZE);
            self.reader
                .seed_level(i, protocol::Side::Sell, ask, OPENING_SIZE);
        }
    }

    fn end_of_pass(&mut self) -> Result<Option<Step>, String> {
        if let Some(line) = self.reader.truncated_at()
            && self.passes == 0
        {
            tracing::warn!(
                "{}:{line}: the last line is cut off (the recording was interrupted); replayed everything before it",
                self.path.display()
            );
        }
        self.passes += 1;
        if !self.looping || self.in_pass == 0 {
            return Ok(None);
        }
        let first = self.first.unwrap_or(self.last);
        let span = self.last.saturating_sub(first);
        // The next pass starts one average gap after the last event, as if the session went on.
        let gap = (span / self.in_pass.max(2).saturating_sub(1)).max(1_000);
        self.offset = self.offset.saturating_add(span).saturating_add(gap);
        let books = self.reader.take_books();
        self.reader = Reader::open(&self.path).map_err(|e| e.to_string())?;
        self.reader.continue_books(books);
        self.in_pass = 0;
        self.last = first;
        Ok(Some(Step::Looped))
    }
}

impl Source for ReplaySource {
    fn next_step(&mut self) -> Result<Option<Step>, String> {
        match self.reader.next_event().map_err(|e| e.to_string())? {
            None => self.end_of_pass(),
            Some(recorded) => {
                let ts = recorded.ts_ns;
                let first = *self.first.get_or_insert(ts);
                // Times before the first event's (out-of-order files) count as the first's.
                let ts = ts.max(first);
                self.last = self.last.max(ts);
                self.in_pass += 1;
                Ok(Some(Step::Event {
                    at_ns: ts.saturating_add(self.offset),
                    event: recorded.event,
                    extras: recorded.extras,
                }))
            }
        }
    }

    fn skippable(&self) -> bool {
        false
    }
}
