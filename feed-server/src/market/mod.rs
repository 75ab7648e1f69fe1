//! The market: the core that gives events their meaning, knowing nothing of sockets.
//!
//! [`Core`] keeps one [`Market`] per symbol (its quote, session statistics and `seq`, in
//! [`state`]) and the [`Matching`] engine, which owns the order ledger: every connection's
//! [`Account`] and the resting orders of every symbol. An event that falls due gets the next
//! `seq` of its symbol and becomes a protocol message; orders and cancels get their answers,
//! addressed to the connection ([`ConnId`]) that sent them. What the core produces, sequenced
//! events and addressed answers, is what an edge consumes.
//!
//! The core also names its `seq` space (the epoch, new at each start). Each edge follows what the
//! core produces in its own [`View`]: every symbol's state for snapshots and its recent events
//! ([`history`]), so that a client that reconnects resumes where it left off ([`resume`]).

mod account;
pub(crate) mod book;
mod book_history;
pub(crate) mod history;
mod matching;
pub(crate) mod resume;
mod sequenced;
pub(crate) mod state;
mod view;

use std::sync::Arc;

use protocol::{Cancel, Order, ServerMessage, now_ns};

pub use account::{ConnId, Limits};
pub use history::HistoryLimits;
pub use matching::{Matching, reject};
pub use resume::{ResumeFrom, ResumePlan};
pub use sequenced::Sequenced;
pub use state::{BookChange, Market, MarketState};
pub use view::View;

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
    /// Whether a quote that the book does not agree with is followed by a `Touch` of the
    /// book's stream: yes, unless the source streams the book itself (a recording with books).
    pub touch_from_quotes: bool,
}

/// The market state of every symbol and the matching engine.
#[derive(Debug)]
pub struct Core {
    universe: Arc<Universe>,
    markets: Vec<Market>,
    matching: Matching,
    /// Names this core's `seq` space, for `hello`: new at every start.
    epoch: String,
    touch_from_quotes: bool,
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
            matching: Matching::new(lots, settings.orders, metrics),
            universe,
            markets,
            epoch: rand::random::<u64>().to_string(),
            touch_from_quotes: settings.touch_from_quotes,
        }
    }

    /// Names this core's `seq` space: `seq`s are only comparable within one epoch.
    pub fn epoch(&self) -> &str {
        &self.epoch
    }

    /// Every symbol's state, in universe order.
    #[cfg(test)]
    pub fn markets(&self) -> &[Market] {
        &self.markets
    }

    #[cfg(test)]
    pub fn universe(&self) -> &Arc<Universe> {
        &self.universe
    }

    /// Applies an event that fell due: pushes it onto `out` stamped with the next `seq` of its
    /// symbol's stream, with its message, and hands `fill` the fills of the resting orders it
    /// reaches. A quote is followed by the book levels that make the book agree with it (each an
    /// event of the book's stream). Nothing for a symbol outside the universe (dropped, and
    /// logged).
    pub fn apply(
        &mut self,
        due: &Due,
        now: u64,
        fill: impl FnMut(ConnId, ServerMessage),
        out: &mut Vec<(Sequenced, ServerMessage)>,
    ) {
        let event = due.event;
        let symbol = event.symbol();
        let Some(market) = self.markets.get_mut(symbol) else {
            tracing::warn!(symbol, "event for a symbol outside the universe; dropped");
            return;
        };
        let mut push = |market: &mut Market, event: MarketEvent| {
            // A venue's fields belong to its quote or trade, not to the touch that follows.
            let extras = if event.stream() == protocol::recording::Stream::Quotes {
                due.extras
            } else {
                protocol::recording::Extras::NONE
            };
            let message = state::with_extras(market.apply(&event, due.due_ns), extras);
            let sequenced = Sequenced {
                symbol,
                seq: market.seq_of(event.stream()),
                ts_ns: due.due_ns,
                event,
                extras,
            };
            out.push((sequenced, message));
        };
        push(market, event);
        if let MarketEvent::Quote {
            bid,
            bid_size,
            ask,
            ask_size,
            ..
        } = event
            && self.touch_from_quotes
            && !market.book.agrees_with(bid, bid_size, ask, ask_size)
        {
            push(
                market,
                MarketEvent::Touch {
                    symbol,
                    bid,
                    bid_size,
                    ask,
                    ask_size,
                },
            );
        }
        let traded = match event {
            MarketEvent::Trade { price, .. } => Some(price),
            MarketEvent::Quote { .. } => None,
            // The book's depth does not move the top the orders match against.
            MarketEvent::Level { .. } | MarketEvent::Touch { .. } | MarketEvent::Resync { .. } => {
                return;
            }
        };
        self.matching
            .on_market(symbol, &self.markets[symbol], traded, now, fill);
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
