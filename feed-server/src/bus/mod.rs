//! The bus between the market core and its edges: what the core sends an edge (sequenced events,
//! and the answers and fills of its connections' orders) and what an edge sends the core (its
//! connections opening and closing, their orders and cancels).
//!
//! Edges on other threads of the same process (`--edges N`) are fed over in-process channels:
//! each batch of events goes to every edge as one shared [`Batch`], whose events are encoded once
//! per encoding, by whichever edge needs it first, and shared from then on.

mod delivery;
pub mod nats;

use protocol::{Cancel, Order, ServerMessage};
use tokio::sync::oneshot;

pub use delivery::{Batch, Delivery};

use crate::bitset::BitSet;
use crate::market::{ConnId, MarketState, Sequenced};

/// Bits of a [`ConnId`] that number the connection within its edge; the bits above name the
/// edge (0: the core's own).
const EDGE_SHIFT: u32 = 48;

/// The edge that owns a connection.
pub fn edge_of(id: ConnId) -> usize {
    usize::try_from(id >> EDGE_SHIFT).unwrap_or(usize::MAX)
}

/// The first connection id of `edge`; the ones after it count up from there.
pub fn first_id(edge: usize) -> ConnId {
    ((edge as u64) << EDGE_SHIFT) | 1
}

/// From the core to one edge.
#[derive(Debug)]
pub enum ToEdge {
    /// Events that fell due, in order, for every edge.
    Events(Batch),
    /// The answers to an order or a cancel of one of the edge's connections (none for a cancel
    /// of nothing), with the request's `tag`.
    Answers {
        id: ConnId,
        tag: u64,
        answers: Vec<ServerMessage>,
    },
    /// The edge missed events of `symbol` that history no longer holds: its view starts again
    /// from the core's state, and its subscribers get a snapshot.
    Restore { symbol: usize, state: MarketState },
    /// The edge missed book events of `symbol` (the core keeps no history of books), or starts
    /// following its book: its view's book starts again from the core's, and the book's
    /// subscribers get a fresh `book`.
    RestoreBook { symbol: usize, state: MarketState },
    /// Events of `symbol` up to its restored state, for the edge's history (not applied to its
    /// state): what a client resuming on this edge missed.
    Backfill {
        symbol: usize,
        events: Vec<Sequenced>,
    },
    /// The edge now follows these symbols (it asked with [`ToCore::Follow`]): their state is
    /// in its view and their events come.
    Following { symbols: BitSet, books: bool },
    /// Which symbols' source is stale now (a live venue's stream that is down): the edge sends
    /// its clients a `status`.
    Status(BitSet),
    /// A resting order of one of the edge's connections filled.
    Fill {
        id: ConnId,
        fill: Box<ServerMessage>,
    },
}

/// From an edge to the core.
#[derive(Debug)]
pub enum ToCore {
    /// A connection may trade.
    Open { id: ConnId },
    /// A connection ended: its resting orders go.
    Close { id: ConnId },
    /// `tag` comes back with the answers, so that an edge over a network matches them to its
    /// request.
    Order { id: ConnId, order: Order, tag: u64 },
    Cancel {
        id: ConnId,
        cancel: Cancel,
        tag: u64,
    },
    /// An edge over a network wants these symbols' events too (its clients subscribed to them):
    /// answered with [`ToEdge::Following`] by the edge's own link, never by the core's hub.
    Follow {
        symbols: BitSet,
        /// Their books rather than their quotes and trades.
        books: bool,
        /// For symbols a client resumes: the last `seq` it holds, so the edge takes the events
        /// after it from the core's history and can resume it without a snapshot.
        since: Vec<(usize, u64)>,
    },
    /// No client of the edge wants these symbols any more: it stops taking their events.
    Unfollow { symbols: BitSet, books: bool },
    /// Every symbol's state now, for an edge that joins.
    State {
        reply: oneshot::Sender<Vec<MarketState>>,
    },
    /// The events of `symbol` after `after`, up to `until` and at most `max`, for an edge that
    /// missed them; `None` if history no longer holds them all.
    Replay {
        symbol: usize,
        after: u64,
        until: u64,
        max: usize,
        reply: oneshot::Sender<Option<Vec<Sequenced>>>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_id_names_its_edge() {
        assert_eq!(edge_of(first_id(0)), 0);
        assert_eq!(edge_of(first_id(0) + 1_000_000), 0);
        assert_eq!(edge_of(first_id(3)), 3);
        assert_eq!(edge_of(first_id(63) + 7), 63);
    }
}
