//! Per-symbol market state: the current quote, last trade, session statistics, the order book
//! and the `seq` of each of the symbol's two streams (quotes and trades; the book).
//!
//! The core owns one [`Market`] per symbol. Applying an event stamps the next `seq` of its
//! stream and returns the protocol message for it; [`Market::snapshot`] and [`Market::book`]
//! describe the state so far.

use protocol::checksum::CHECKSUM_LEVELS;
use protocol::recording::Stream;
use protocol::{Book, Decimal, Level, Quote, ServerMessage, Side, Snapshot, Trade};

use super::book::Ladder;

use crate::feed::event::MarketEvent;
use crate::feed::universe::{Instrument, OPENING_SIZE};

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
    /// The book and its stream's `seq` (book messages so far), and when it last changed.
    pub book: Ladder,
    pub book_seq: u64,
    pub book_ts_ns: u64,
}

/// What a book event changed, as a client at some depth needs it: a level's size before it
/// changed, each level a quote's touch changed with its size before, or nothing (a re-sync,
/// which every subscriber gets as a fresh `book`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BookChange {
    Level(i64),
    Touch(Vec<super::book::LevelChange>),
    Resync,
}

/// What a [`Market`] knows besides its instrument: what the core sends an edge that joins or
/// lost step, so the edge's view starts where the core is.
#[derive(Debug, Clone, PartialEq, Eq)]
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
    pub book: Ladder,
    pub book_seq: u64,
    pub book_ts_ns: u64,
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
            book: self.book.clone(),
            book_seq: self.book_seq,
            book_ts_ns: self.book_ts_ns,
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
            ref book,
            book_seq,
            book_ts_ns,
        } = *state;
        (self.seq, self.bid, self.bid_size, self.ask, self.ask_size) =
            (seq, bid, bid_size, ask, ask_size);
        (self.last, self.last_size, self.volume, self.open) = (last, last_size, volume, open);
        (self.high, self.low, self.ts_ns) = (high, low, ts_ns);
        self.book.clone_from(book);
        (self.book_seq, self.book_ts_ns) = (book_seq, book_ts_ns);
    }

    /// Takes the core's book (not its quotes) as this market's.
    pub fn restore_book(&mut self, state: &MarketState) {
        self.book.clone_from(&state.book);
        (self.book_seq, self.book_ts_ns) = (state.book_seq, state.book_ts_ns);
    }

    /// A market before its first event: one tick either side of the reference price, with
    /// [`OPENING_SIZE`] lots on each.
    pub fn new(instrument: Instrument, ts_ns: u64) -> Self {
        let reference = instrument.reference_ticks;
        let (bid, ask) = instrument.opening_top();
        Self {
            instrument,
            seq: 0,
            bid,
            bid_size: OPENING_SIZE,
            ask,
            ask_size: OPENING_SIZE,
            last: reference,
            last_size: 0,
            volume: 0,
            open: None,
            high: reference,
            low: reference,
            ts_ns,
            book: Ladder::opening(bid, OPENING_SIZE, ask, OPENING_SIZE),
            book_seq: 0,
            book_ts_ns: ts_ns,
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

    /// The `seq` of a stream: what an event of it that was just applied carries.
    pub fn seq_of(&self, stream: Stream) -> u64 {
        match stream {
            Stream::Quotes => self.seq,
            Stream::Book => self.book_seq,
        }
    }

    /// Applies an event scheduled for `ts_ns`, stamps the next `seq` of its stream and returns
    /// its message. A book level's message is the change as a client of the full depth sees it.
    pub fn apply(&mut self, event: &MarketEvent, ts_ns: u64) -> ServerMessage {
        if self.apply_book(event, ts_ns).is_some() {
            return self.message(event, self.book_seq, ts_ns);
        }
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
            MarketEvent::Level { .. } | MarketEvent::Touch { .. } | MarketEvent::Resync { .. } => {}
        }
        self.message(event, self.seq, ts_ns)
    }

    /// Applies an event of the book's stream: its next `seq`, and the change. Returns what a
    /// client at each depth needs to know of it ([`BookChange`]); `None` for other events.
    pub fn apply_book(&mut self, event: &MarketEvent, ts_ns: u64) -> Option<BookChange> {
        let change = match *event {
            MarketEvent::Level {
                side, price, size, ..
            } => BookChange::Level(self.book.set(side, price, size)),
            MarketEvent::Touch {
                bid,
                bid_size,
                ask,
                ask_size,
                ..
            } => BookChange::Touch(self.book.apply_touch(bid, bid_size, ask, ask_size)),
            MarketEvent::Resync { .. } => BookChange::Resync,
            MarketEvent::Quote { .. } | MarketEvent::Trade { .. } => return None,
        };
        self.book_seq += 1;
        self.book_ts_ns = ts_ns;
        Some(change)
    }

    /// A level in ticks and lots as the wire writes it.
    pub fn level(&self, price: i64, size: i64) -> Level {
        Level(self.price(price), self.size(size))
    }

    /// A `book` (`whole`) or `book_update` with these levels, at the book's `seq`, with the
    /// checksum of the book truncated to `depth`.
    pub fn book_message(
        &self,
        whole: bool,
        bids: Vec<Level>,
        asks: Vec<Level>,
        depth: usize,
    ) -> ServerMessage {
        let top = depth.min(CHECKSUM_LEVELS);
        let side = |side| -> Vec<Level> {
            self.book
                .side(side)
                .take(top)
                .map(|(p, s)| self.level(p, s))
                .collect()
        };
        let (top_asks, top_bids) = (side(Side::Sell), side(Side::Buy));
        let checksum = protocol::checksum::checksum(
            top_asks.iter().map(|l| (&l.0, &l.1)),
            top_bids.iter().map(|l| (&l.0, &l.1)),
        );
        let book = Book {
            symbol: self.instrument.symbol.clone(),
            seq: self.book_seq,
            bids,
            asks,
            checksum,
            ts_ns: self.book_ts_ns,
        };
        if whole {
            ServerMessage::Book(book)
        } else {
            ServerMessage::BookUpdate(book)
        }
    }

    /// The whole book to `depth` levels a side: what a `book` subscriber starts from.
    pub fn book(&self, depth: usize) -> ServerMessage {
        let side = |side| -> Vec<Level> {
            self.book
                .side(side)
                .take(depth)
                .map(|(p, s)| self.level(p, s))
                .collect()
        };
        self.book_message(true, side(Side::Buy), side(Side::Sell), depth)
    }

    /// What a client holding `depth` levels a side is sent of a book event just applied: a
    /// `book_update`, or after a re-sync the whole `book`.
    pub fn book_update(
        &self,
        event: &MarketEvent,
        change: &BookChange,
        depth: usize,
    ) -> ServerMessage {
        let levels = |side: &[(i64, i64)]| -> Vec<Level> {
            side.iter().map(|&(p, s)| self.level(p, s)).collect()
        };
        let (bids, asks) = match (event, change) {
            (_, BookChange::Resync) => return self.book(depth),
            (MarketEvent::Level { side, price, .. }, BookChange::Level(old)) => {
                let changed = levels(&self.book.update_at_depth(*side, *price, *old, depth));
                match side {
                    Side::Buy => (changed, Vec::new()),
                    Side::Sell => (Vec::new(), changed),
                }
            }
            (_, BookChange::Touch(changes)) => {
                let before = self.book.window_before(changes, depth);
                let [bids, asks] = self.book.window_update(&before, depth);
                (levels(&bids), levels(&asks))
            }
            _ => (Vec::new(), Vec::new()),
        };
        self.book_message(false, bids, asks, depth)
    }

    /// The message of an event of this symbol with its `seq` and `ts_ns`: what [`Market::apply`]
    /// returns, and what a replay from history sends again.
    /// The wire message of an event (a live venue's fields are added by [`with_extras`]).
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
                exch_ts_ns: None,
            }),
            MarketEvent::Trade { price, size, .. } => ServerMessage::Trade(Trade {
                symbol,
                seq,
                price: self.price(price),
                size: self.size(size),
                ts_ns,
                exch_ts_ns: None,
                trade_id: None,
                aggressor: None,
            }),
            MarketEvent::Level { .. } | MarketEvent::Touch { .. } | MarketEvent::Resync { .. } => {
                // Only a marker of the change, made for nothing: what a client is sent of a
                // level depends on its depth ([`Market::book_update`]), so the event travels as
                // itself and each edge makes the updates, with their checksums.
                let (bids, asks) = (Vec::new(), Vec::new());
                ServerMessage::BookUpdate(Book {
                    symbol,
                    seq,
                    bids,
                    asks,
                    checksum: 0,
                    ts_ns,
                })
            }
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

/// A quote or trade with a live venue's fields set from `extras`; anything else as it is.
pub fn with_extras(
    mut message: ServerMessage,
    extras: protocol::recording::Extras,
) -> ServerMessage {
    if extras.is_none() {
        return message;
    }
    match &mut message {
        ServerMessage::Quote(q) => q.exch_ts_ns = extras.exch_ts_ns(),
        ServerMessage::Trade(t) => {
            t.exch_ts_ns = extras.exch_ts_ns();
            t.trade_id = extras.trade_id();
            t.aggressor = extras.aggressor();
        }
        _ => {}
    }
    message
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
