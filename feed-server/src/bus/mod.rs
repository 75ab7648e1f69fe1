//! The bus between the market core and its edges: what the core sends an edge (sequenced events,
//! and the answers and fills of its connections' orders) and what an edge sends the core (its
//! connections opening and closing, their orders and cancels).
//!
//! Edges on other threads of the same process (`--edges N`) are fed over in-process channels:
//! each batch of events goes to every edge as one shared [`Batch`], whose events are encoded once
//! per encoding, by whichever edge needs it first, and shared from then on.

mod delivery;

use protocol::{Cancel, Order, ServerMessage};

pub use delivery::{Batch, Delivery};

use crate::market::ConnId;

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
    /// The answers to an order or a cancel of one of the edge's connections.
    Answers {
        id: ConnId,
        answers: Vec<ServerMessage>,
    },
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
    Open {
        id: ConnId,
    },
    /// A connection ended: its resting orders go.
    Close {
        id: ConnId,
    },
    Order {
        id: ConnId,
        order: Order,
    },
    Cancel {
        id: ConnId,
        cancel: Cancel,
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
