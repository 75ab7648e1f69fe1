//! An event as the core stamped it: what every edge follows, in order.

use crate::feed::event::{Extras, MarketEvent};

/// An event with its symbol's `seq` and its scheduled time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sequenced {
    pub symbol: usize,
    pub seq: u64,
    pub ts_ns: u64,
    pub event: MarketEvent,
    /// A live venue's fields of a quote or trade.
    pub extras: Extras,
}
