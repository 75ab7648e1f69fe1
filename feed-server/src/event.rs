//! A market event as the hub consumes it, whatever its source: prices in ticks, sizes in lots.

/// One quote or trade of a symbol (its index in the universe).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarketEvent {
    Quote {
        symbol: usize,
        bid: i64,
        bid_size: i64,
        ask: i64,
        ask_size: i64,
    },
    Trade {
        symbol: usize,
        price: i64,
        size: i64,
    },
}

impl MarketEvent {
    pub fn symbol(&self) -> usize {
        match *self {
            Self::Quote { symbol, .. } | Self::Trade { symbol, .. } => symbol,
        }
    }
}

/// An event with the wall-clock time it is due (ns since the Unix epoch): its `ts_ns` on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    pub due_ns: u64,
    pub event: MarketEvent,
}
