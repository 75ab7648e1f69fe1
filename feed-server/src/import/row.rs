//! A row of an input file as every reader yields it: one event in exact decimals, and where in
//! its file it was.

use std::path::Path;

use protocol::recording::RecordingError;
use protocol::{Decimal, Symbol};

/// One event from an input, in exact decimals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// Where the row is: its line in a CSV file, its index in a DBN file.
    pub place: Place,
    pub ts_ns: u64,
    pub symbol: Symbol,
    pub kind: RowKind,
}

/// Where a row is in its file, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Line(u64),
    Record(u64),
}

impl Place {
    pub fn error(self, path: &Path, message: impl Into<String>) -> RecordingError {
        match self {
            Self::Line(n) => RecordingError::new(path, Some(n), message),
            Self::Record(n) => {
                RecordingError::new(path, None, format!("record {n}: {}", message.into()))
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowKind {
    Quote {
        bid: Decimal,
        bid_size: Decimal,
        ask: Decimal,
        ask_size: Decimal,
    },
    Trade {
        price: Decimal,
        size: Decimal,
    },
    /// Order-book levels: the whole book (`replace`), or levels with their new totals (a size
    /// of zero removes one).
    Book(Box<BookRow>),
}

/// A book row's levels, `(price, size)`, in any order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BookRow {
    pub replace: bool,
    pub bids: Vec<(Decimal, Decimal)>,
    pub asks: Vec<(Decimal, Decimal)>,
}

/// An input's rows in file order: `Ok(None)` for a row that is skipped, `Err` at the first bad one.
pub type Rows = Box<dyn Iterator<Item = Result<Option<Row>, RecordingError>>>;

/// An opened input and the notes it has for the user.
pub struct Opened {
    pub rows: Rows,
    pub notes: Vec<String>,
    /// For an input of book rows, the levels a side its books hold (10 for MBP-10, 25 for
    /// Tardis `book_snapshot_25`, the most a recording keeps for whole books).
    pub book_depth: Option<u32>,
}
