//! What a connection asks of the hub: to be served, to leave, to (un)subscribe, to trade.

use protocol::{Cancel, Order};

use super::outbox::Outlet;
use crate::bitset::BitSet;
use crate::market::{ConnId, ResumeFrom};

/// One request from a connection to the hub, in the order the client sent them.
#[derive(Debug)]
pub enum Command {
    /// A new connection, with its outbox: the fan-out writes to it, and the market opens its
    /// account.
    Connect {
        id: ConnId,
        outlet: Outlet,
    },
    /// The connection ended: its subscriptions and resting orders go.
    Disconnect {
        id: ConnId,
    },
    /// Symbols to add, with where the client's streams stood if it resumes: their quote
    /// streams (`quotes`) and their books at a depth (`book`).
    Subscribe {
        id: ConnId,
        symbols: BitSet,
        resume: Option<ResumeFrom>,
        quotes: bool,
        book: Option<usize>,
    },
    /// Symbols to drop, from their quote streams (`quotes`) and their books (`book`).
    Unsubscribe {
        id: ConnId,
        symbols: BitSet,
        quotes: bool,
        book: bool,
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
