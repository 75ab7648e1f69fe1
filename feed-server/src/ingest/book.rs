//! A venue's order book for one symbol, in ticks and lots, and what of it the server was told.
//!
//! A venue sends a deep book (Binance's REST snapshot has 1,000 levels a side, Coinbase's
//! every level) and changes anywhere in it. The server keeps the top `depth` levels a side
//! (`--ingest-depth`), so after each venue message [`VenueBook::flush`] compares the venue's
//! top levels with the ones the server last heard of and emits only the differences as level
//! events, removals first: a level that falls out of the window is removed, one that comes into
//! it is added. A quote follows whenever the best bid or ask (price or size) changes, so the
//! quote stream and the book agree. A re-sync replaces the venue book and flushes the same way,
//! then ends with a [`MarketEvent::Resync`]: clients' books move from the old book to the new
//! one without a gap, and each book subscriber is sent the new one as a fresh `book`.

use std::cmp::Reverse;
use std::collections::BTreeMap;

use protocol::Side;
use protocol::recording::MarketEvent;

use super::grid::{BadLevel, Grid};

/// Most levels a side kept of a venue's book; past it the levels farthest from the touch go.
/// A venue's diffs reach levels far below any snapshot, and a client sees the top 50 at most.
pub const MAX_VENUE_LEVELS: usize = 10_000;

/// The best bid and ask, `(bid, bid size, ask, ask size)` in ticks and lots.
type Top = (i64, i64, i64, i64);

/// One symbol's book at a venue.
#[derive(Debug, Clone)]
pub struct VenueBook {
    /// The symbol's index in the server's universe.
    symbol: usize,
    depth: usize,
    bids: BTreeMap<Reverse<i64>, i64>,
    asks: BTreeMap<i64, i64>,
    /// The levels the server's book holds, as this book last sent them.
    sent_bids: BTreeMap<Reverse<i64>, i64>,
    sent_asks: BTreeMap<i64, i64>,
    last_top: Option<Top>,
    /// Whether a flush follows a change of the best bid or ask with a quote.
    quotes: bool,
    /// What the next flush has to do.
    pending: Pending,
}

/// What changed since the last flush.
#[derive(Debug, Clone, Copy)]
struct Pending {
    /// A side changed inside the window the server holds (or the window is not full): only
    /// then does a flush compare it, so a change deep in the book costs no diff.
    bids: bool,
    asks: bool,
    /// The book was cleared for a snapshot: the flush ends with a re-sync.
    replaced: bool,
}

impl VenueBook {
    /// An empty book whose server copy holds `opening` (the market's opening touch, which the
    /// first flush removes).
    pub fn new(symbol: usize, depth: usize, opening: (i64, i64, i64)) -> Self {
        let (bid, ask, size) = opening;
        Self {
            symbol,
            depth: depth.max(1),
            bids: BTreeMap::new(),
            asks: BTreeMap::new(),
            sent_bids: BTreeMap::from([(Reverse(bid), size)]),
            sent_asks: BTreeMap::from([(ask, size)]),
            last_top: None,
            quotes: true,
            pending: Pending {
                bids: true,
                asks: true,
                replaced: false,
            },
        }
    }

    /// A book whose flushes make level events only: for a source whose quotes come apart from
    /// its book (a relayed Tickwire server's own quotes).
    #[must_use]
    pub fn without_quotes(mut self) -> Self {
        self.quotes = false;
        self
    }

    /// Empties the venue's side of the book (before a snapshot); the server's copy is left
    /// until the next flush, which ends with a re-sync.
    pub fn clear(&mut self) {
        self.bids.clear();
        self.asks.clear();
        self.pending.bids = true;
        self.pending.asks = true;
        self.pending.replaced = true;
    }

    /// Sets a level from the venue's text: a size of zero, however written, removes it.
    pub fn set_text(
        &mut self,
        grid: &Grid,
        side: Side,
        price: &str,
        size: &str,
    ) -> Result<(), BadLevel> {
        let price = grid.price(price)?;
        let size = grid.size(size)?;
        self.set(side, price, size);
        Ok(())
    }

    /// Sets every level it can of a side from the venue's text; a level that is not on the grid
    /// (or too far from zero for it) is skipped, and the first such is the error returned once
    /// the others are in. One absurd level must not cost the whole book.
    pub fn set_all<'t>(
        &mut self,
        grid: &Grid,
        side: Side,
        levels: impl IntoIterator<Item = (&'t str, &'t str)>,
    ) -> Result<(), BadLevel> {
        let mut first = Ok(());
        for (price, size) in levels {
            if let Err(e) = self.set_text(grid, side, price, size)
                && first.is_ok()
            {
                first = Err(e);
            }
        }
        first
    }

    /// Sets a level in ticks and lots; 0 removes it.
    pub fn set(&mut self, side: Side, price: i64, size: i64) {
        match side {
            Side::Buy => {
                let full = self.sent_bids.len() >= self.depth;
                if !full
                    || self
                        .sent_bids
                        .last_key_value()
                        .is_none_or(|(w, _)| price >= w.0)
                {
                    self.pending.bids = true;
                }
                if size == 0 {
                    self.bids.remove(&Reverse(price));
                } else {
                    self.bids.insert(Reverse(price), size);
                    if self.bids.len() > MAX_VENUE_LEVELS {
                        self.bids.pop_last();
                    }
                }
            }
            Side::Sell => {
                let full = self.sent_asks.len() >= self.depth;
                if !full
                    || self
                        .sent_asks
                        .last_key_value()
                        .is_none_or(|(w, _)| price <= *w)
                {
                    self.pending.asks = true;
                }
                if size == 0 {
                    self.asks.remove(&price);
                } else {
                    self.asks.insert(price, size);
                    if self.asks.len() > MAX_VENUE_LEVELS {
                        self.asks.pop_last();
                    }
                }
            }
        }
    }

    /// Cuts each side to its best `n` levels.
    pub fn truncate(&mut self, n: usize) {
        while self.bids.len() > n {
            self.bids.pop_last();
        }
        while self.asks.len() > n {
            self.asks.pop_last();
        }
    }

    /// The best bid and ask, if both sides have a level.
    pub fn top(&self) -> Option<Top> {
        let (Reverse(bid), bid_size) = self.bids.iter().next()?;
        let (ask, ask_size) = self.asks.iter().next()?;
        Some((*bid, *bid_size, *ask, *ask_size))
    }

    /// Levels a side, `(bids, asks)`.
    pub fn len(&self) -> (usize, usize) {
        (self.bids.len(), self.asks.len())
    }

    /// The top `n` levels of a side, best first: `(price, size)` in ticks and lots.
    pub fn levels(&self, side: Side, n: usize) -> Vec<(i64, i64)> {
        match side {
            Side::Buy => self
                .bids
                .iter()
                .take(n)
                .map(|(Reverse(p), s)| (*p, *s))
                .collect(),
            Side::Sell => self.asks.iter().take(n).map(|(p, s)| (*p, *s)).collect(),
        }
    }

    /// Emits the level events that take the server's book to this book's top `depth` levels
    /// (removals first), a re-sync if the book was replaced, then a quote if the best bid or
    /// ask changed.
    pub fn flush(&mut self, out: &mut Vec<MarketEvent>) {
        let symbol = self.symbol;
        let level = |side, price, size| MarketEvent::Level {
            symbol,
            side,
            price,
            size,
        };
        if std::mem::take(&mut self.pending.bids) {
            diff(
                &mut self.sent_bids,
                &self.bids,
                self.depth,
                |Reverse(p), s| {
                    out.push(level(Side::Buy, p, s));
                },
            );
        }
        if std::mem::take(&mut self.pending.asks) {
            diff(&mut self.sent_asks, &self.asks, self.depth, |p, s| {
                out.push(level(Side::Sell, p, s));
            });
        }
        if std::mem::take(&mut self.pending.replaced) {
            out.push(MarketEvent::Resync { symbol });
        }
        let top = self.top();
        if self.quotes
            && top != self.last_top
            && let Some((bid, bid_size, ask, ask_size)) = top
        {
            out.push(MarketEvent::Quote {
                symbol,
                bid,
                bid_size,
                ask,
                ask_size,
            });
        }
        if top.is_some() {
            self.last_top = top;
        }
    }
}

/// Brings `sent` to the top `depth` levels of `book` (both ordered best first), calling `emit`
/// for each change: first every level to remove (size 0), then every level added or resized.
/// One merge of the two ordered maps, nothing allocated but the removals.
fn diff<K: Ord + Copy>(
    sent: &mut BTreeMap<K, i64>,
    book: &BTreeMap<K, i64>,
    depth: usize,
    mut emit: impl FnMut(K, i64),
) {
    let window = || book.iter().take(depth);
    // The last key in the window: sent levels beyond it, or absent from the book, go.
    let edge = window().last().map(|(k, _)| *k);
    let gone: Vec<K> = sent
        .keys()
        .filter(|k| edge.is_none_or(|e| **k > e) || !book.contains_key(k))
        .copied()
        .collect();
    for key in gone {
        sent.remove(&key);
        emit(key, 0);
    }
    for (&key, &size) in window() {
        if sent.insert(key, size) != Some(size) {
            emit(key, size);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changes(out: &[MarketEvent]) -> Vec<(Side, i64, i64)> {
        out.iter()
            .filter_map(|e| match *e {
                MarketEvent::Level {
                    side, price, size, ..
                } => Some((side, price, size)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn the_first_flush_replaces_the_opening_touch_and_quotes_the_top() {
        let mut book = VenueBook::new(3, 2, (99, 100, 100));
        book.set(Side::Buy, 95, 5);
        book.set(Side::Buy, 94, 6);
        book.set(Side::Buy, 93, 7);
        book.set(Side::Sell, 97, 8);
        let mut out = Vec::new();
        book.flush(&mut out);
        assert_eq!(
            changes(&out),
            vec![
                (Side::Buy, 99, 0),
                (Side::Buy, 95, 5),
                (Side::Buy, 94, 6),
                (Side::Sell, 100, 0),
                (Side::Sell, 97, 8)
            ]
        );
        assert_eq!(
            out.last(),
            Some(&MarketEvent::Quote {
                symbol: 3,
                bid: 95,
                bid_size: 5,
                ask: 97,
                ask_size: 8
            })
        );
    }

    #[test]
    fn a_replaced_book_flushes_its_changes_then_one_resync_before_the_quote() {
        let mut book = VenueBook::new(1, 3, (99, 100, 100));
        book.set(Side::Buy, 95, 5);
        book.set(Side::Sell, 97, 8);
        let mut out = Vec::new();
        book.flush(&mut out);
        assert!(!out.contains(&MarketEvent::Resync { symbol: 1 }));
        out.clear();
        // A snapshot: 95 stays, 94 comes, the ask moves.
        book.clear();
        book.set(Side::Buy, 95, 5);
        book.set(Side::Buy, 94, 1);
        book.set(Side::Sell, 96, 2);
        book.flush(&mut out);
        assert_eq!(
            changes(&out),
            vec![(Side::Buy, 94, 1), (Side::Sell, 97, 0), (Side::Sell, 96, 2)]
        );
        let resync = out
            .iter()
            .position(|e| *e == MarketEvent::Resync { symbol: 1 });
        assert_eq!(resync, Some(3), "{out:?}");
        assert!(matches!(
            out.get(4),
            Some(MarketEvent::Quote { ask: 96, .. })
        ));
        // Once: the next flush is an ordinary one.
        out.clear();
        book.set(Side::Buy, 94, 2);
        book.flush(&mut out);
        assert_eq!(
            out,
            vec![MarketEvent::Level {
                symbol: 1,
                side: Side::Buy,
                price: 94,
                size: 2
            }]
        );
    }

    #[test]
    fn a_level_leaving_the_window_brings_the_next_one_in_and_nothing_else_is_sent() {
        let mut book = VenueBook::new(0, 2, (99, 100, 100));
        for (p, s) in [(95, 5), (94, 6), (93, 7)] {
            book.set(Side::Buy, p, s);
        }
        book.set(Side::Sell, 97, 8);
        let mut out = Vec::new();
        book.flush(&mut out);
        out.clear();
        // A change below the window sends nothing.
        book.set(Side::Buy, 90, 1);
        book.flush(&mut out);
        assert!(out.is_empty(), "{out:?}");
        // The best bid goes: 93 comes in, and the quote follows.
        book.set(Side::Buy, 95, 0);
        book.flush(&mut out);
        assert_eq!(changes(&out), vec![(Side::Buy, 95, 0), (Side::Buy, 93, 7)]);
        assert!(matches!(
            out.last(),
            Some(MarketEvent::Quote { bid: 94, .. })
        ));
    }

    #[test]
    fn zeros_in_any_spelling_remove_and_off_grid_prices_are_refused() {
        let grid = Grid {
            tick: protocol::Decimal::new(1, 2),
            lot: protocol::Decimal::new(1, 3),
        };
        let mut book = VenueBook::new(0, 10, (1, 2, 100));
        book.set_text(&grid, Side::Sell, "10.01", "1.500")
            .unwrap_or_default();
        assert_eq!(book.len(), (0, 1));
        for zero in ["0.00000000", "0.000", "0.00", "0"] {
            book.set_text(&grid, Side::Sell, "10.01", "2")
                .unwrap_or_default();
            book.set_text(&grid, Side::Sell, "10.01", zero)
                .unwrap_or_default();
            assert_eq!(book.len(), (0, 0), "{zero}");
        }
        assert!(book.set_text(&grid, Side::Buy, "10.015", "1").is_err());
        assert!(book.set_text(&grid, Side::Buy, "ten", "1").is_err());
    }
}
