//! What every outbox holds together, against `--max-buffered-bytes`.
//!
//! Each outbox is bounded on its own, but thousands of bounded outboxes can still add up to more
//! than the machine has. The pool counts every unsent byte of every outbox. Past the cap, the
//! connections holding more than their share (the cap divided by the outboxes open) give way:
//! they get no more market data (the hub conflates them) and are not read (their answers wait)
//! until the total is back under. Past a quarter more than the cap, every connection holding
//! anything gives way. So the total stays under 1.25 times the cap, plus a frame or an answer per
//! connection, and a client that reads promptly (its outbox is empty) is never held back. A
//! connection that stays stuck is closed by its stall timeout.

use std::sync::atomic::{AtomicUsize, Ordering};

use prometheus_client::metrics::gauge::Gauge;

/// The count of bytes waiting in all outboxes, and the cap.
#[derive(Debug)]
pub struct Pool {
    /// Unsent bytes in every outbox: `/metrics` shows it as `tickwire_buffered_bytes`.
    bytes: Gauge,
    /// Outboxes open.
    members: AtomicUsize,
    cap: usize,
}

impl Default for Pool {
    /// A pool without a cap, for outboxes outside a server.
    fn default() -> Self {
        Self::new(usize::MAX, Gauge::default())
    }
}

impl Pool {
    /// A pool of at most `cap` bytes, counted in `gauge`.
    pub fn new(cap: usize, gauge: Gauge) -> Self {
        Self {
            bytes: gauge,
            members: AtomicUsize::new(0),
            cap,
        }
    }

    /// Unsent bytes in every outbox.
    pub fn bytes(&self) -> usize {
        usize::try_from(self.bytes.get()).unwrap_or(0)
    }

    /// An outbox opens.
    pub(super) fn join(&self) {
        self.members.fetch_add(1, Ordering::Relaxed);
    }

    /// An outbox closes, with what it never sent.
    pub(super) fn leave(&self, held: usize) {
        self.moved(held, 0);
        self.members.fetch_sub(1, Ordering::Relaxed);
    }

    /// An outbox that held `before` bytes now holds `after`.
    pub(super) fn moved(&self, before: usize, after: usize) {
        let delta = i64::try_from(before.abs_diff(after)).unwrap_or(i64::MAX);
        if after > before {
            self.bytes.inc_by(delta);
        } else if after < before {
            self.bytes.dec_by(delta);
        }
    }

    /// Whether an outbox holding `held` bytes must give way: the pool is past its cap and this
    /// outbox holds more than its share of it, or the pool is past a quarter more.
    pub(super) fn heavy(&self, held: usize) -> bool {
        if held == 0 {
            return false;
        }
        let total = self.bytes();
        if total <= self.cap {
            return false;
        }
        let share = self.cap / self.members.load(Ordering::Relaxed).max(1);
        held > share || total - self.cap > self.cap / 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn past_the_cap_the_holders_of_the_most_give_way_first_then_everyone() {
        let pool = Pool::new(1_000, Gauge::default());
        for _ in 0..4 {
            pool.join();
        }
        pool.moved(0, 900);
        pool.moved(0, 50);
        assert!(!pool.heavy(900), "under the cap nobody gives way");
        pool.moved(0, 100);
        assert_eq!(pool.bytes(), 1_050);
        // Each of the four outboxes has a share of 250.
        assert!(pool.heavy(900));
        assert!(!pool.heavy(100));
        assert!(!pool.heavy(0), "an empty outbox always takes a frame");
        // A quarter past the cap, everyone holding anything gives way.
        pool.moved(100, 400);
        assert_eq!(pool.bytes(), 1_350);
        assert!(pool.heavy(50));
        assert!(!pool.heavy(0));
        pool.leave(900);
        assert_eq!(pool.bytes(), 450);
        assert!(!pool.heavy(400));
        pool.leave(400);
        pool.leave(50);
        pool.leave(0);
        assert_eq!(pool.bytes(), 0);
        assert_eq!(pool.members.load(Ordering::Relaxed), 0);
    }
}
