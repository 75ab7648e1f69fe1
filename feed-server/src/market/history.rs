//! The most recent events of every symbol, so that a client that reconnects gets what it missed
//! instead of a snapshot (`subscribe` with `resume`).
//!
//! Each symbol keeps its last `--history-events` events; all symbols together keep at most
//! `--history-bytes`, and past that the oldest event of any symbol goes first. An event is held
//! as it came from the source (ticks and lots, with a live venue's fields: 96 bytes), not encoded: appending it costs the hub
//! a copy per event, and a resume, which is rare, encodes what it sends in the client's encoding.

use std::collections::{BTreeMap, VecDeque};

use protocol::recording::{Extras, MarketEvent};

/// One event as it was applied: enough to send it again exactly as it went out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Past {
    pub seq: u64,
    pub ts_ns: u64,
    pub event: MarketEvent,
    pub extras: Extras,
    /// When it was added, over all symbols: the oldest goes first when the bytes run out.
    order: u64,
}

/// What one held event counts for against `--history-bytes`.
pub const EVENT_BYTES: usize = std::mem::size_of::<Past>();

/// `--history-events` and `--history-bytes`; either 0 turns history off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HistoryLimits {
    pub events_per_symbol: usize,
    pub bytes: usize,
}

/// Every symbol's recent events.
#[derive(Debug)]
pub struct History {
    rings: Vec<VecDeque<Past>>,
    limits: HistoryLimits,
    /// Each non-empty ring's oldest event, by `order`: kept only when the byte limit can bind
    /// (many symbols), so that a small universe pays nothing for it.
    oldest: Option<BTreeMap<u64, usize>>,
    next_order: u64,
    /// Events held, over all symbols.
    held: usize,
}

impl History {
    pub fn new(symbols: usize, limits: HistoryLimits) -> Self {
        let most = symbols
            .saturating_mul(limits.events_per_symbol)
            .saturating_mul(EVENT_BYTES);
        Self {
            rings: vec![VecDeque::new(); symbols],
            oldest: (most > limits.bytes).then(BTreeMap::new),
            limits,
            next_order: 0,
            held: 0,
        }
    }

    fn enabled(&self) -> bool {
        self.limits.events_per_symbol > 0 && self.limits.bytes >= EVENT_BYTES
    }

    /// Bytes held, as counted against `--history-bytes`.
    pub fn bytes(&self) -> usize {
        self.held * EVENT_BYTES
    }

    /// Events held, over all symbols.
    #[cfg(test)]
    pub fn events(&self) -> usize {
        self.held
    }

    /// Keeps an event of `symbol` that was just applied with `seq`.
    pub fn push(
        &mut self,
        symbol: usize,
        seq: u64,
        ts_ns: u64,
        event: MarketEvent,
        extras: Extras,
    ) {
        if !self.enabled() || symbol >= self.rings.len() {
            return;
        }
        if self.rings[symbol].len() >= self.limits.events_per_symbol {
            self.pop_oldest_of(symbol);
        }
        let order = self.next_order;
        self.next_order += 1;
        let ring = &mut self.rings[symbol];
        if ring.is_empty()
            && let Some(oldest) = &mut self.oldest
        {
            oldest.insert(order, symbol);
        }
        ring.push_back(Past {
            seq,
            ts_ns,
            event,
            extras,
            order,
        });
        self.held += 1;
        while self.bytes() > self.limits.bytes {
            let Some(symbol) = self
                .oldest
                .as_ref()
                .and_then(|o| o.first_key_value())
                .map(|(_, &s)| s)
            else {
                break;
            };
            self.pop_oldest_of(symbol);
        }
    }

    /// Drops everything held of `symbol`: its events no longer run unbroken to its state (an
    /// edge that missed some restored the symbol from the core's state).
    pub fn forget(&mut self, symbol: usize) {
        while self.rings.get(symbol).is_some_and(|r| !r.is_empty()) {
            self.pop_oldest_of(symbol);
        }
    }

    fn pop_oldest_of(&mut self, symbol: usize) {
        let ring = &mut self.rings[symbol];
        let Some(gone) = ring.pop_front() else {
            return;
        };
        self.held -= 1;
        if let Some(oldest) = &mut self.oldest {
            oldest.remove(&gone.order);
            if let Some(front) = ring.front() {
                oldest.insert(front.order, symbol);
            }
        }
    }

    /// The events of `symbol` from `seq` on, if history still holds `seq` (or `seq` is the next
    /// one to come, when nothing was missed).
    pub fn since(&self, symbol: usize, seq: u64) -> Option<impl Iterator<Item = &Past>> {
        let ring = self.rings.get(symbol)?;
        let first = ring.front()?.seq;
        let last = ring.back()?.seq;
        if seq < first || seq > last.saturating_add(1) {
            return None;
        }
        // Events of one symbol are held in `seq` order, one apart.
        let skip = usize::try_from(seq - first).ok()?;
        Some(ring.iter().skip(skip))
    }

    /// Whether history holds every event of `symbol` after `seq` up to `latest` (nothing to hold
    /// when `seq` is `latest`).
    pub fn covers(&self, symbol: usize, seq: u64, latest: u64) -> bool {
        if seq >= latest {
            return seq == latest;
        }
        self.rings
            .get(symbol)
            .and_then(VecDeque::front)
            .is_some_and(|front| front.seq <= seq.saturating_add(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quote(symbol: usize) -> MarketEvent {
        MarketEvent::Quote {
            symbol,
            bid: 1,
            bid_size: 1,
            ask: 2,
            ask_size: 1,
        }
    }

    fn seqs(h: &History, symbol: usize, from: u64) -> Option<Vec<u64>> {
        h.since(symbol, from).map(|it| it.map(|p| p.seq).collect())
    }

    #[test]
    fn each_symbol_keeps_its_last_events_in_order() {
        let limits = HistoryLimits {
            events_per_symbol: 3,
            bytes: 1 << 20,
        };
        let mut h = History::new(2, limits);
        for seq in 1..=5 {
            h.push(0, seq, seq * 10, quote(0), Extras::NONE);
        }
        h.push(1, 1, 7, quote(1), Extras::NONE);
        assert_eq!(seqs(&h, 0, 3), Some(vec![3, 4, 5]));
        assert_eq!(seqs(&h, 0, 4), Some(vec![4, 5]));
        assert_eq!(seqs(&h, 0, 6), Some(vec![]), "nothing missed");
        assert_eq!(seqs(&h, 0, 2), None, "trimmed past it");
        assert_eq!(seqs(&h, 0, 7), None, "ahead of the server");
        assert!(h.covers(0, 2, 5) && h.covers(0, 5, 5));
        assert!(!h.covers(0, 1, 5) && !h.covers(0, 6, 5));
        assert_eq!((h.events(), h.bytes()), (4, 4 * EVENT_BYTES));
    }

    #[test]
    fn the_byte_limit_evicts_the_oldest_event_of_any_symbol_first() {
        let limits = HistoryLimits {
            events_per_symbol: 100,
            bytes: 4 * EVENT_BYTES,
        };
        let mut h = History::new(3, limits);
        h.push(2, 1, 0, quote(2), Extras::NONE);
        for seq in 1..=3 {
            h.push(0, seq, 0, quote(0), Extras::NONE);
        }
        h.push(1, 1, 0, quote(1), Extras::NONE);
        // Five pushed, four fit: symbol 2's event, the oldest, went.
        assert_eq!(seqs(&h, 2, 1), None);
        assert_eq!(seqs(&h, 0, 1), Some(vec![1, 2, 3]));
        h.push(1, 2, 0, quote(1), Extras::NONE);
        assert_eq!(seqs(&h, 0, 2), Some(vec![2, 3]), "then symbol 0's oldest");
        assert_eq!(h.bytes(), 4 * EVENT_BYTES);
    }

    #[test]
    fn forgetting_a_symbol_drops_only_its_events() {
        let mut h = History::new(
            2,
            HistoryLimits {
                events_per_symbol: 8,
                bytes: 1 << 20,
            },
        );
        for seq in 1..=3 {
            h.push(0, seq, seq, quote(0), Extras::NONE);
            h.push(1, seq, seq, quote(1), Extras::NONE);
        }
        h.forget(0);
        assert_eq!(seqs(&h, 0, 1), None);
        assert_eq!(seqs(&h, 1, 1), Some(vec![1, 2, 3]));
        assert_eq!(h.events(), 3);
        h.push(0, 9, 9, quote(0), Extras::NONE);
        assert_eq!(seqs(&h, 0, 9), Some(vec![9]));
    }

    #[test]
    fn zero_turns_history_off() {
        for limits in [
            HistoryLimits {
                events_per_symbol: 0,
                bytes: 1 << 20,
            },
            HistoryLimits {
                events_per_symbol: 10,
                bytes: 0,
            },
        ] {
            let mut h = History::new(1, limits);
            h.push(0, 1, 0, quote(0), Extras::NONE);
            assert_eq!((h.events(), seqs(&h, 0, 1)), (0, None));
        }
    }
}
