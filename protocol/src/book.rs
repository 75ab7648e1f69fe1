//! A client's copy of one symbol's order book, kept from `book` and `book_update` messages by the
//! protocol's rules: a `book` replaces it; an update must be the next book `seq`, sets each named
//! level to its new total (a size of zero, however written, removes it), and is followed by
//! truncation to the subscribed depth and a check of the server's checksum.
//!
//! Used by the terminal, `terminal record`, the bench and the tests, so every client follows
//! the same rules.

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap};

use rust_decimal::Decimal;

use crate::checksum::checksum;
use crate::types::{Book, Level, ServerMessage, Symbol};

/// What applying a book message did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BookStep {
    /// Applied, and the checksum matches.
    InSync,
    /// An update whose `seq` is not the next one: updates were missed (or no `book` came yet).
    /// Nothing was applied; subscribe again for a fresh `book`.
    Gap { expected: u64, got: u64 },
    /// An update at or below the last `seq`: a duplicate, ignored.
    Stale,
    /// Applied, but the book no longer matches the server's: subscribe again.
    Mismatch { expected: u32, computed: u32 },
}

/// One symbol's book, best levels first on each side.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderBook {
    bids: BTreeMap<Reverse<Decimal>, Decimal>,
    asks: BTreeMap<Decimal, Decimal>,
    depth: usize,
    seq: Option<u64>,
}

impl OrderBook {
    /// An empty book kept to `depth` levels a side (the subscription's depth).
    pub fn new(depth: usize) -> Self {
        Self {
            depth: depth.max(1),
            ..Self::default()
        }
    }

    /// The book `seq` of the last message applied.
    pub fn seq(&self) -> Option<u64> {
        self.seq
    }

    /// Levels per side kept.
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// Bids, best (highest) first, as `(price, size)`.
    pub fn bids(&self) -> impl DoubleEndedIterator<Item = (&Decimal, &Decimal)> + Clone {
        self.bids.iter().map(|(Reverse(p), s)| (p, s))
    }

    /// Asks, best (lowest) first.
    pub fn asks(&self) -> impl DoubleEndedIterator<Item = (&Decimal, &Decimal)> + Clone {
        self.asks.iter()
    }

    /// The checksum of the book as it is now.
    pub fn checksum(&self) -> u32 {
        checksum(self.asks(), self.bids())
    }

    /// Forgets the book: the next message must be a `book`.
    pub fn reset(&mut self) {
        self.bids.clear();
        self.asks.clear();
        self.seq = None;
    }

    /// Applies a `book` (`whole`) or a `book_update`.
    pub fn apply(&mut self, message: &Book, whole: bool) -> BookStep {
        if whole {
            self.bids.clear();
            self.asks.clear();
        } else {
            let Some(last) = self.seq else {
                return BookStep::Gap {
                    expected: 0,
                    got: message.seq,
                };
            };
            if message.seq <= last {
                return BookStep::Stale;
            }
            let expected = last.saturating_add(1);
            if message.seq != expected {
                return BookStep::Gap {
                    expected,
                    got: message.seq,
                };
            }
        }
        for &Level(price, size) in &message.bids {
            set(&mut self.bids, Reverse(price), size);
        }
        for &Level(price, size) in &message.asks {
            set(&mut self.asks, price, size);
        }
        truncate(&mut self.bids, self.depth);
        truncate(&mut self.asks, self.depth);
        self.seq = Some(message.seq);
        let computed = self.checksum();
        if computed == message.checksum {
            BookStep::InSync
        } else {
            BookStep::Mismatch {
                expected: message.checksum,
                computed,
            }
        }
    }
}

/// Every symbol's book a client follows, each kept to the same depth.
#[derive(Debug, Clone, Default)]
pub struct Books {
    depth: usize,
    books: HashMap<Symbol, OrderBook>,
}

impl Books {
    pub fn new(depth: usize) -> Self {
        Self {
            depth,
            books: HashMap::new(),
        }
    }

    /// Applies a `book` or `book_update` to its symbol's book; `None` for any other message.
    pub fn apply(&mut self, message: &ServerMessage) -> Option<BookStep> {
        let (book, whole) = match message {
            ServerMessage::Book(b) => (b, true),
            ServerMessage::BookUpdate(b) => (b, false),
            _ => return None,
        };
        let depth = self.depth;
        Some(
            self.books
                .entry(book.symbol.clone())
                .or_insert_with(|| OrderBook::new(depth))
                .apply(book, whole),
        )
    }

    pub fn get(&self, symbol: &str) -> Option<&OrderBook> {
        self.books.get(symbol)
    }

    /// Symbols with a book, in no order.
    pub fn len(&self) -> usize {
        self.books.len()
    }

    pub fn is_empty(&self) -> bool {
        self.books.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&Symbol, &OrderBook)> {
        self.books.iter()
    }
}

fn set<K: Ord>(side: &mut BTreeMap<K, Decimal>, key: K, size: Decimal) {
    if size.is_zero() {
        side.remove(&key);
    } else {
        side.insert(key, size);
    }
}

fn truncate<K: Ord + Clone>(side: &mut BTreeMap<K, Decimal>, depth: usize) {
    while side.len() > depth {
        side.pop_last();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checksum::checksum_text;

    fn d(s: &str) -> Decimal {
        Decimal::from_str_exact(s).unwrap_or_default()
    }

    fn level(p: &str, s: &str) -> Level {
        Level(d(p), d(s))
    }

    fn book(seq: u64, bids: Vec<Level>, asks: Vec<Level>, checksum: u32) -> Book {
        Book {
            symbol: "AAPL".into(),
            seq,
            bids,
            asks,
            checksum,
            ts_ns: 0,
        }
    }

    #[test]
    fn a_book_then_updates_stay_in_sync_and_truncate_to_the_depth() {
        let mut b = OrderBook::new(2);
        let first = book(
            5,
            vec![level("10.00", "3"), level("9.99", "4")],
            vec![level("10.01", "1"), level("10.02", "2")],
            checksum_text(
                [("10.01", "1"), ("10.02", "2")],
                [("10.00", "3"), ("9.99", "4")],
            ),
        );
        assert_eq!(b.apply(&first, true), BookStep::InSync);
        // A better bid pushes 9.99 out of a depth of 2; 10.01 goes (a zero written as 0.00).
        let update = book(
            6,
            vec![level("10.005", "7")],
            vec![level("10.01", "0.00")],
            checksum_text([("10.02", "2")], [("10.005", "7"), ("10.00", "3")]),
        );
        assert_eq!(b.apply(&update, false), BookStep::InSync);
        let bids: Vec<_> = b
            .bids()
            .map(|(p, s)| (p.to_string(), s.to_string()))
            .collect();
        assert_eq!(
            bids,
            [("10.005".into(), "7".into()), ("10.00".into(), "3".into())]
        );
        assert_eq!(b.asks().count(), 1);
    }

    #[test]
    fn gaps_duplicates_and_mismatches_are_told_apart() {
        let mut b = OrderBook::new(10);
        let empty = |seq, checksum| book(seq, vec![], vec![], checksum);
        let none = checksum_text([], []);
        assert!(matches!(
            b.apply(&empty(3, none), false),
            BookStep::Gap { .. }
        ));
        assert_eq!(b.apply(&empty(3, none), true), BookStep::InSync);
        assert_eq!(b.apply(&empty(3, none), false), BookStep::Stale);
        assert_eq!(
            b.apply(&empty(5, none), false),
            BookStep::Gap {
                expected: 4,
                got: 5
            }
        );
        assert!(matches!(
            b.apply(&empty(4, 1), false),
            BookStep::Mismatch { .. }
        ));
    }
}
