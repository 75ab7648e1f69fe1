//! Recordings: market sessions on disk, one JSON object per line (`recordings/README.md` is the
//! contract).
//!
//! The first line is a [`Header`]; every other line is a `quote` or `trade` exactly as on the wire,
//! with the event's original `ts_ns`, or (version 2) a `book` or `book_update`. A `.zst` file is zstd-compressed. Both directions stream: a
//! [`Reader`] holds one line at a time, a [`Writer`] one compression window.

mod books;
mod event;
mod reader;
mod speed;
mod writer;

use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

pub use books::LineBook;
pub use event::{Extras, MarketEvent, Stream};
pub use reader::{Reader, Recorded, read_all};
pub use speed::Speed;
pub use writer::Writer;

use crate::grid::{self, OffGrid};
use crate::{Decimal, Symbol};

/// The `format` of every recording's header.
pub const FORMAT: &str = "tickwire-recording";
/// The newest format version, which this build reads with every older one. Files without book
/// lines are written as version 1, which every build reads; files with them as version 2.
pub const VERSION: u32 = 2;
/// Most levels a side a recording's books keep (`book_depth`): as many as the server's books.
pub const MAX_BOOK_DEPTH: usize = 1_000;
/// The longest line a reader accepts; a longer one is malformed, not a reason to allocate more.
pub const MAX_LINE_BYTES: usize = 64 * 1024;
/// Most symbols a header may list.
pub const MAX_SYMBOLS: usize = 100_000;

/// The first line of a recording.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// Always [`FORMAT`].
    pub format: String,
    /// Always [`VERSION`] for files this build writes.
    pub version: u32,
    /// What made the events: `generate`, `record` or `import`.
    pub source: String,
    /// Every symbol that events may name, with its grids and reference price.
    pub symbols: Vec<SymbolInfo>,
    /// When the session starts, in ns since the Unix epoch (the first event's `ts_ns`, or when
    /// recording began).
    pub start_ns: u64,
    /// The program and arguments that wrote the file.
    pub created_by: String,
    /// Where the events came from: the URL recorded, or the imported files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// Version 2: the file carries each symbol's order book as `book` and `book_update` lines,
    /// at most this many levels a side (what the lines were taken at). Absent: no book lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub book_depth: Option<u32>,
}

/// One symbol of a recording.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SymbolInfo {
    pub symbol: Symbol,
    /// Price grid: every price in the file is a multiple of it.
    #[serde(with = "crate::decimal")]
    pub tick_size: Decimal,
    /// Size grid: every size is a multiple of it (1 for shares).
    #[serde(with = "crate::decimal", default = "one")]
    pub lot_size: Decimal,
    /// The price the session is measured from (the previous close), shown before any event.
    #[serde(with = "crate::decimal")]
    pub prev_close: Decimal,
}

fn one() -> Decimal {
    Decimal::ONE
}

impl Header {
    /// A version-1 header: quotes and trades.
    pub fn new(source: &str, symbols: Vec<SymbolInfo>, start_ns: u64, created_by: String) -> Self {
        Self {
            format: FORMAT.to_owned(),
            version: 1,
            source: source.to_owned(),
            symbols,
            start_ns,
            created_by,
            origin: None,
            book_depth: None,
        }
    }

    /// Makes it a version-2 header of a file with book lines kept to `depth` levels a side.
    #[must_use]
    pub fn with_book_depth(mut self, depth: u32) -> Self {
        self.version = 2;
        self.book_depth = Some(depth);
        self
    }
}

/// Why a recording cannot be read or written: `FILE:LINE: what is wrong`, or `FILE: what`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct RecordingError {
    pub file: String,
    pub line: Option<u64>,
    pub message: String,
}

impl RecordingError {
    pub fn new(file: &Path, line: Option<u64>, message: impl Into<String>) -> Self {
        Self {
            file: file.display().to_string(),
            line,
            message: message.into(),
        }
    }
}

impl fmt::Display for RecordingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

/// Whether a path names a zstd-compressed file.
pub fn is_zstd(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("zst"))
}

/// A decimal as a whole number of `unit`s, or why not, for an error message naming `what`.
pub fn in_units(value: Decimal, unit: Decimal, what: &str) -> Result<i64, String> {
    grid::units(value, unit).map_err(|e| match e {
        OffGrid::NotMultiple => format!("{what} {value} is not a multiple of {unit}"),
        OffGrid::Negative => format!("{what} {value} is negative"),
        OffGrid::OutOfRange => format!("{what} {value} is out of range"),
    })
}
