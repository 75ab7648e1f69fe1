//! Latency statistics: a whole-session histogram and a sliding 10-second window.

use hdrhistogram::Histogram;

/// Seconds the recent window covers.
pub const WINDOW_SECS: u64 = 10;

/// Percentiles of one histogram, in nanoseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    pub count: u64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

/// A latency histogram in nanoseconds: 1 ns to 1 hour at 3 significant digits.
pub(crate) fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000_000, 3)
        .expect("constant histogram bounds are valid")
}

fn summarize(h: &Histogram<u64>) -> Summary {
    if h.is_empty() {
        return Summary::default();
    }
    Summary {
        count: h.len(),
        p50: h.value_at_quantile(0.5),
        p90: h.value_at_quantile(0.9),
        p99: h.value_at_quantile(0.99),
        p999: h.value_at_quantile(0.999),
        max: h.max(),
    }
}

/// Session and last-10-s statistics of one kind of latency.
///
/// The window is kept as a running histogram: each second's slot is added as it is recorded and
/// subtracted when it expires, so reading the window costs no merge.
#[derive(Debug)]
pub struct LatencyStats {
    session: Histogram<u64>,
    window: Histogram<u64>,
    /// One histogram per second, indexed by `second % WINDOW_SECS`; `u64::MAX` marks an empty slot.
    slots: Vec<(u64, Histogram<u64>)>,
    advanced_to: u64,
}

impl Default for LatencyStats {
    fn default() -> Self {
        Self {
            session: histogram(),
            window: histogram(),
            slots: (0..WINDOW_SECS).map(|_| (u64::MAX, histogram())).collect(),
            advanced_to: 0,
        }
    }
}

impl LatencyStats {
    /// Records a latency (ns) observed at `now_s` (any monotonic seconds count).
    pub fn record(&mut self, now_s: u64, latency_ns: u64) {
        self.advance(now_s);
        let value = latency_ns.max(1);
        self.session.saturating_record(value);
        self.window.saturating_record(value);
        let slot = &mut self.slots[(now_s % WINDOW_SECS) as usize];
        slot.0 = now_s;
        slot.1.saturating_record(value);
    }

    /// Drops the seconds that have left the window by `now_s`.
    pub fn advance(&mut self, now_s: u64) {
        if now_s <= self.advanced_to {
            return;
        }
        self.advanced_to = now_s;
        for (second, h) in &mut self.slots {
            if *second != u64::MAX && *second + WINDOW_SECS <= now_s {
                // The slot was added to the window, so subtracting it cannot underflow.
                let _ = self.window.subtract(&*h);
                h.reset();
                *second = u64::MAX;
            }
        }
    }

    pub fn session(&self) -> Summary {
        summarize(&self.session)
    }

    /// The last `WINDOW_SECS` seconds up to the last [`LatencyStats::advance`] or record.
    pub fn recent(&self) -> Summary {
        summarize(&self.window)
    }
}

/// Events per second over the last few seconds.
#[derive(Debug, Default)]
pub struct RateMeter {
    slots: [(u64, u64); 4],
}

impl RateMeter {
    pub fn add(&mut self, now_s: u64, n: u64) {
        let slot = &mut self.slots[(now_s % 4) as usize];
        if slot.0 != now_s {
            *slot = (now_s, 0);
        }
        slot.1 += n;
    }

    /// The rate over the last three complete seconds.
    pub fn per_second(&self, now_s: u64) -> u64 {
        let total: u64 = self
            .slots
            .iter()
            .filter(|(s, _)| *s < now_s && *s + 4 > now_s)
            .map(|(_, n)| n)
            .sum();
        total / 3
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_cover_the_session_and_the_window_forgets_old_seconds() {
        let mut s = LatencyStats::default();
        for i in 1..=100 {
            s.record(0, i * 1_000);
        }
        s.record(12, 5_000_000);
        let all = s.session();
        assert_eq!(all.count, 101);
        assert!((49_000..=52_000).contains(&all.p50), "{all:?}");
        assert!(all.max >= 5_000_000 && all.max < 5_010_000);
        let recent = s.recent();
        assert_eq!(
            recent.count, 1,
            "second 0 is outside the last 10 s at second 12"
        );
        assert!(recent.p50 >= 5_000_000 && recent.p50 < 5_010_000);
        s.advance(21);
        assert_eq!(
            s.recent().count,
            1,
            "second 12 is still inside at second 21"
        );
        s.advance(30);
        assert_eq!(s.recent().count, 0);
        assert_eq!(s.session().count, 101);
    }

    #[test]
    fn the_rate_meter_averages_complete_seconds() {
        let mut r = RateMeter::default();
        for s in 10..14 {
            r.add(s, 300);
        }
        assert_eq!(r.per_second(14), 300);
        assert_eq!(r.per_second(40), 0);
    }
}
