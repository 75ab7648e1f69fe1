//! The book lines of an import: each book row becomes a `book` (a symbol's first) or a
//! `book_update` holding only what changed, with the checksum of the book it leaves, and the
//! quotes that the book's top makes.

use std::collections::HashMap;

use protocol::book::{BookStep, OrderBook};
use protocol::{Book, Decimal, Level, ServerMessage, Symbol};

use super::row::BookRow;

/// A quote's four values: bid, bid size, ask, ask size.
pub type Top = (Decimal, Decimal, Decimal, Decimal);

/// Every symbol's book as the written lines leave it.
#[derive(Debug)]
pub struct BookLines {
    depth: usize,
    books: HashMap<Symbol, SymbolBook>,
}

#[derive(Debug)]
struct SymbolBook {
    book: OrderBook,
    seq: u64,
    top: Option<Top>,
}

/// What one book row wrote.
#[derive(Debug, Default)]
pub struct Written {
    /// The `book` or `book_update` line; `None` when the row changed nothing.
    pub line: Option<ServerMessage>,
    /// The new top of the book, when it changed and both sides have a level.
    pub top: Option<Top>,
}

impl BookLines {
    /// Books kept to `depth` levels a side (the header's `book_depth`).
    pub fn new(depth: usize) -> Self {
        Self {
            depth,
            books: HashMap::new(),
        }
    }

    /// The line for a row, with prices and sizes written at the symbol's grid scales.
    pub fn row(
        &mut self,
        symbol: &Symbol,
        ts_ns: u64,
        row: &BookRow,
        (price_scale, size_scale): (u32, u32),
    ) -> Written {
        let depth = self.depth;
        let entry = self
            .books
            .entry(symbol.clone())
            .or_insert_with(|| SymbolBook {
                book: OrderBook::new(depth),
                seq: 0,
                top: None,
            });
        let at = |(price, size): &(Decimal, Decimal)| {
            let (mut price, mut size) = (*price, *size);
            price.rescale(price_scale);
            size.rescale(size_scale);
            Level(price, size)
        };
        let first = entry.seq == 0;
        let (bids, asks) = if row.replace || first {
            let mut bids: Vec<Level> = row.bids.iter().map(at).collect();
            let mut asks: Vec<Level> = row.asks.iter().map(at).collect();
            whole_side(&mut bids, true, depth);
            whole_side(&mut asks, false, depth);
            if first {
                (bids, asks)
            } else {
                (
                    difference(entry.book.bids(), &bids),
                    difference(entry.book.asks(), &asks),
                )
            }
        } else {
            (
                row.bids.iter().map(at).collect(),
                row.asks.iter().map(at).collect(),
            )
        };
        if !first && bids.is_empty() && asks.is_empty() {
            return Written::default();
        }
        entry.seq += 1;
        let mut book = Book {
            symbol: symbol.clone(),
            seq: entry.seq,
            bids,
            asks,
            checksum: 0,
            ts_ns,
        };
        // Applying it gives the checksum of the book it leaves.
        if let BookStep::Mismatch { computed, .. } = entry.book.apply(&book, first) {
            book.checksum = computed;
        }
        let top = match (entry.book.bids().next(), entry.book.asks().next()) {
            (Some((bid, bid_size)), Some((ask, ask_size))) => {
                Some((*bid, *bid_size, *ask, *ask_size))
            }
            _ => None,
        };
        let changed = top.is_some() && top != entry.top;
        entry.top = top;
        Written {
            line: Some(if first {
                ServerMessage::Book(book)
            } else {
                ServerMessage::BookUpdate(book)
            }),
            top: if changed { top } else { None },
        }
    }
}

/// A whole side: no empty levels, one per price (the last given), best first, `depth` deep.
fn whole_side(levels: &mut Vec<Level>, bids: bool, depth: usize) {
    levels.retain(|l| !l.1.is_zero());
    // Stable, so of two levels at one price the last given is kept by the reverse dedup.
    levels.reverse();
    levels.sort_by(|a, b| if bids { b.0.cmp(&a.0) } else { a.0.cmp(&b.0) });
    levels.dedup_by(|a, b| a.0 == b.0);
    levels.truncate(depth);
}

/// The level changes that take a side from `old` to `new` (both best first).
fn difference<'a>(
    old: impl Iterator<Item = (&'a Decimal, &'a Decimal)>,
    new: &[Level],
) -> Vec<Level> {
    let old: Vec<(Decimal, Decimal)> = old.map(|(p, s)| (*p, *s)).collect();
    let mut changes: Vec<Level> = old
        .iter()
        .filter(|(p, _)| !new.iter().any(|l| l.0 == *p))
        .map(|(p, s)| Level(*p, Decimal::new(0, s.scale())))
        .collect();
    changes.extend(
        new.iter()
            .filter(|l| !old.iter().any(|(p, s)| *p == l.0 && *s == l.1))
            .copied(),
    );
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap_or_default()
    }

    #[test]
    fn a_first_row_is_a_book_then_replacing_rows_write_only_their_differences() {
        let mut lines = BookLines::new(10);
        let sym = Symbol::from("X");
        let row = |bids: &[(&str, &str)], asks: &[(&str, &str)], replace| BookRow {
            replace,
            bids: bids.iter().map(|(p, s)| (d(p), d(s))).collect(),
            asks: asks.iter().map(|(p, s)| (d(p), d(s))).collect(),
        };
        let first = lines.row(
            &sym,
            1,
            &row(&[("10.0", "1"), ("10.1", "2")], &[("10.2", "3")], true),
            (2, 0),
        );
        let Some(ServerMessage::Book(book)) = first.line else {
            panic!("{first:?}");
        };
        // Best first, at the grid's scale.
        assert_eq!(
            book.bids,
            vec![Level(d("10.10"), d("2")), Level(d("10.00"), d("1"))]
        );
        assert_eq!(first.top, Some((d("10.10"), d("2"), d("10.20"), d("3"))));
        let same = lines.row(
            &sym,
            2,
            &row(&[("10.0", "1"), ("10.1", "2")], &[("10.2", "3")], true),
            (2, 0),
        );
        assert!(same.line.is_none() && same.top.is_none());
        let next = lines.row(
            &sym,
            3,
            &row(&[("10.1", "2")], &[("10.2", "4")], true),
            (2, 0),
        );
        let Some(ServerMessage::BookUpdate(update)) = next.line else {
            panic!("{next:?}");
        };
        assert_eq!(update.seq, 2);
        assert_eq!(update.bids, vec![Level(d("10.00"), d("0"))]);
        assert_eq!(update.asks, vec![Level(d("10.20"), d("4"))]);
        // The checksum is the book's after the update.
        let mut client = OrderBook::new(10);
        assert_eq!(client.apply(&book, true), BookStep::InSync);
        assert_eq!(client.apply(&update, false), BookStep::InSync);
    }
}
