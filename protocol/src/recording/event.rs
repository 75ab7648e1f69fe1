//! A recorded event on its symbol's grid, as a replay feeds it to a server.

/// One quote or trade of a symbol (its index in the recording's header, or a server's universe),
/// with prices in ticks and sizes in lots: whole numbers, so nothing on the way rounds.
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
