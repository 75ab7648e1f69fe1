//! The synthesizer: a seeded random walk per symbol that yields quotes and trades on a tick grid.
//!
//! The mid price follows a geometric random walk with a weak pull back to the reference price, so
//! prices look alive at any rate yet stay plausible over hours. Everything is in whole ticks and
//! whole shares, so the decimals built from them are exact. The sequence depends only on the seed.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, StandardNormal};

#[cfg(any(test, feature = "testing"))]
use super::event::Due;
use super::event::MarketEvent;
use super::universe::Universe;

#[derive(Debug, Clone)]
struct Walk {
    log_mid: f64,
    log_reference: f64,
    sigma: f64,
    bid: i64,
    ask: i64,
}

/// Produces the event stream for a universe.
#[derive(Debug)]
pub struct Synthesizer {
    rng: SmallRng,
    walks: Vec<Walk>,
}

/// Share of events that are trades.
const TRADE_SHARE: f64 = 0.3;
/// Pull of the log mid toward the reference per quote.
const REVERSION: f64 = 0.0005;

impl Synthesizer {
    pub fn new(universe: &Universe, seed: u64) -> Self {
        let walks = universe
            .instruments
            .iter()
            .map(|i| {
                let mid = i.reference_ticks.max(1) as f64;
                let (bid, ask) = i.opening_top();
                Walk {
                    log_mid: mid.ln(),
                    log_reference: mid.ln(),
                    sigma: i.sigma,
                    bid,
                    ask,
                }
            })
            .collect();
        Self {
            rng: SmallRng::seed_from_u64(seed),
            walks,
        }
    }

    /// The current best bid and ask of a symbol, in ticks.
    pub fn top(&self, symbol: usize) -> (i64, i64) {
        let w = &self.walks[symbol];
        (w.bid, w.ask)
    }

    /// The next `n` events, all due at `due_ns`: a pass's worth, for driving a hub directly.
    #[cfg(any(test, feature = "testing"))]
    pub fn burst(&mut self, n: usize, due_ns: u64) -> Vec<Due> {
        (0..n)
            .map(|_| Due {
                due_ns,
                event: self.next_event(),
                extras: protocol::recording::Extras::NONE,
            })
            .collect()
    }

    /// The next event, for a symbol drawn uniformly.
    pub fn next_event(&mut self) -> MarketEvent {
        let symbol = self.rng.random_range(0..self.walks.len());
        if self.rng.random_bool(TRADE_SHARE) {
            let w = &self.walks[symbol];
            let price = if self.rng.random_bool(0.5) {
                w.ask
            } else {
                w.bid
            };
            let size = if self.rng.random_bool(0.2) {
                self.rng.random_range(1..100)
            } else {
                100 * self.rng.random_range(1..=10)
            };
            MarketEvent::Trade {
                symbol,
                price,
                size,
            }
        } else {
            let z: f64 = StandardNormal.sample(&mut self.rng);
            let spread = match self.rng.random_range(0..10) {
                0..=6 => 1,
                7 | 8 => 2,
                _ => 3,
            };
            let bid_size = 100 * self.rng.random_range(1..=20);
            let ask_size = 100 * self.rng.random_range(1..=20);
            let w = &mut self.walks[symbol];
            w.log_mid += w.sigma * z - REVERSION * (w.log_mid - w.log_reference);
            let mid = w.log_mid.exp();
            let bid = ((mid - spread as f64 / 2.0).floor() as i64).max(1);
            w.bid = bid;
            w.ask = bid + spread;
            MarketEvent::Quote {
                symbol,
                bid,
                bid_size,
                ask: w.ask,
                ask_size,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feed::SymbolChoice;

    #[test]
    fn the_same_seed_gives_the_same_events() {
        let u = Universe::new(&SymbolChoice::Default, 1);
        let (mut a, mut b) = (Synthesizer::new(&u, 7), Synthesizer::new(&u, 7));
        for _ in 0..1000 {
            assert_eq!(a.next_event(), b.next_event());
        }
        let mut c = Synthesizer::new(&u, 8);
        assert!((0..100).any(|_| a.next_event() != c.next_event()));
    }

    #[test]
    fn quotes_keep_a_positive_spread_and_trades_happen_at_the_touch() {
        let u = Universe::new(&SymbolChoice::Default, 1);
        let mut s = Synthesizer::new(&u, 3);
        let (mut quotes, mut trades) = (0, 0);
        for _ in 0..20_000 {
            let before: Vec<(i64, i64)> = (0..u.len()).map(|i| s.top(i)).collect();
            match s.next_event() {
                MarketEvent::Quote {
                    bid,
                    ask,
                    bid_size,
                    ask_size,
                    ..
                } => {
                    assert!(bid >= 1 && ask > bid && ask - bid <= 3);
                    assert!(bid_size > 0 && ask_size > 0);
                    quotes += 1;
                }
                MarketEvent::Trade {
                    symbol,
                    price,
                    size,
                } => {
                    let (bid, ask) = before[symbol];
                    assert!(price == bid || price == ask);
                    assert!(size > 0);
                    trades += 1;
                }
                MarketEvent::Level { .. }
                | MarketEvent::Touch { .. }
                | MarketEvent::Resync { .. } => {
                    panic!("the walk makes no book events")
                }
            }
        }
        assert!(
            quotes > 12_000 && trades > 4_000,
            "{quotes} quotes, {trades} trades"
        );
    }

    #[test]
    fn prices_stay_near_their_reference_over_a_long_run() {
        let u = Universe::new(&SymbolChoice::Default, 1);
        let mut s = Synthesizer::new(&u, 11);
        for _ in 0..2_000_000 {
            s.next_event();
        }
        for (i, inst) in u.instruments.iter().enumerate() {
            let (bid, _) = s.top(i);
            let ratio = bid as f64 / inst.reference_ticks as f64;
            assert!(
                (0.7..1.4).contains(&ratio),
                "{} drifted to {ratio}",
                inst.symbol
            );
        }
    }
}
