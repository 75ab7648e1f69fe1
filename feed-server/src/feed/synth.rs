//! Synthesis as a source: the seeded random walk at a fixed rate, spread evenly in time.

use super::source::{Source, Step};
use super::universe::Universe;
use super::walk::Synthesizer;

/// `rate` synthesized events per second, forever; event `n` is at `n / rate` seconds.
#[derive(Debug)]
pub struct SynthSource {
    synth: Synthesizer,
    rate: u64,
    produced: u64,
}

impl SynthSource {
    pub fn new(universe: &Universe, seed: u64, rate: u64) -> Self {
        Self {
            synth: Synthesizer::new(universe, seed),
            rate: rate.max(1),
            produced: 0,
        }
    }

    /// When event `n` is due on the source clock.
    fn at(&self, n: u64) -> u64 {
        u64::try_from(u128::from(n) * 1_000_000_000 / u128::from(self.rate)).unwrap_or(u64::MAX)
    }
}

impl Source for SynthSource {
    fn next_step(&mut self) -> Result<Option<Step>, String> {
        let at_ns = self.at(self.produced);
        self.produced += 1;
        Ok(Some(Step::Event {
            at_ns,
            event: self.synth.next_event(),
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
        let mut s = SynthSource::new(&u, 1, 4_000);
        let times: Vec<u64> = (0..5)
            .map(|_| match s.next_step() {
                Ok(Some(Step::Event { at_ns, .. })) => at_ns,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(times, [0, 250_000, 500_000, 750_000, 1_000_000]);
    }
}
