//! The market as an edge sees it: every symbol's state and recent events, followed from the
//! core's sequenced events, for snapshots and resumes.
//!
//! The core sequences events and matches orders; each edge keeps its own [`View`] of what came
//! out, so that it serves snapshots and replays without asking the core, on its own thread (or
//! machine). A view is rebuilt from the same events the clients get, so its state and `seq`s are
//! the core's.

use std::sync::Arc;

use protocol::{ServerMessage, now_ns};

use super::book_history::BookHistory;
use super::history::{History, HistoryLimits};
use super::resume::{self, ResumeFrom, ResumePlan};
use super::sequenced::Sequenced;
use super::state::with_extras;
use super::state::{BookChange, Market};
use crate::bitset::BitSet;
use crate::feed::universe::Universe;
use crate::metrics::Metrics;

/// Every symbol's state and history, as far as the events seen so far tell.
#[derive(Debug)]
pub struct View {
    markets: Vec<Market>,
    history: History,
    book_history: BookHistory,
    /// The core's `seq` space, for `hello` and resumes.
    epoch: String,
    max_resume_events: u64,
    metrics: Arc<Metrics>,
}

impl View {
    pub fn new(
        universe: &Universe,
        epoch: String,
        history: HistoryLimits,
        max_resume_events: u64,
        metrics: Arc<Metrics>,
    ) -> Self {
        let now = now_ns();
        Self {
            markets: universe
                .instruments
                .iter()
                .map(|inst| Market::new(inst.clone(), now))
                .collect(),
            history: History::new(universe.len(), history),
            book_history: BookHistory::new(universe.len(), history),
            epoch,
            max_resume_events,
            metrics,
        }
    }

    /// The core's `seq` space.
    pub fn epoch(&self) -> &str {
        &self.epoch
    }

    /// Every symbol's state, in universe order: what snapshots are made from.
    pub fn markets(&self) -> &[Market] {
        &self.markets
    }

    /// Follows an event the core sequenced. For a book event, returns what it changed (what a
    /// client at each depth is sent depends on it).
    pub fn apply(&mut self, event: &Sequenced) -> Option<BookChange> {
        let market = self.markets.get_mut(event.symbol)?;
        if let Some(change) = market.apply_book(&event.event, event.ts_ns) {
            if market.book_seq != event.seq {
                tracing::error!(
                    symbol = event.symbol,
                    view = market.book_seq,
                    core = event.seq,
                    "an edge's view of a book lost step with the core"
                );
                market.book_seq = event.seq;
            }
            let before = self.book_history.bytes();
            self.book_history
                .push(event.symbol, event.seq, event.ts_ns, event.event, &change);
            self.count_bytes(before, self.book_history.bytes());
            return Some(change);
        }
        market.apply(&event.event, event.ts_ns);
        if market.seq != event.seq {
            // Every event reaches every view, in order: this is a bug, not bad input.
            tracing::error!(
                symbol = event.symbol,
                view = market.seq,
                core = event.seq,
                "an edge's view of a symbol lost step with the core"
            );
            market.seq = event.seq;
        }
        let before = self.history.bytes();
        self.history.push(
            event.symbol,
            event.seq,
            event.ts_ns,
            event.event,
            event.extras,
        );
        self.count_history(before);
        None
    }

    /// Starts `symbol` again from the core's state, forgetting the history that no longer leads
    /// up to it.
    pub fn restore(&mut self, symbol: usize, state: &super::state::MarketState) {
        let Some(market) = self.markets.get_mut(symbol) else {
            return;
        };
        market.restore(state);
        let before = self.history.bytes();
        self.history.forget(symbol);
        self.count_history(before);
    }

    /// Starts the book of `symbol` again from the core's, forgetting the book events that no
    /// longer lead up to it.
    pub fn restore_book(&mut self, symbol: usize, state: &super::state::MarketState) {
        if let Some(market) = self.markets.get_mut(symbol) {
            market.restore_book(state);
        }
        let before = self.book_history.bytes();
        self.book_history.forget(symbol);
        self.count_bytes(before, self.book_history.bytes());
    }

    /// The `book_update`s at `depth` a client holding book `seq` `from` of `symbol` missed, as
    /// they went out (none if it missed nothing); `None` when history no longer has them all,
    /// `from` is ahead of the book, or they are more than `--max-resume-events`: then the
    /// client gets a fresh `book`.
    pub fn book_replay(
        &self,
        symbol: usize,
        from: u64,
        depth: usize,
    ) -> Option<Vec<ServerMessage>> {
        let replay = self.markets.get(symbol).and_then(|market| {
            self.book_history
                .replay(market, symbol, from, depth, self.max_resume_events)
        });
        let how = if replay.is_some() {
            "book_recovered"
        } else {
            "book_snapshot"
        };
        self.metrics
            .resumed_symbols
            .get_or_create(&crate::metrics::How { how })
            .inc();
        replay
    }

    /// The books a resume continues: those it names, if it is from this view's `seq` space;
    /// from another (the core restarted) every book starts again from a `book`, counted here.
    pub fn books_to_resume(&self, resume: Option<&ResumeFrom>) -> Vec<(usize, u64)> {
        match resume {
            Some(r) if r.epoch == self.epoch => r.book_from.clone(),
            Some(r) => {
                self.metrics
                    .resumed_symbols
                    .get_or_create(&crate::metrics::How {
                        how: "book_snapshot",
                    })
                    .inc_by(r.book_from.len() as u64);
                Vec::new()
            }
            None => Vec::new(),
        }
    }

    /// Keeps `events` of `symbol` (in order, ending at its current `seq`) in its history only:
    /// what an edge that just started following the symbol takes from the core, so a client
    /// resuming here finds what it missed.
    pub fn backfill(&mut self, symbol: usize, events: &[Sequenced]) {
        let latest = self.markets.get(symbol).map_or(0, |m| m.seq);
        if events.last().is_none_or(|e| e.seq != latest) {
            return;
        }
        let before = self.history.bytes();
        self.history.forget(symbol);
        for e in events {
            self.history.push(symbol, e.seq, e.ts_ns, e.event, e.extras);
        }
        self.count_history(before);
    }

    /// The events of `symbol` after `after` up to `until`, if history holds all of them (for an
    /// edge repairing a gap).
    pub fn events_between(&self, symbol: usize, after: u64, until: u64) -> Option<Vec<Sequenced>> {
        let latest = self.markets.get(symbol)?.seq;
        if until > latest || after >= until || !self.history.covers(symbol, after, latest) {
            return None;
        }
        let past = self.history.since(symbol, after.checked_add(1)?)?;
        Some(
            past.take_while(|p| p.seq <= until)
                .map(|p| Sequenced {
                    symbol,
                    seq: p.seq,
                    ts_ns: p.ts_ns,
                    event: p.event,
                    extras: p.extras,
                })
                .collect(),
        )
    }

    /// Moves the history gauge (shared by every edge's view) by what history changed since it
    /// held `before` bytes; nothing when a full ring traded an event for another.
    fn count_history(&self, before: usize) {
        self.count_bytes(before, self.history.bytes());
    }

    /// Moves the history gauge from `before` bytes to `after`.
    fn count_bytes(&self, before: usize, after: usize) {
        let delta = i64::try_from(before.abs_diff(after)).unwrap_or(i64::MAX);
        if after > before {
            self.metrics.history_bytes.inc_by(delta);
        } else if after < before {
            self.metrics.history_bytes.dec_by(delta);
        }
    }

    /// Which symbols of a resuming subscription continue from history, and which get a
    /// snapshot (see [`resume::plan`]).
    pub fn plan_resume(&self, symbols: &BitSet, resume: &ResumeFrom) -> ResumePlan {
        let plan = resume::plan(
            symbols,
            resume,
            &self.epoch,
            self.max_resume_events,
            |s| self.markets.get(s).map_or(0, |m| m.seq),
            |s, seq| {
                let latest = self.markets.get(s).map_or(0, |m| m.seq);
                self.history.covers(s, seq, latest)
            },
        );
        self.metrics.resumes.inc();
        for (how, set) in [("recovered", &plan.recovered), ("snapshot", &plan.snapshot)] {
            self.metrics
                .resumed_symbols
                .get_or_create(&crate::metrics::How { how })
                .inc_by(set.len() as u64);
        }
        plan
    }

    /// The events of `symbol` from `seq` on, as they went out, while history still holds them.
    pub fn replay(&self, symbol: usize, seq: u64) -> Option<impl Iterator<Item = ServerMessage>> {
        let market = self.markets.get(symbol)?;
        let past = self.history.since(symbol, seq)?;
        Some(past.map(|p| with_extras(market.message(&p.event, p.seq, p.ts_ns), p.extras)))
    }
}

impl Drop for View {
    /// What this view's history held leaves the gauge with it.
    fn drop(&mut self) {
        let held = i64::try_from(
            self.history
                .bytes()
                .saturating_add(self.book_history.bytes()),
        )
        .unwrap_or(i64::MAX);
        self.metrics.history_bytes.dec_by(held);
    }
}
