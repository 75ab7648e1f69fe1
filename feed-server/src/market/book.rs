//! A symbol's order book as the market keeps it: each side's price levels in ticks with their
//! total size in lots, best first, changed one level at a time by the book stream's events.
//!
//! Every copy of a book (the core's and each edge's) is changed by the same events in the same
//! order, so they agree; what a client at a given depth is sent of a change is worked out here
//! ([`Ladder::update_at_depth`]), from the book after the change and the level's size before.

use std::cmp::Reverse;
use std::collections::BTreeMap;

use protocol::Side;

/// Levels a side keeps at most: past it, the level farthest from the touch goes. Far more than
/// any subscription's depth (50), so only a source that sends a huge book reaches it.
pub const MAX_LEVELS: usize = 1_000;

/// One symbol's book in ticks and lots.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ladder {
    bids: BTreeMap<Reverse<i64>, i64>,
    asks: BTreeMap<i64, i64>,
}

/// A level change: side, price in ticks, new size in lots (0 removes the level).
pub type LevelChange = (Side, i64, i64);

impl Ladder {
    /// A book holding only a touch: what a market has before its first event (its quote's).
    pub fn opening(bid: i64, bid_size: i64, ask: i64, ask_size: i64) -> Self {
        let mut book = Self::default();
        book.apply_touch(bid, bid_size, ask, ask_size);
        book
    }

    /// Sets a level's total size (0 removes it); returns its size before (0 if it was absent).
    pub fn set(&mut self, side: Side, price: i64, size: i64) -> i64 {
        let old = match side {
            Side::Buy => set_level(&mut self.bids, Reverse(price), size),
            Side::Sell => set_level(&mut self.asks, price, size),
        };
        match side {
            Side::Buy if self.bids.len() > MAX_LEVELS => drop(self.bids.pop_last()),
            Side::Sell if self.asks.len() > MAX_LEVELS => drop(self.asks.pop_last()),
            _ => {}
        }
        old
    }

    /// A side's levels, best first, as `(price, size)`.
    pub fn side(&self, side: Side) -> Box<dyn Iterator<Item = (i64, i64)> + '_> {
        match side {
            Side::Buy => Box::new(self.bids.iter().map(|(Reverse(p), s)| (*p, *s))),
            Side::Sell => Box::new(self.asks.iter().map(|(p, s)| (*p, *s))),
        }
    }

    /// Levels on a side.
    pub fn len(&self, side: Side) -> usize {
        match side {
            Side::Buy => self.bids.len(),
            Side::Sell => self.asks.len(),
        }
    }

    /// The changes that make the book agree with a quote: levels better than the new bid and
    /// ask go (they would cross it), then the touch gets the quote's sizes. Applying them in
    /// order leaves the quote's bid and ask as the book's best.
    pub fn touch_changes(
        &self,
        bid: i64,
        bid_size: i64,
        ask: i64,
        ask_size: i64,
    ) -> Vec<LevelChange> {
        let mut changes: Vec<LevelChange> = self
            .bids
            .range(..Reverse(bid))
            .map(|(Reverse(p), _)| (Side::Buy, *p, 0))
            .chain(self.asks.range(..ask).map(|(p, _)| (Side::Sell, *p, 0)))
            .collect();
        if self.bids.get(&Reverse(bid)) != Some(&bid_size) && bid_size > 0 {
            changes.push((Side::Buy, bid, bid_size));
        }
        if self.asks.get(&ask) != Some(&ask_size) && ask_size > 0 {
            changes.push((Side::Sell, ask, ask_size));
        }
        changes
    }

    /// Whether the book already agrees with a quote ([`Ladder::touch_changes`] would be empty),
    /// found without allocating: what the core asks of every quote.
    pub fn agrees_with(&self, bid: i64, bid_size: i64, ask: i64, ask_size: i64) -> bool {
        self.bids.range(..Reverse(bid)).next().is_none()
            && self.asks.range(..ask).next().is_none()
            && (bid_size <= 0 || self.bids.get(&Reverse(bid)) == Some(&bid_size))
            && (ask_size <= 0 || self.asks.get(&ask) == Some(&ask_size))
    }

    /// Applies a quote's touch ([`Ladder::touch_changes`]); returns each level it changed with
    /// its size before, `(side, price, old size)`.
    pub fn apply_touch(
        &mut self,
        bid: i64,
        bid_size: i64,
        ask: i64,
        ask_size: i64,
    ) -> Vec<LevelChange> {
        self.touch_changes(bid, bid_size, ask, ask_size)
            .into_iter()
            .map(|(side, price, size)| (side, price, self.set(side, price, size)))
            .collect()
    }

    /// The [`Ladder::window`] at `depth` as it was before `changes` (from
    /// [`Ladder::apply_touch`]).
    pub fn window_before(&self, changes: &[LevelChange], depth: usize) -> [Vec<(i64, i64)>; 2] {
        let mut out = [Vec::new(), Vec::new()];
        for (side, window) in [Side::Buy, Side::Sell].into_iter().zip(&mut out) {
            let mine: Vec<&LevelChange> = changes.iter().filter(|c| c.0 == side).collect();
            window.extend(self.side(side).take(depth + mine.len()));
            for &&(_, price, old) in &mine {
                window.retain(|&(p, _)| p != price);
                if old > 0 {
                    window.push((price, old));
                }
            }
            match side {
                Side::Buy => window.sort_by_key(|&(p, _)| Reverse(p)),
                Side::Sell => window.sort_by_key(|&(p, _)| p),
            }
            window.truncate(depth);
        }
        out
    }

    /// The top `depth` levels of each side, bids then asks: what a client at that depth holds.
    pub fn window(&self, depth: usize) -> [Vec<(i64, i64)>; 2] {
        [
            self.side(Side::Buy).take(depth).collect(),
            self.side(Side::Sell).take(depth).collect(),
        ]
    }

    /// What a client holding `before` (a [`Ladder::window`] at `depth` or deeper) needs to hold
    /// the window now, per side: the levels that are new or changed, and `0` for those that left.
    pub fn window_update(
        &self,
        before: &[Vec<(i64, i64)>; 2],
        depth: usize,
    ) -> [Vec<(i64, i64)>; 2] {
        let now = self.window(depth);
        let mut out = [Vec::new(), Vec::new()];
        for ((was, is), changed) in before.iter().zip(&now).zip(&mut out) {
            let was = &was[..was.len().min(depth)];
            for &(price, size) in is {
                if !was.contains(&(price, size)) {
                    changed.push((price, size));
                }
            }
            for &(price, _) in was {
                if !is.iter().any(|&(p, _)| p == price) {
                    changed.push((price, 0));
                }
            }
        }
        out
    }

    /// What a client holding the top `depth` levels of each side needs of a change at `price`
    /// on `side`, whose size was `old` before and is in the book now: the level itself if it is
    /// (or was) within the depth, plus the level that a removal brings into the depth or an
    /// insertion pushes out of it. As `(price, size)`, 0 removing.
    pub fn update_at_depth(
        &self,
        side: Side,
        price: i64,
        old: i64,
        depth: usize,
    ) -> Vec<(i64, i64)> {
        let now = self.size_at(side, price);
        // Levels better than `price`: its rank, before and after alike.
        let rank = match side {
            Side::Buy => self.bids.range(..Reverse(price)).count(),
            Side::Sell => self.asks.range(..price).count(),
        };
        if rank >= depth || old == now {
            return Vec::new();
        }
        let mut out = vec![(price, now)];
        if old == 0 {
            // Inserted: the level at `depth` (after it) was the last within the depth.
            if let Some((pushed, _)) = self.side(side).nth(depth) {
                out.push((pushed, 0));
            }
        } else if now == 0 {
            // Removed: the level now at `depth - 1` comes into view.
            if let Some(entering) = self.side(side).nth(depth - 1) {
                out.push(entering);
            }
        }
        out
    }

    fn size_at(&self, side: Side, price: i64) -> i64 {
        match side {
            Side::Buy => self.bids.get(&Reverse(price)).copied(),
            Side::Sell => self.asks.get(&price).copied(),
        }
        .unwrap_or(0)
    }
}

fn set_level<K: Ord>(side: &mut BTreeMap<K, i64>, key: K, size: i64) -> i64 {
    if size > 0 {
        side.insert(key, size).unwrap_or(0)
    } else {
        side.remove(&key).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The top `depth` of a side, as a client holds it.
    fn top(l: &Ladder, side: Side, depth: usize) -> Vec<(i64, i64)> {
        l.side(side).take(depth).collect()
    }

    /// A client's copy after applying an update and truncating.
    fn apply(copy: &mut Vec<(i64, i64)>, side: Side, update: &[(i64, i64)], depth: usize) {
        for &(price, size) in update {
            copy.retain(|&(p, _)| p != price);
            if size > 0 {
                copy.push((price, size));
            }
        }
        match side {
            Side::Buy => copy.sort_by_key(|&(p, _)| Reverse(p)),
            Side::Sell => copy.sort_by_key(|&(p, _)| p),
        }
        copy.truncate(depth);
    }

    #[test]
    fn a_client_at_any_depth_follows_random_changes_exactly() {
        let mut state = 12_345_u64;
        let mut next = move |n: u64| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1);
            (state >> 33) % n
        };
        for depth in [1, 3, 10] {
            let mut book = Ladder::default();
            let mut copies = [Vec::new(), Vec::new()];
            for _ in 0..5_000 {
                let side = if next(2) == 0 { Side::Buy } else { Side::Sell };
                let base = if side == Side::Buy { 1_000 } else { 1_021 };
                let offset = i64::try_from(next(20)).unwrap_or(0);
                let price = if side == Side::Buy {
                    base - offset
                } else {
                    base + offset
                };
                let size = if next(4) == 0 {
                    0
                } else {
                    i64::try_from(next(500)).unwrap_or(0) + 1
                };
                let old = book.set(side, price, size);
                let update = book.update_at_depth(side, price, old, depth);
                let copy = &mut copies[usize::from(side == Side::Sell)];
                apply(copy, side, &update, depth);
                assert_eq!(*copy, top(&book, side, depth), "depth {depth}");
            }
        }
    }

    #[test]
    fn window_updates_keep_a_client_at_any_depth_exact_through_touches() {
        let mut book = Ladder::default();
        for k in 0..20 {
            book.set(Side::Buy, 1_000 - k, 100 + k);
            book.set(Side::Sell, 1_001 + k, 100 + k);
        }
        for depth in [1, 3, 10] {
            let mut copy = book.window(depth);
            let mut bid = 1_000;
            for step in 0..200_i64 {
                // The touch wanders up and down, and the spread breathes.
                bid += [1, -2, 3, -1, 0][usize::try_from(step % 5).unwrap_or(0)];
                let ask = bid + 1 + step % 3;
                let before = book.window(50);
                // Sizes repeat every 4 steps, so some quotes already agree with the book.
                let (bid_size, ask_size) = (50 + step % 4, 60 + step % 4);
                assert_eq!(
                    book.agrees_with(bid, bid_size, ask, ask_size),
                    book.touch_changes(bid, bid_size, ask, ask_size).is_empty()
                );
                let changes = book.apply_touch(bid, bid_size, ask, ask_size);
                assert!(book.agrees_with(bid, bid_size, ask, ask_size));
                assert_eq!(book.window_before(&changes, depth), {
                    let [b, a] = &before;
                    [
                        b.iter().take(depth).copied().collect::<Vec<_>>(),
                        a.iter().take(depth).copied().collect(),
                    ]
                });
                let update = book.window_update(&before, depth);
                for (side, i) in [(Side::Buy, 0), (Side::Sell, 1)] {
                    apply(&mut copy[i], side, &update[i], depth);
                }
                assert_eq!(copy, book.window(depth), "depth {depth} step {step}");
            }
        }
    }

    #[test]
    fn a_quote_clears_what_it_crosses_and_sets_the_touch() {
        let mut book = Ladder::default();
        for (side, price, size) in [
            (Side::Buy, 100, 5),
            (Side::Buy, 99, 6),
            (Side::Sell, 101, 7),
            (Side::Sell, 102, 8),
        ] {
            book.set(side, price, size);
        }
        // The market moves up two ticks: 101 is now a bid, 102 and 103 asks.
        let changes = book.touch_changes(101, 3, 103, 4);
        for &(side, price, size) in &changes {
            book.set(side, price, size);
        }
        assert_eq!(top(&book, Side::Buy, 3), [(101, 3), (100, 5), (99, 6)]);
        assert_eq!(top(&book, Side::Sell, 3), [(103, 4)]);
        assert!(
            book.touch_changes(101, 3, 103, 4).is_empty(),
            "already agrees"
        );
    }
}
