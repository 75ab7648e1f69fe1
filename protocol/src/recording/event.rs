//! A recorded event on its symbol's grid, as a replay feeds it to a server.

use crate::types::Side;

/// One event of a symbol (its index in the recording's header, or a server's universe), with
/// prices in ticks and sizes in lots: whole numbers, so nothing on the way rounds.
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
    /// One level of the symbol's order book gets a new total size (0 removes it): bids are the
    /// `Buy` side, asks the `Sell` side. It belongs to the book's stream, not the quotes'.
    Level {
        symbol: usize,
        side: Side,
        price: i64,
        size: i64,
    },
    /// The book takes a quote's touch: levels better than `bid` and `ask` go, and the two get
    /// the quote's sizes. One event of the book's stream for what a quote changes in it.
    Touch {
        symbol: usize,
        bid: i64,
        bid_size: i64,
        ask: i64,
        ask_size: i64,
    },
}

/// The two streams of a symbol, each with its own `seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    /// Quotes and trades.
    Quotes,
    /// The order book.
    Book,
}

impl MarketEvent {
    pub fn symbol(&self) -> usize {
        match *self {
            Self::Quote { symbol, .. }
            | Self::Trade { symbol, .. }
            | Self::Level { symbol, .. }
            | Self::Touch { symbol, .. } => symbol,
        }
    }

    /// The stream whose `seq` this event takes.
    pub fn stream(&self) -> Stream {
        match self {
            Self::Quote { .. } | Self::Trade { .. } => Stream::Quotes,
            Self::Level { .. } | Self::Touch { .. } => Stream::Book,
        }
    }
}
