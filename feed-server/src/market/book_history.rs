//! The most recent events of every symbol's book, so that a client that reconnects and resumes
//! its book (`resume.book_from`) gets the `book_update`s it missed instead of a fresh `book`.
//!
//! What a client at a given depth was sent depends on the book before each event, so each event
//! is kept with what it changed (the levels' sizes before it, [`BookChange`]). A resume takes the
//! book back to the client's `seq` by undoing the events after it, newest first, then applies
//! them again one at a time, making each depth's update exactly as it went out.
//!
//! Each symbol keeps its last `--history-events` book events, and all of them together at most
//! `--history-bytes` (counted apart from the quote streams' history): past that, the symbol being
//! added to gives up its oldest first.

use std::collections::VecDeque;

use protocol::ServerMessage;
use protocol::recording::MarketEvent;

use super::history::HistoryLimits;
use super::state::{BookChange, Market};

/// A book event as it was applied.
#[derive(Debug, Clone)]
struct BookPast {
    seq: u64,
    ts_ns: u64,
    event: MarketEvent,
    change: BookChange,
}

impl BookPast {
    /// What it counts for against `--history-bytes`.
    fn bytes(&self) -> usize {
        let levels = match &self.change {
            BookChange::Level(_) | BookChange::Resync => 0,
            BookChange::Touch(changes) => changes.len(),
        };
        std::mem::size_of::<Self>() + levels * std::mem::size_of::<super::book::LevelChange>()
    }
}

/// Every symbol's recent book events.
#[derive(Debug)]
pub struct BookHistory {
    rings: Vec<VecDeque<BookPast>>,
    limits: HistoryLimits,
    bytes: usize,
}

impl BookHistory {
    pub fn new(symbols: usize, limits: HistoryLimits) -> Self {
        Self {
            rings: vec![VecDeque::new(); symbols],
            limits,
            bytes: 0,
        }
    }

    /// Bytes held, over all symbols.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Keeps a book event just applied, with what it changed.
    pub fn push(
        &mut self,
        symbol: usize,
        seq: u64,
        ts_ns: u64,
        event: MarketEvent,
        change: &BookChange,
    ) {
        if self.limits.events_per_symbol == 0 || self.limits.bytes == 0 {
            return;
        }
        let Some(ring) = self.rings.get_mut(symbol) else {
            return;
        };
        // A ring that does not end just before this event no longer leads up to it.
        if ring
            .back()
            .is_some_and(|p| p.seq.checked_add(1) != Some(seq))
        {
            self.bytes = self
                .bytes
                .saturating_sub(ring.iter().map(BookPast::bytes).sum());
            ring.clear();
        }
        let past = BookPast {
            seq,
            ts_ns,
            event,
            change: change.clone(),
        };
        self.bytes = self.bytes.saturating_add(past.bytes());
        ring.push_back(past);
        while ring.len() > self.limits.events_per_symbol
            || (self.bytes > self.limits.bytes && !ring.is_empty())
        {
            if let Some(old) = ring.pop_front() {
                self.bytes = self.bytes.saturating_sub(old.bytes());
            }
        }
    }

    /// Forgets a symbol's book events (its book was restored from the core's).
    pub fn forget(&mut self, symbol: usize) {
        if let Some(ring) = self.rings.get_mut(symbol) {
            self.bytes = self
                .bytes
                .saturating_sub(ring.iter().map(BookPast::bytes).sum());
            ring.clear();
        }
    }

    /// The `book_update`s at `depth` that take a client holding book `seq` `from` to `market`'s
    /// book, as they went out; `None` when history no longer holds every event after `from`
    /// (or `from` is ahead), or there are more than `most`.
    pub fn replay(
        &self,
        market: &Market,
        symbol: usize,
        from: u64,
        depth: usize,
        most: u64,
    ) -> Option<Vec<ServerMessage>> {
        let latest = market.book_seq;
        if from > latest || latest - from > most {
            return None;
        }
        if from == latest {
            return Some(Vec::new());
        }
        let ring = self.rings.get(symbol)?;
        let (first, last) = (ring.front()?.seq, ring.back()?.seq);
        if first > from.checked_add(1)? || last != latest {
            return None;
        }
        let mut past = market.clone();
        for p in ring.iter().rev().take_while(|p| p.seq > from) {
            match (&p.event, &p.change) {
                (MarketEvent::Level { side, price, .. }, BookChange::Level(old)) => {
                    past.book.set(*side, *price, *old);
                }
                (_, BookChange::Touch(changes)) => {
                    for &(side, price, old) in changes.iter().rev() {
                        past.book.set(side, price, old);
                    }
                }
                // A re-sync changed nothing; it goes out again as the `book` it was.
                (_, BookChange::Resync) => {}
                _ => return None,
            }
        }
        past.book_seq = from;
        let mut out = Vec::new();
        for p in ring.iter().filter(|p| p.seq > from) {
            let change = past.apply_book(&p.event, p.ts_ns)?;
            out.push(past.book_update(&p.event, &change, depth));
        }
        Some(out)
    }
}
