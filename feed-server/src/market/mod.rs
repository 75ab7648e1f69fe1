//! The market: the core that gives events their meaning, knowing nothing of sockets.
//!
//! [`Core`] keeps one [`Market`] per symbol (its quote, session statistics and `seq`, in
//! [`state`]) and the [`Matching`] engine, which owns the order ledger: every connection's
//! [`Account`] and the resting orders of every symbol. An event that falls due gets the next
//! `seq` of its symbol and becomes a protocol message; orders and cancels get their answers,
//! addressed to the connection ([`ConnId`]) that sent them. What the core produces, sequenced
//! events and addressed answers, is what an edge consumes.
//!
//! The core also names its `seq` space (the epoch, new at each start) and keeps the recent
//! events of every symbol ([`history`]), so that a client that reconnects resumes where it left
//! off ([`resume`]).

mod account;
pub(crate) mod history;
mod matching;
pub(crate) mod resume;
pub(crate) mod state;

use std::sync::Arc;

use protocol::{Cancel, Order, ServerMessage, now_ns};

pub use account::{ConnId, Limits};
use history::History;
pub use history::HistoryLimits;
pub use matching::{Matching, reject};
pub use resume::{ResumeFrom, ResumePlan};
pub use state::Market;

use crate::bitset::BitSet;
use crate::feed::event::{Due, MarketEvent};
use crate::feed::universe::Universe;
use crate::metrics::Metrics;

/// How the core is set up (from the command line).
#[derive(Debug, Clone, Copy)]
pub struct CoreSettings {
    pub orders: Limits,
    pub history: HistoryLimits,
    /// `--max-resume-events`: events one resuming subscribe may have sent again.
    pub max_resume_events: u64,
}

/// The market state of every symbol, its history, and the matching engine.
#[derive(Debug)]
pub struct Core {
    universe: Arc<Universe>,
    markets: Vec<Market>,
    matching: Matching,
    history: History,
    /// Names this core's `seq` space, for `hello`: new at every start.
    epoch: String,
    max_resume_events: u64,
    metrics: Arc<Metrics>,
}

impl Core {
    pub fn new(universe: Arc<Universe>, settings: CoreSettings, metrics: Arc<Metrics>) -> Self {
        let now = now_ns();
        let markets = universe
            .instruments
            .iter()
            .map(|inst| Market::new(inst.clone(), now))
            .collect();
        let lots = universe.instruments.iter().map(|i| i.lot_size).collect();
        Self {
            matching: Matching::new(lots, settings.orders, metrics.clone()),
            history: History::new(universe.len(), settings.history),
            universe,
            markets,
            epoch: rand::random::<u64>().to_string(),
            max_resume_events: settings.max_resume_events,
            metrics,
        }
    }

    /// Names this core's `seq` space: `seq`s are only comparable within one epoch.
    pub fn epoch(&self) -> &str {
        &self.epoch
    }

    /// Every symbol's state, in universe order: what snapshots are made from.
    pub fn markets(&self) -> &[Market] {
        &self.markets
    }

    pub fn universe(&self) -> &Arc<Universe> {
        &self.universe
    }

    /// Applies an event that fell due: returns its symbol and its message, stamped with the next
    /// `seq`, and hands `fill` the fills of the resting orders it reaches. `None` for a symbol
    /// outside the universe (dropped, and logged).
    pub fn apply(
        &mut self,
        due: &Due,
        now: u64,
        fill: impl FnMut(ConnId, ServerMessage),
    ) -> Option<(usize, ServerMessage)> {
        let event = due.event;
        let symbol = event.symbol();
        let Some(market) = self.markets.get_mut(symbol) else {
            tracing::warn!(symbol, "event for a symbol outside the universe; dropped");
            return None;
        };
        let message = market.apply(&event, due.due_ns);
        self.history.push(symbol, market.seq, due.due_ns, event);
        self.metrics.history_bytes.set(self.history.bytes() as i64);
        let traded = match event {
            MarketEvent::Trade { price, .. } => Some(price),
            MarketEvent::Quote { .. } => None,
        };
        self.matching
            .on_market(symbol, &self.markets[symbol], traded, now, fill);
        Some((symbol, message))
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
        Some(past.map(|p| market.message(&p.event, p.seq, p.ts_ns)))
    }

    /// A new connection may trade.
    pub fn open(&mut self, conn: ConnId, now: u64) {
        self.matching.open(conn, now);
    }

    /// A connection went away: its resting orders go with it.
    pub fn close(&mut self, conn: ConnId) {
        self.matching.close(conn);
    }

    /// The answers to an order: its `ack` or `reject` first, then any fills.
    pub fn order(&mut self, conn: ConnId, order: &Order, now: u64) -> Vec<ServerMessage> {
        let symbol = self.universe.find(&order.symbol);
        self.matching
            .submit(conn, symbol, &self.markets, order, now)
    }

    /// The answer to a cancel.
    pub fn cancel(&mut self, conn: ConnId, cancel: &Cancel, now: u64) -> Option<ServerMessage> {
        self.matching.cancel(conn, cancel, now)
    }
}
