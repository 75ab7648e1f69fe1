//! Synthesis as a source: the seeded random walk at a fixed rate, spread evenly in time, and
//! the books behind it at their own rate.

use super::depth::DepthSynth;
use super::source::{Source, Step};
use super::universe::Universe;
use super::walk::Synthesizer;
use protocol::recording::Extras;

/// `rate` quotes and trades per second and `book_rate` book changes per second, forever; quote
/// or trade `n` is at `n / rate` seconds, book change `n` at `n / book_rate`. The opening books
/// come first, at once.
#[derive(Debug)]
pub struct SynthSource {
    synth: Synthesizer,
    depth: DepthSynth,
    rate: u64,
    book_rate: u64,
    produced: u64,
    book_produced: u64,
}

impl SynthSource {
    pub fn new(universe: &Universe, seed: u64, rate: u64, book_rate: u64) -> Self {
        let synth = Synthesizer::new(universe, seed);
        let depth = if book_rate > 0 {
            DepthSynth::new(&synth, universe.len(), seed)
        } else {
            DepthSynth::new(&synth, 0, seed)
        };
        Self {
            synth,
            depth,
            rate: rate.max(1),
            book_rate,
            produced: 0,
            book_produced: 0,
        }
    }

    /// When event `n` is due on the source clock at `rate` a second.
    fn at(rate: u64, n: u64) -> u64 {
        u64::try_from(u128::from(n) * 1_000_000_000 / u128::from(rate.max(1))).unwrap_or(u64::MAX)
    }
}

impl Source for SynthSource {
    fn next_step(&mut self) -> Result<Option<Step>, String> {
        if let Some(event) = self.depth.opening() {
            // The opening books at once; a quote's refills with the quote.
            let at_ns = self
                .produced
                .checked_sub(1)
                .map_or(0, |n| Self::at(self.rate, n));
            return Ok(Some(Step::Event {
                at_ns,
                event,
                extras: Extras::NONE,
            }));
        }
        let at_ns = Self::at(self.rate, self.produced);
        if self.book_rate > 0 {
            let book_at = Self::at(self.book_rate, self.book_produced);
            if book_at < at_ns
                && let Some(event) = self.depth.next_event(&self.synth)
            {
                self.book_produced += 1;
                return Ok(Some(Step::Event {
                    at_ns: book_at,
                    event,
                    extras: Extras::NONE,
                }));
            }
        }
        self.produced += 1;
        let event = self.synth.next_event();
        if self.book_rate > 0 {
            self.depth.after(&event);
        }
        Ok(Some(Step::Event {
            at_ns,
            event,
            extras: Extras::NONE,
        }))
    }

    fn skippable(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feed::SymbolChoice;

    #[test]
    fn events_are_spread_evenly_at_the_rate() {
        let u = Universe::new(&SymbolChoice::Default, 1);
        let mut s = SynthSource::new(&u, 1, 4_000, 0);
        let times: Vec<u64> = (0..5)
            .map(|_| match s.next_step() {
                Ok(Some(Step::Event { at_ns, .. })) => at_ns,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(times, [0, 250_000, 500_000, 750_000, 1_000_000]);
    }
}
