//! The books a recording with `--channels quotes,book` keeps: every `book` and `book_update` is
//! checked by the protocol's rules before it is written, so the file holds only books that add
//! up. A gap or a checksum mismatch drops the symbol's book and asks the server for a fresh one;
//! nothing is written for it until that `book` comes (the file's next line for it is a `book`).

use std::collections::HashMap;

use protocol::book::{BookStep, OrderBook};
use protocol::{Book, Symbol};

/// Every recorded symbol's book, at the recording's depth.
#[derive(Debug)]
pub struct Books {
    depth: usize,
    kept: HashMap<Symbol, OrderBook>,
    /// Symbols waiting for a fresh `book`, asked for once.
    waiting: Vec<Symbol>,
    pub updates: u64,
    pub mismatches: u64,
    pub gaps: u64,
    pub resyncs: u64,
}

/// What to do with a book message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// It continues the book: write it.
    Write,
    /// Not written: a duplicate, or the book waits for a fresh `book`.
    Skip,
    /// Not written, and the book is out of step: ask for a fresh `book` of the symbol.
    Resync,
}

impl Books {
    pub fn new(depth: usize) -> Self {
        Self {
            depth,
            kept: HashMap::new(),
            waiting: Vec::new(),
            updates: 0,
            mismatches: 0,
            gaps: 0,
            resyncs: 0,
        }
    }

    /// Checks a `book` (`whole`) or `book_update`.
    pub fn keep(&mut self, message: &Book, whole: bool) -> Keep {
        let book = self
            .kept
            .entry(message.symbol.clone())
            .or_insert_with(|| OrderBook::new(self.depth));
        if whole {
            self.waiting.retain(|s| *s != message.symbol);
        } else if self.waiting.contains(&message.symbol) {
            return Keep::Skip;
        }
        let step = book.apply(message, whole);
        match step {
            BookStep::InSync => {
                self.updates += u64::from(!whole);
                return Keep::Write;
            }
            BookStep::Stale => return Keep::Skip,
            BookStep::Gap { .. } => self.gaps += 1,
            BookStep::Mismatch { .. } => self.mismatches += 1,
        }
        tracing::warn!(symbol = %message.symbol, ?step, "book out of step; asking for a fresh one");
        book.reset();
        self.resyncs += 1;
        self.waiting.push(message.symbol.clone());
        Keep::Resync
    }

    /// The book `seq` each book in step holds: what a resume on the same server names
    /// (`resume.book_from`), so the server sends the updates missed instead of a fresh `book`.
    pub fn resume_points(&self) -> std::collections::BTreeMap<Symbol, u64> {
        self.kept
            .iter()
            .filter(|(symbol, _)| !self.waiting.contains(symbol))
            .filter_map(|(symbol, book)| book.seq().map(|seq| (symbol.clone(), seq)))
            .collect()
    }

    /// After a reconnect to another server session every book starts again from the `book`
    /// the server sends.
    pub fn restart(&mut self) {
        for book in self.kept.values_mut() {
            book.reset();
        }
        self.waiting.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::{Decimal, Level};

    fn message(seq: u64, bid: i64, checksum: Option<u32>) -> Book {
        let mut book = Book {
            symbol: "X".into(),
            seq,
            bids: vec![Level(Decimal::new(bid, 2), Decimal::ONE)],
            asks: vec![],
            checksum: 0,
            ts_ns: 0,
        };
        let mut scratch = OrderBook::new(10);
        if let BookStep::Mismatch { computed, .. } = scratch.apply(&book, true) {
            book.checksum = checksum.unwrap_or(computed);
        }
        book
    }

    #[test]
    fn a_gap_or_mismatch_skips_until_a_fresh_book() {
        let mut books = Books::new(10);
        assert_eq!(books.keep(&message(1, 100, None), true), Keep::Write);
        // The update replaces nothing but adds a level: its checksum is of two levels, so a
        // one-level checksum mismatches.
        assert_eq!(books.keep(&message(2, 101, Some(7)), false), Keep::Resync);
        assert_eq!(books.keep(&message(3, 102, None), false), Keep::Skip);
        assert_eq!(books.keep(&message(9, 100, None), true), Keep::Write);
        assert_eq!(books.keep(&message(11, 100, None), false), Keep::Resync);
        assert_eq!((books.mismatches, books.gaps, books.resyncs), (1, 1, 2));
    }
}
