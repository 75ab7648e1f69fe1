//! The synthesizer's order books: levels behind the touch that appear, grow, shrink and vanish,
//! mostly near the touch, with sizes that grow away from it. Seeded and deterministic, like the
//! walk; its own random stream, so adding depth leaves the quotes and trades of a seed as they
//! were.
//!
//! The touch itself belongs to the walk's quotes (the market makes the book agree with each
//! quote); this adds the levels behind it, one [`MarketEvent::Level`] at a time, and takes each
//! trade's size from the touch it traded at (keeping a round lot there, so the book's best prices
//! stay the last quote's until the next quote moves them).

use std::collections::{BTreeSet, VecDeque};

use protocol::Side;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::event::MarketEvent;
use super::walk::Synthesizer;

/// Levels a side the market keeps (`market::book::MAX_LEVELS`), which the synthesizer's picture
/// of each book keeps too.
const MAX_LEVELS: usize = 1_000;
/// Levels a side each synthesized book opens with, behind the touch.
pub const OPENING_LEVELS: i64 = 50;
/// Opening books are built only for universes up to this many symbols (100 events each);
/// larger universes build their books from `--book-rate` alone.
pub const MAX_OPENING_SYMBOLS: usize = 2_000;
/// How fast the chance of a change falls with the distance from the touch: each tick further
/// away is this much as likely, so about 80% of changes land within 10 ticks.
const NEARNESS: f64 = 0.85;
/// Share of changes that empty their level.
const VANISH: f64 = 0.15;
/// After a quote moves the touch, empty prices this close to it are filled (each with
/// [`REFILL`] odds), as market makers quote around a new price: without it a book that the touch
/// runs away from keeps a hole where the touch was.
const REFILL_LEVELS: i64 = 3;
const REFILL: f64 = 0.8;

/// The prices with a level on each side of one symbol's book, as the synthesizer made it.
#[derive(Debug, Clone, Default)]
struct Occupied {
    bids: BTreeSet<i64>,
    asks: BTreeSet<i64>,
}

impl Occupied {
    fn side(&mut self, side: Side) -> &mut BTreeSet<i64> {
        match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        }
    }

    fn set(&mut self, side: Side, price: i64, size: i64) {
        if size > 0 {
            self.side(side).insert(price);
        } else {
            self.side(side).remove(&price);
        }
    }
}

/// Makes book level events for the walk's symbols.
#[derive(Debug)]
pub struct DepthSynth {
    rng: SmallRng,
    symbols: usize,
    /// Events due at once: the opening books, then the refills after a quote.
    opening: VecDeque<MarketEvent>,
    books: Vec<Occupied>,
    /// Each symbol's touch as the last quote and the trades since left it: bid, its size, ask,
    /// its size.
    touches: Vec<(i64, i64, i64, i64)>,
}

/// What a trade leaves at least at the touch it traded at: one round lot.
const ROUND_LOT: i64 = 100;

impl DepthSynth {
    pub fn new(walk: &Synthesizer, symbols: usize, seed: u64) -> Self {
        let mut depth = Self {
            rng: SmallRng::seed_from_u64(seed ^ 0x6465_7074_6862_6f6f),
            symbols,
            opening: VecDeque::new(),
            books: vec![Occupied::default(); symbols],
            touches: vec![(0, 0, 0, 0); symbols],
        };
        if symbols <= MAX_OPENING_SYMBOLS {
            for symbol in 0..symbols {
                for k in 1..=OPENING_LEVELS {
                    for side in [Side::Buy, Side::Sell] {
                        let size = depth.size(k);
                        let price = behind(walk, symbol, side, k);
                        depth.queue(symbol, side, price, size);
                    }
                }
            }
        }
        depth
    }

    /// The events due at once still to come: the opening books, and the refills after the
    /// last quote.
    pub fn opening(&mut self) -> Option<MarketEvent> {
        self.opening.pop_front()
    }

    /// Follows a quote of the walk: the market clears what it crosses and sets the touch, and
    /// empty prices near the new touch are refilled (due with the quote).
    pub fn after(&mut self, event: &MarketEvent) {
        let (symbol, bid, bid_size, ask, ask_size) = match *event {
            MarketEvent::Quote {
                symbol,
                bid,
                bid_size,
                ask,
                ask_size,
            } => (symbol, bid, bid_size, ask, ask_size),
            MarketEvent::Trade {
                symbol,
                price,
                size,
            } => return self.take(symbol, price, size),
            MarketEvent::Level { .. } | MarketEvent::Touch { .. } | MarketEvent::Resync { .. } => {
                return;
            }
        };
        if let Some(touch) = self.touches.get_mut(symbol) {
            *touch = (bid, bid_size, ask, ask_size);
        }
        let Some(book) = self.books.get_mut(symbol) else {
            return;
        };
        // What the quote crossed goes; far levels go as the market's do past its limit.
        drop(book.bids.split_off(&bid.saturating_add(1)));
        book.asks = book.asks.split_off(&ask);
        book.bids.insert(bid);
        book.asks.insert(ask);
        while book.bids.len() > MAX_LEVELS {
            book.bids.pop_first();
        }
        while book.asks.len() > MAX_LEVELS {
            book.asks.pop_last();
        }
        for k in 1..=REFILL_LEVELS {
            for (side, price) in [
                (Side::Buy, bid.saturating_sub(k)),
                (Side::Sell, ask.saturating_add(k)),
            ] {
                let empty = !self.books[symbol].side(side).contains(&price);
                if price >= 1 && empty && self.rng.random_bool(REFILL) {
                    let size = self.size(k);
                    self.queue(symbol, side, price, size);
                }
            }
        }
        // A book the touch ran into keeps its depth: levels are added past the deepest.
        for (side, touch) in [(Side::Buy, bid), (Side::Sell, ask)] {
            while self.books[symbol].side(side).len() < OPENING_LEVELS as usize {
                let deepest = match side {
                    Side::Buy => self.books[symbol].bids.first().copied(),
                    Side::Sell => self.books[symbol].asks.last().copied(),
                };
                let Some(deepest) = deepest else { break };
                let price = match side {
                    Side::Buy => deepest.saturating_sub(1),
                    Side::Sell => deepest.saturating_add(1),
                };
                if price < 1 {
                    break;
                }
                let size = self.size(price.abs_diff(touch).try_into().unwrap_or(i64::MAX));
                self.queue(symbol, side, price, size);
            }
        }
    }

    /// A trade takes its size from the touch it traded at: the ask for a trade at or above it,
    /// the bid at or below it; what is left is due at once, at least a round lot.
    fn take(&mut self, symbol: usize, price: i64, size: i64) {
        let Some(touch) = self.touches.get_mut(symbol) else {
            return;
        };
        let (bid, ask) = (touch.0, touch.2);
        let (side, level, left) = if ask > 0 && price >= ask {
            (Side::Sell, ask, &mut touch.3)
        } else if bid > 0 && price <= bid {
            (Side::Buy, bid, &mut touch.1)
        } else {
            return;
        };
        let before = *left;
        let now = before.saturating_sub(size).max(ROUND_LOT.min(before));
        *left = now;
        if now != before && now > 0 {
            self.queue(symbol, side, level, now);
        }
    }

    /// The next change: a symbol drawn uniformly, a side, a distance from the touch.
    pub fn next_event(&mut self, walk: &Synthesizer) -> Option<MarketEvent> {
        if self.symbols == 0 {
            return None;
        }
        let symbol = self.rng.random_range(0..self.symbols);
        let side = if self.rng.random_bool(0.5) {
            Side::Buy
        } else {
            Side::Sell
        };
        // A geometric distance: 1 tick behind the touch is the likeliest.
        let mut k = 1;
        while k < OPENING_LEVELS && self.rng.random_bool(NEARNESS) {
            k += 1;
        }
        let size = if self.rng.random_bool(VANISH) {
            0
        } else {
            self.size(k)
        };
        let price = behind(walk, symbol, side, k);
        if let Some(book) = self.books.get_mut(symbol) {
            book.set(side, price, size);
        }
        Some(MarketEvent::Level {
            symbol,
            side,
            price,
            size,
        })
    }

    /// Notes a level in the picture of its book and queues its event, due at once.
    fn queue(&mut self, symbol: usize, side: Side, price: i64, size: i64) {
        if let Some(book) = self.books.get_mut(symbol) {
            book.set(side, price, size);
        }
        self.opening.push_back(MarketEvent::Level {
            symbol,
            side,
            price,
            size,
        });
    }

    /// A level's size `k` ticks from the touch, in round lots of 100: larger further away.
    fn size(&mut self, k: i64) -> i64 {
        let most = 4 + k / 2;
        100 * self.rng.random_range(1..=most)
    }
}

/// The price `k` ticks behind the symbol's touch on `side` (never below one tick).
fn behind(walk: &Synthesizer, symbol: usize, side: Side, k: i64) -> i64 {
    let (bid, ask) = walk.top(symbol);
    match side {
        Side::Buy => bid.saturating_sub(k).max(1),
        Side::Sell => ask.saturating_add(k),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feed::SymbolChoice;
    use crate::feed::universe::Universe;

    #[test]
    fn opening_books_are_full_and_changes_stay_behind_the_touch() {
        let u = Universe::new(&SymbolChoice::Default, 1);
        let walk = Synthesizer::new(&u, 1);
        let mut depth = DepthSynth::new(&walk, u.len(), 1);
        let mut opening = 0;
        while depth.opening().is_some() {
            opening += 1;
        }
        assert_eq!(opening, u.len() * 100);
        let (mut near, mut vanished) = (0, 0);
        for _ in 0..10_000 {
            let Some(MarketEvent::Level {
                symbol,
                side,
                price,
                size,
            }) = depth.next_event(&walk)
            else {
                panic!("a level");
            };
            let (bid, ask) = walk.top(symbol);
            let k = match side {
                Side::Buy => bid - price,
                Side::Sell => price - ask,
            };
            assert!((1..=OPENING_LEVELS).contains(&k), "{k}");
            near += usize::from(k <= 10);
            vanished += usize::from(size == 0);
        }
        assert!(near > 7_000, "{near} of 10,000 within 10 ticks");
        assert!((1_000..2_000).contains(&vanished), "{vanished}");
    }

    #[test]
    fn books_stay_dense_near_a_moving_touch() {
        let u = Universe::new(&SymbolChoice::Default, 1);
        let mut walk = Synthesizer::new(&u, 5);
        let mut depth = DepthSynth::new(&walk, u.len(), 5);
        while depth.opening().is_some() {}
        let (mut quotes, mut refills) = (0_u64, 0_u64);
        for n in 0..40_000 {
            let event = walk.next_event();
            quotes += u64::from(matches!(event, MarketEvent::Quote { .. }));
            depth.after(&event);
            while depth.opening().is_some() {
                refills += 1;
            }
            // Book changes at half the rate of quotes and trades.
            if n % 2 == 0 {
                depth.next_event(&walk);
            }
        }
        // Prices with a level within 10 ticks behind the touch, over every symbol and side.
        let mut near = 0;
        for (symbol, book) in depth.books.iter().enumerate() {
            let (bid, ask) = walk.top(symbol);
            near += (1..=10).filter(|k| book.bids.contains(&(bid - k))).count();
            near += (1..=10).filter(|k| book.asks.contains(&(ask + k))).count();
        }
        for book in &depth.books {
            assert!(
                book.bids.len() >= 50 && book.asks.len() >= 50,
                "the books stay 50 deep"
            );
        }
        let share = near as f64 / (u.len() * 20) as f64;
        assert!(
            share > 0.5,
            "{share} of the prices near the touch have a level"
        );
        eprintln!("{share:.2} of the prices within 10 ticks have a level");
        let per_quote = refills as f64 / quotes as f64;
        assert!(per_quote < 8.0, "{per_quote} refills a quote");
        eprintln!("{per_quote:.2} refill events per quote");
    }

    #[test]
    fn a_trade_takes_its_size_from_the_touch_it_traded_at_keeping_a_round_lot() {
        let universe = Universe::new(&SymbolChoice::Default, 1);
        let walk = Synthesizer::new(&universe, 1);
        // No opening books: only what the trades make comes out.
        let mut depth = DepthSynth::new(&walk, 1, 1);
        let quote = MarketEvent::Quote {
            symbol: 0,
            bid: 999,
            bid_size: 400,
            ask: 1_000,
            ask_size: 500,
        };
        while depth.opening().is_some() {}
        depth.after(&quote);
        while depth.opening().is_some() {}
        let trade = |price, size| MarketEvent::Trade {
            symbol: 0,
            price,
            size,
        };
        let level = |side, price, size| MarketEvent::Level {
            symbol: 0,
            side,
            price,
            size,
        };
        depth.after(&trade(1_000, 300));
        assert_eq!(depth.opening(), Some(level(Side::Sell, 1_000, 200)));
        depth.after(&trade(1_000, 1_000));
        assert_eq!(depth.opening(), Some(level(Side::Sell, 1_000, 100)));
        // The round lot stays: nothing more to take.
        depth.after(&trade(1_000, 50));
        assert_eq!(depth.opening(), None);
        depth.after(&trade(999, 150));
        assert_eq!(depth.opening(), Some(level(Side::Buy, 999, 250)));
        // Between the bid and the ask there is no level to take from.
        depth.after(&MarketEvent::Quote {
            symbol: 0,
            bid: 990,
            bid_size: 100,
            ask: 1_000,
            ask_size: 100,
        });
        while depth.opening().is_some() {}
        depth.after(&trade(995, 10));
        assert_eq!(depth.opening(), None);
    }
}
