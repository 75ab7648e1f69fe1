//! The books a recording's `book` and `book_update` lines build, per symbol, in ticks and lots.
//!
//! A replay feeds a server level events, so each book line becomes the level changes that take
//! the book from what it was to what the line says: a `book` removes every level it does not
//! list, and after every line the book is cut to the header's `book_depth`, as a client cuts its
//! book to the depth it subscribed at. The cut levels are removed by events too, so the server's
//! book is the recorded one exactly, never one with stale levels under the window.

use std::cmp::Reverse;
use std::collections::BTreeMap;

use crate::types::Side;

/// One symbol's book as a recording's lines leave it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineBook {
    bids: BTreeMap<Reverse<i64>, i64>,
    asks: BTreeMap<i64, i64>,
}

/// A level change: side, price in ticks, new size in lots (0 removes the level).
pub type Change = (Side, i64, i64);

impl LineBook {
    /// Sets a level; records the change if there is one.
    pub fn set(&mut self, side: Side, price: i64, size: i64, out: &mut Vec<Change>) {
        let old = match side {
            Side::Buy => put(&mut self.bids, Reverse(price), size),
            Side::Sell => put(&mut self.asks, price, size),
        };
        if old != size {
            out.push((side, price, size));
        }
    }

    /// Replaces the book with the given levels, recording removals first.
    pub fn replace(&mut self, bids: &[(i64, i64)], asks: &[(i64, i64)], out: &mut Vec<Change>) {
        let gone_bids: Vec<i64> = self
            .bids
            .keys()
            .map(|Reverse(p)| *p)
            .filter(|p| !bids.iter().any(|(q, s)| q == p && *s > 0))
            .collect();
        let gone_asks: Vec<i64> = self
            .asks
            .keys()
            .copied()
            .filter(|p| !asks.iter().any(|(q, s)| q == p && *s > 0))
            .collect();
        for p in gone_bids {
            self.set(Side::Buy, p, 0, out);
        }
        for p in gone_asks {
            self.set(Side::Sell, p, 0, out);
        }
        for &(p, s) in bids {
            self.set(Side::Buy, p, s, out);
        }
        for &(p, s) in asks {
            self.set(Side::Sell, p, s, out);
        }
    }

    /// Cuts each side to `depth` levels, recording a removal for each level cut.
    pub fn truncate(&mut self, depth: usize, out: &mut Vec<Change>) {
        while self.bids.len() > depth {
            if let Some((Reverse(p), _)) = self.bids.pop_last() {
                out.push((Side::Buy, p, 0));
            }
        }
        while self.asks.len() > depth {
            if let Some((p, _)) = self.asks.pop_last() {
                out.push((Side::Sell, p, 0));
            }
        }
    }
}

fn put<K: Ord>(side: &mut BTreeMap<K, i64>, key: K, size: i64) -> i64 {
    if size == 0 {
        side.remove(&key).unwrap_or(0)
    } else {
        side.insert(key, size).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_book_line_removes_what_it_does_not_list_and_depth_cuts_the_rest() {
        let mut book = LineBook::default();
        let mut out = Vec::new();
        book.replace(&[(100, 5), (99, 6)], &[(101, 7)], &mut out);
        assert_eq!(
            out,
            vec![
                (Side::Buy, 100, 5),
                (Side::Buy, 99, 6),
                (Side::Sell, 101, 7)
            ]
        );
        out.clear();
        // Only what changed becomes an event: 100 goes, 99 stays, 98 comes.
        book.replace(&[(99, 6), (98, 1)], &[(101, 7)], &mut out);
        assert_eq!(out, vec![(Side::Buy, 100, 0), (Side::Buy, 98, 1)]);
        out.clear();
        book.set(Side::Buy, 100, 3, &mut out);
        book.set(Side::Buy, 100, 3, &mut out);
        book.truncate(2, &mut out);
        assert_eq!(out, vec![(Side::Buy, 100, 3), (Side::Buy, 98, 0)]);
    }
}
