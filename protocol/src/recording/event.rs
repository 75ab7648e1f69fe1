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
    /// The book was replaced (a `book` line of a recording, a live venue's re-sync): the level
    /// events before it took it to its new content, and every book subscriber is sent a fresh
    /// `book` at this event's `seq`. It changes nothing itself.
    Resync { symbol: usize },
}

/// What a live venue adds to a quote or trade, where it says: its own time of the event, its
/// trade id and the aggressor's side. Compact (24 bytes, `Copy`), as every event carries one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Extras {
    exch_ts_ns: u64,
    trade_id: u64,
    /// Bits: 1 `exch_ts_ns` set, 2 `trade_id` set, 4 aggressor buy, 8 aggressor sell.
    flags: u8,
}

impl Extras {
    pub const NONE: Self = Self {
        exch_ts_ns: 0,
        trade_id: 0,
        flags: 0,
    };

    pub fn new(exch_ts_ns: Option<u64>, trade_id: Option<u64>, aggressor: Option<Side>) -> Self {
        let mut flags = 0;
        if exch_ts_ns.is_some() {
            flags |= 1;
        }
        if trade_id.is_some() {
            flags |= 2;
        }
        match aggressor {
            Some(Side::Buy) => flags |= 4,
            Some(Side::Sell) => flags |= 8,
            None => {}
        }
        Self {
            exch_ts_ns: exch_ts_ns.unwrap_or(0),
            trade_id: trade_id.unwrap_or(0),
            flags,
        }
    }

    pub fn exch_ts_ns(&self) -> Option<u64> {
        (self.flags & 1 != 0).then_some(self.exch_ts_ns)
    }

    pub fn trade_id(&self) -> Option<u64> {
        (self.flags & 2 != 0).then_some(self.trade_id)
    }

    pub fn aggressor(&self) -> Option<Side> {
        if self.flags & 4 != 0 {
            Some(Side::Buy)
        } else if self.flags & 8 != 0 {
            Some(Side::Sell)
        } else {
            None
        }
    }

    /// These extras with the venue's time set, unless they have one.
    #[must_use]
    pub fn or_exch_ts(self, exch_ts_ns: Option<u64>) -> Self {
        if self.flags & 1 != 0 {
            return self;
        }
        Self::new(exch_ts_ns, self.trade_id(), self.aggressor())
    }

    pub fn is_none(&self) -> bool {
        self.flags == 0
    }

    /// The flags (1 time, 2 trade id, 4 buy, 8 sell), the venue time and the trade id, for a
    /// compact binary form (0 where absent).
    pub fn parts(&self) -> (u8, u64, u64) {
        (self.flags, self.exch_ts_ns, self.trade_id)
    }

    /// The extras [`Extras::parts`] gave; flags outside the four are dropped, and a side flagged
    /// both ways is no side.
    pub fn from_parts(flags: u8, exch_ts_ns: u64, trade_id: u64) -> Self {
        let aggressor = match flags & 0b1100 {
            0b0100 => Some(Side::Buy),
            0b1000 => Some(Side::Sell),
            _ => None,
        };
        Self::new(
            (flags & 1 != 0).then_some(exch_ts_ns),
            (flags & 2 != 0).then_some(trade_id),
            aggressor,
        )
    }
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
            | Self::Touch { symbol, .. }
            | Self::Resync { symbol } => symbol,
        }
    }

    /// The stream whose `seq` this event takes.
    pub fn stream(&self) -> Stream {
        match self {
            Self::Quote { .. } | Self::Trade { .. } => Stream::Quotes,
            Self::Level { .. } | Self::Touch { .. } | Self::Resync { .. } => Stream::Book,
        }
    }
}
