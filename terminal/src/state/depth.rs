//! The depth ladder's state: the selected symbol's order book, kept from the server's `book` and
//! `book_update` messages by the protocol's rules ([`OrderBook`]), every checksum verified; on a
//! gap or a mismatch the book is dropped and subscribed again.

use protocol::book::{BookStep, OrderBook};
use protocol::{Book, Channel, ClientMessage, Decimal, Side, Subscribe, Symbol, Unsubscribe};

/// Levels a side the ladder streams: the checksum's ten.
pub const LADDER_DEPTH: u32 = 10;

/// Whether the ladder's book is the server's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BookState {
    /// Subscribed; the first `book` has not come yet.
    Waiting,
    InSync,
    /// A checksum did not match, or updates were missed: a fresh `book` is on its way.
    Resyncing {
        mismatch: bool,
    },
}

impl BookState {
    pub fn label(self) -> &'static str {
        match self {
            Self::Waiting => "waiting for the book",
            Self::InSync => "in sync",
            Self::Resyncing { mismatch: true } => "checksum mismatch: resyncing",
            Self::Resyncing { mismatch: false } => "missed updates: resyncing",
        }
    }
}

/// The ladder pane: shown or not, the symbol whose book it streams, and that book.
#[derive(Debug, Clone)]
pub struct Depth {
    pub visible: bool,
    pub symbol: Option<Symbol>,
    pub book: OrderBook,
    pub state: BookState,
    /// Fresh books this session: asked for after a gap or a mismatch, or sent unasked by the
    /// server when its source re-synced the book (a live venue's snapshot).
    pub resyncs: u64,
}

impl Default for Depth {
    fn default() -> Self {
        Self {
            visible: false,
            symbol: None,
            book: OrderBook::new(LADDER_DEPTH as usize),
            state: BookState::Waiting,
            resyncs: 0,
        }
    }
}

fn subscribe(symbol: &Symbol) -> ClientMessage {
    ClientMessage::Subscribe(Subscribe {
        channels: Some(vec![Channel::Book]),
        depth: Some(LADDER_DEPTH),
        ..Subscribe::to(vec![symbol.clone()])
    })
}

fn unsubscribe(symbol: &Symbol) -> ClientMessage {
    ClientMessage::Unsubscribe(Unsubscribe {
        symbols: vec![symbol.clone()],
        channels: Some(vec![Channel::Book]),
    })
}

/// What a market order would get from the book as it is now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Estimate {
    /// The average price of what the book can fill, exactly.
    pub average: Decimal,
    /// How much worse than the touch the average is (never negative).
    pub slippage: Decimal,
    /// What the book can fill: less than asked when it is too thin.
    pub fillable: Decimal,
}

impl Depth {
    /// What a market order of `qty` on `side` would fill against the ladder's book, walking it as
    /// the server does; `None` unless the ladder holds `symbol`'s book in sync. The ladder sees
    /// only its ten levels a side, so a larger order may fill more than `fillable` says.
    pub fn estimate(&self, symbol: &str, side: Side, qty: Decimal) -> Option<Estimate> {
        if self.symbol.as_deref() != Some(symbol) || self.state != BookState::InSync {
            return None;
        }
        let levels: Vec<(&Decimal, &Decimal)> = match side {
            Side::Buy => self.book.asks().collect(),
            Side::Sell => self.book.bids().collect(),
        };
        let touch = *levels.first()?.0;
        let (mut left, mut notional) = (qty, Decimal::ZERO);
        for (&price, &size) in levels {
            if left <= Decimal::ZERO {
                break;
            }
            let take = size.min(left);
            notional = notional.checked_add(price.checked_mul(take)?)?;
            left -= take;
        }
        let fillable = qty - left.max(Decimal::ZERO);
        if fillable.is_zero() {
            return None;
        }
        let average = notional.checked_div(fillable)?;
        let slippage = match side {
            Side::Buy => average - touch,
            Side::Sell => touch - average,
        };
        Some(Estimate {
            average,
            slippage,
            fillable,
        })
    }

    /// Shows or hides the ladder for `selected`; the messages that start or stop its book.
    pub fn toggle(&mut self, selected: Option<&Symbol>, out: &mut Vec<ClientMessage>) {
        self.visible = !self.visible;
        if self.visible {
            self.follow(selected, out);
        } else if let Some(old) = self.symbol.take() {
            out.push(unsubscribe(&old));
            self.book.reset();
        }
    }

    /// Streams the book of the selected symbol while the ladder shows, and only that one.
    pub fn follow(&mut self, selected: Option<&Symbol>, out: &mut Vec<ClientMessage>) {
        if !self.visible || self.symbol.as_ref() == selected {
            return;
        }
        if let Some(old) = self.symbol.take() {
            out.push(unsubscribe(&old));
        }
        self.book.reset();
        self.state = BookState::Waiting;
        if let Some(symbol) = selected {
            out.push(subscribe(symbol));
            self.symbol = Some(symbol.clone());
        }
    }

    /// A new connection: the book starts again from a `book`.
    ///
    /// On the same server session (`same_epoch`, the epoch of both connections) a book in sync
    /// resumes from its `seq`: the server sends the updates it missed, or a fresh `book`.
    pub fn reconnected(&mut self, same_epoch: Option<&str>, out: &mut Vec<ClientMessage>) {
        let (true, Some(symbol)) = (self.visible, &self.symbol) else {
            return;
        };
        let resume = match (same_epoch, self.state, self.book.seq()) {
            (Some(epoch), BookState::InSync, Some(seq)) => Some(protocol::Resume {
                epoch: epoch.to_owned(),
                from: std::collections::BTreeMap::new(),
                book_from: [(symbol.clone(), seq)].into(),
            }),
            _ => None,
        };
        let mut message = subscribe(symbol);
        if let (Some(resume), ClientMessage::Subscribe(s)) = (resume, &mut message) {
            s.resume = Some(resume);
        } else {
            self.book.reset();
            self.state = BookState::Waiting;
        }
        out.push(message);
    }

    /// A `book` (`whole`) or `book_update` from the server.
    pub fn apply(&mut self, message: &Book, whole: bool, out: &mut Vec<ClientMessage>) {
        let Some(symbol) = &self.symbol else {
            return;
        };
        if *symbol != message.symbol {
            return;
        }
        // While a fresh book is on its way, updates for the dropped one are of no use.
        if !whole && self.state != BookState::InSync {
            return;
        }
        // A `book` while in step is the server's re-sync, not an answer to ours.
        let unasked = whole && self.state == BookState::InSync && self.book.seq().is_some();
        let mismatch = match self.book.apply(message, whole) {
            BookStep::InSync => {
                self.state = BookState::InSync;
                self.resyncs += u64::from(unasked);
                return;
            }
            BookStep::Stale => return,
            BookStep::Gap { .. } => false,
            BookStep::Mismatch { .. } => true,
        };
        self.resyncs += 1;
        self.state = BookState::Resyncing { mismatch };
        self.book.reset();
        out.push(subscribe(symbol));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::checksum::checksum_text;
    use protocol::{Decimal, Level};

    fn d(s: &str) -> Decimal {
        Decimal::from_str_exact(s).unwrap_or_default()
    }

    fn book(seq: u64, bids: &[(&str, &str)], asks: &[(&str, &str)], checksum: u32) -> Book {
        let levels = |side: &[(&str, &str)]| side.iter().map(|(p, s)| Level(d(p), d(s))).collect();
        Book {
            symbol: "AAPL".into(),
            seq,
            bids: levels(bids),
            asks: levels(asks),
            checksum,
            ts_ns: 0,
        }
    }

    #[test]
    fn a_mismatch_or_a_gap_asks_for_a_fresh_book_and_counts_it() {
        let mut depth = Depth::default();
        let mut out = Vec::new();
        let aapl: Symbol = "AAPL".into();
        depth.toggle(Some(&aapl), &mut out);
        assert_eq!(out, [subscribe(&aapl)]);
        out.clear();
        let (bids, asks) = ([("10.00", "5")], [("10.01", "7")]);
        let sum = checksum_text(asks, bids);
        depth.apply(&book(1, &bids, &asks, sum), true, &mut out);
        assert_eq!(depth.state, BookState::InSync);
        // A wrong checksum: resubscribe.
        depth.apply(&book(2, &[("10.00", "6")], &[], sum), false, &mut out);
        assert_eq!(depth.state, BookState::Resyncing { mismatch: true });
        assert_eq!((depth.resyncs, out.len()), (1, 1));
        // The fresh book puts it right; then a gap resubscribes too.
        depth.apply(&book(9, &bids, &asks, sum), true, &mut out);
        assert_eq!(depth.state, BookState::InSync);
        depth.apply(&book(11, &[], &[], sum), false, &mut out);
        assert_eq!(depth.state, BookState::Resyncing { mismatch: false });
        assert_eq!((depth.resyncs, out.len()), (2, 2));
        // The server's own re-sync (a live venue's snapshot): a fresh book while in step is
        // counted, and nothing is asked for.
        depth.apply(&book(12, &bids, &asks, sum), true, &mut out);
        assert_eq!(depth.resyncs, 2, "the answer to our own resubscribe");
        depth.apply(&book(14, &bids, &asks, sum), true, &mut out);
        assert_eq!(
            (depth.state, depth.resyncs, out.len()),
            (BookState::InSync, 3, 2)
        );
    }

    #[test]
    fn a_reconnect_to_the_same_session_resumes_the_book_from_its_seq() {
        let mut depth = Depth::default();
        let mut out = Vec::new();
        let aapl: Symbol = "AAPL".into();
        depth.toggle(Some(&aapl), &mut out);
        let (bids, asks) = ([("10.00", "5")], [("10.01", "7")]);
        let sum = checksum_text(asks, bids);
        depth.apply(&book(4, &bids, &asks, sum), true, &mut out);
        out.clear();
        depth.reconnected(Some("e1"), &mut out);
        let [ClientMessage::Subscribe(s)] = out.as_slice() else {
            panic!("{out:?}");
        };
        let resume = s
            .resume
            .as_ref()
            .map(|r| (r.epoch.as_str(), r.book_from.get(&aapl)));
        assert_eq!(resume, Some(("e1", Some(&4))));
        // The book stays in sync: the next update continues it.
        assert_eq!(depth.state, BookState::InSync);
        depth.apply(&book(5, &[], &[], sum), false, &mut out);
        assert_eq!(depth.state, BookState::InSync);
        // Another session: a fresh book, no resume.
        out.clear();
        depth.reconnected(None, &mut out);
        assert_eq!(out, [subscribe(&aapl)]);
        assert_eq!(depth.state, BookState::Waiting);
    }

    #[test]
    fn the_ladder_follows_the_selection_and_stops_when_hidden() {
        let mut depth = Depth::default();
        let mut out = Vec::new();
        let (aapl, msft): (Symbol, Symbol) = ("AAPL".into(), "MSFT".into());
        depth.follow(Some(&aapl), &mut out);
        assert!(out.is_empty(), "hidden: nothing streams");
        depth.toggle(Some(&aapl), &mut out);
        depth.follow(Some(&msft), &mut out);
        depth.toggle(Some(&msft), &mut out);
        assert_eq!(
            out,
            [
                subscribe(&aapl),
                unsubscribe(&aapl),
                subscribe(&msft),
                unsubscribe(&msft)
            ]
        );
    }

    #[test]
    fn a_market_order_estimate_walks_the_book_exactly() {
        let mut depth = Depth::default();
        let mut out = Vec::new();
        let aapl: Symbol = "AAPL".into();
        depth.toggle(Some(&aapl), &mut out);
        let (bids, asks) = (
            [("10.00", "5")],
            [("10.01", "100"), ("10.02", "200"), ("10.05", "100")],
        );
        depth.apply(
            &book(1, &bids, &asks, checksum_text(asks, bids)),
            true,
            &mut out,
        );
        let e = depth.estimate("AAPL", Side::Buy, d("250")).unwrap();
        // 100 at 10.01 and 150 at 10.02: 2504 / 250.
        assert_eq!(
            (e.average, e.slippage, e.fillable),
            (d("10.016"), d("0.006"), d("250"))
        );
        let all = depth.estimate("AAPL", Side::Buy, d("1000")).unwrap();
        assert_eq!(all.fillable, d("400"));
        assert_eq!(depth.estimate("MSFT", Side::Buy, d("1")), None);
        let sell = depth.estimate("AAPL", Side::Sell, d("5")).unwrap();
        assert_eq!((sell.average, sell.slippage), (d("10.00"), d("0.00")));
    }
}
