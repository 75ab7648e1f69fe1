//! A token bucket in integer nanosecond arithmetic, for per-connection rate limits.

/// Units per token: one token accrues per `1e9 / rate` nanoseconds.
const UNIT: u64 = 1_000_000_000;

/// Allows `rate` events per second with bursts of up to `rate`.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: u64,
    /// Tokens times [`UNIT`]; at most `rate * UNIT`.
    level: u64,
    last_ns: u64,
}

impl TokenBucket {
    /// A full bucket at `now_ns`.
    pub fn new(rate: u32, now_ns: u64) -> Self {
        let rate = u64::from(rate.max(1));
        Self {
            rate,
            level: rate.saturating_mul(UNIT),
            last_ns: now_ns,
        }
    }

    /// Takes one token if there is one. Time going backwards adds nothing.
    pub fn take(&mut self, now_ns: u64) -> bool {
        let elapsed = now_ns.saturating_sub(self.last_ns);
        self.last_ns = self.last_ns.max(now_ns);
        self.level = self
            .level
            .saturating_add(elapsed.saturating_mul(self.rate))
            .min(self.rate.saturating_mul(UNIT));
        if self.level >= UNIT {
            self.level -= UNIT;
            true
        } else {
            false
        }
    }

    /// The configured rate per second.
    pub fn rate(&self) -> u64 {
        self.rate
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_rate_passes_then_one_token_per_interval() {
        let mut b = TokenBucket::new(4, 0);
        assert_eq!((0..10).filter(|_| b.take(0)).count(), 4);
        assert!(!b.take(100_000_000));
        assert!(b.take(250_000_000));
        assert!(!b.take(250_000_000));
        // A long pause refills to the burst, not beyond.
        assert_eq!((0..10).filter(|_| b.take(100_000_000_000)).count(), 4);
    }

    #[test]
    fn extreme_rates_and_clocks_do_not_overflow() {
        let mut b = TokenBucket::new(u32::MAX, u64::MAX);
        assert!(b.take(0));
        assert!(b.take(u64::MAX));
    }
}
