//! Per-symbol market state: the current quote, last trade, session statistics and `seq`.
//!
//! The core owns one [`Market`] per symbol. Applying an event stamps the next `seq` and
//! returns the protocol message for it; [`Market::snapshot`] describes the state so far.

use protocol::{Decimal, Quote, ServerMessage, Snapshot, Trade};

use crate::feed::event::MarketEvent;
use crate::feed::universe::Instrument;

/// The live state of one symbol. Prices are in ticks, sizes in lots (shares, for equities).
#[derive(Debug, Clone)]
pub struct Market {
    pub instrument: Instrument,
    /// `seq` of the last event produced; the next one is `seq + 1`.
    pub seq: u64,
    pub bid: i64,
    pub bid_size: i64,
    pub ask: i64,
    pub ask_size: i64,
    pub last: i64,
    pub last_size: i64,
    pub volume: i64,
    pub open: Option<i64>,
    pub high: i64,
    pub low: i64,
    pub ts_ns: u64,
}

/// What a [`Market`] knows besides its instrument: what the core sends an edge that joins or
/// lost step, so the edge's view starts where the core is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MarketState {
    pub seq: u64,
    pub bid: i64,
    pub bid_size: i64,
    pub ask: i64,
    pub ask_size: i64,
    pub last: i64,
    pub last_size: i64,
    pub volume: i64,
    pub open: Option<i64>,
    pub high: i64,
    pub low: i64,
    pub ts_ns: u64,
}

impl Market {
    /// The state to send an edge.
    pub fn state(&self) -> MarketState {
        MarketState {
            seq: self.seq,
            bid: self.bid,
            bid_size: self.bid_size,
            ask: self.ask,
            ask_size: self.ask_size,
            last: self.last,
            last_size: self.last_size,
            volume: self.volume,
            open: self.open,
            high: self.high,
            low: self.low,
            ts_ns: self.ts_ns,
        }
    }

    /// Takes the core's state as this market's.
    pub fn restore(&mut self, state: &MarketState) {
        let MarketState {
            seq,
            bid,
            bid_size,
            ask,
            ask_size,
            last,
            last_size,
            volume,
            open,
            high,
            low,
            ts_ns,
        } = *state;
        (self.seq, self.bid, self.bid_size, self.ask, self.ask_size) =
            (seq, bid, bid_size, ask, ask_size);
        (self.last, self.last_size, self.volume, self.open) = (last, last_size, volume, open);
        (self.high, self.low, self.ts_ns) = (high, low, ts_ns);
    }

    /// A market before its first event: one tick either side of the reference price.
    pub fn new(instrument: Instrument, ts_ns: u64) -> Self {
        let reference = instrument.reference_ticks;
        let (bid, ask) = instrument.opening_top();
        Self {
            instrument,
            seq: 0,
            bid,
            bid_size: 100,
            ask,
            ask_size: 100,
            last: reference,
            last_size: 0,
            volume: 0,
            open: None,
            high: reference,
            low: reference,
            ts_ns,
        }
    }

    /// A price in ticks as an exact decimal.
    pub fn price(&self, ticks: i64) -> Decimal {
        Decimal::from(ticks)
            .checked_mul(self.instrument.tick_size)
            .unwrap_or(Decimal::MAX)
    }

    /// A size in lots as an exact decimal.
    pub fn size(&self, lots: i64) -> Decimal {
        Decimal::from(lots)
            .checked_mul(self.instrument.lot_size)
            .unwrap_or(Decimal::MAX)
    }

    /// Applies an event scheduled for `ts_ns`, stamps its `seq` and returns its message.
    pub fn apply(&mut self, event: &MarketEvent, ts_ns: u64) -> ServerMessage {
        self.seq += 1;
        self.ts_ns = ts_ns;
        match *event {
            MarketEvent::Quote {
                bid,
                bid_size,
                ask,
                ask_size,
                ..
            } => {
                (self.bid, self.bid_size, self.ask, self.ask_size) = (bid, bid_size, ask, ask_size);
            }
            MarketEvent::Trade { price, size, .. } => {
                self.last = price;
                self.last_size = size;
                self.volume = self.volume.saturating_add(size);
                if self.open.is_none() {
                    self.open = Some(price);
                    (self.high, self.low) = (price, price);
                }
                self.high = self.high.max(price);
                self.low = self.low.min(price);
            }
        }
        self.message(event, self.seq, ts_ns)
    }

    /// The message of an event of this symbol with its `seq` and `ts_ns`: what [`Market::apply`]
    /// returns, and what a replay from history sends again.
    pub fn message(&self, event: &MarketEvent, seq: u64, ts_ns: u64) -> ServerMessage {
        let symbol = self.instrument.symbol.clone();
        match *event {
            MarketEvent::Quote {
                bid,
                bid_size,
                ask,
                ask_size,
                ..
            } => ServerMessage::Quote(Quote {
                symbol,
                seq,
                bid: self.price(bid),
                bid_size: self.size(bid_size),
                ask: self.price(ask),
                ask_size: self.size(ask_size),
                ts_ns,
            }),
            MarketEvent::Trade { price, size, .. } => ServerMessage::Trade(Trade {
                symbol,
                seq,
                price: self.price(price),
                size: self.size(size),
                ts_ns,
            }),
        }
    }

    /// The full state, as sent on subscribe and after conflation.
    pub fn snapshot(&self) -> ServerMessage {
        let reference = self.instrument.reference_ticks;
        ServerMessage::Snapshot(Snapshot {
            symbol: self.instrument.symbol.clone(),
            seq: self.seq,
            bid: self.price(self.bid),
            bid_size: self.size(self.bid_size),
            ask: self.price(self.ask),
            ask_size: self.size(self.ask_size),
            last: self.price(self.last),
            last_size: self.size(self.last_size),
            volume: self.size(self.volume),
            open: self.price(self.open.unwrap_or(reference)),
            high: self.price(self.high),
            low: self.price(self.low),
            prev_close: self.price(reference),
            tick_size: self.instrument.tick_size,
            ts_ns: self.ts_ns,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feed::SymbolChoice;
    use crate::feed::universe::Universe;

    #[test]
    fn events_stamp_consecutive_seqs_and_update_the_session() {
        let u = Universe::new(&SymbolChoice::Default, 1);
        let mut m = Market::new(u.instruments[0].clone(), 5);
        let q = m.apply(
            &MarketEvent::Quote {
                symbol: 0,
                bid: 22_990,
                bid_size: 300,
                ask: 22_991,
                ask_size: 200,
            },
            10,
        );
        let t = m.apply(
            &MarketEvent::Trade {
                symbol: 0,
                price: 22_991,
                size: 50,
            },
            11,
        );
        assert_eq!(q.market_seq(), Some(("AAPL", 1)));
        assert_eq!(t.market_seq(), Some(("AAPL", 2)));
        let ServerMessage::Quote(q) = q else { panic!() };
        assert_eq!(q.bid.to_string(), "229.90");
        let ServerMessage::Snapshot(s) = m.snapshot() else {
            panic!()
        };
        assert_eq!(
            (s.seq, s.volume, s.last.to_string(), s.open.to_string()),
            (2, Decimal::from(50), "229.91".into(), "229.91".into())
        );
        assert_eq!(s.prev_close.to_string(), "229.87");
        assert_eq!(s.ts_ns, 11);
    }
}
