//! Another Tickwire server as a venue (`--ingest tickwire:ws://HOST:PORT/ws`): a relay.
//!
//! The relay subscribes to every symbol the upstream served at start (`"*"`), quotes and books
//! at depth 50, and follows them as any client does: each quote stream by its `seq`
//! ([`Sequence`]), each book by its `seq` and checksum ([`OrderBook`]). After a reconnect to the
//! same epoch it resumes (`resume.from` and `resume.book_from`), so nothing is missed while the
//! upstream's history covers it; to a new epoch (a restarted upstream) it starts afresh from
//! snapshots and books. A stream that skips a `seq`, or a book whose checksum fails, is
//! subscribed again alone. Quotes and trades pass through as they were; the relay's book is
//! the upstream's, and a fresh upstream book reaches the relay's clients as the updates that
//! take their book to it. The relay's own clients keep their connections through all of it.

use std::collections::{BTreeMap, HashMap};

use protocol::book::{BookStep, OrderBook};
use protocol::recording::{Extras, MarketEvent};
use protocol::{
    Book, Channel, ClientMessage, Decoder, Resume, Sequence, ServerMessage, Side, Step, Subscribe,
    Symbol, encode_client,
};

use super::adapter::{Adapter, Out, Resync};
use super::book::VenueBook;
use super::grid::Meta;

/// The depth the relay follows upstream books at (the protocol's deepest).
pub const RELAY_DEPTH: usize = protocol::MAX_BOOK_DEPTH as usize;

#[derive(Debug)]
struct Followed {
    meta: Meta,
    name: Symbol,
    quotes: Sequence,
    verified: OrderBook,
    book: VenueBook,
}

/// The relay's adapter.
#[derive(Debug)]
pub struct Tickwire {
    url: String,
    symbols: Vec<Followed>,
    by_name: HashMap<Symbol, usize>,
    /// The upstream's epoch of the `seq`s held.
    epoch: Option<String>,
    decoder: Decoder,
}

impl Tickwire {
    /// Follows `metas` (the upstream's symbols, named as it names them) at `url`.
    pub fn new(url: &str, metas: Vec<Meta>, depth: usize) -> Self {
        let symbols: Vec<Followed> = metas
            .into_iter()
            .map(|meta| Followed {
                name: Symbol::from(meta.venue_symbol.as_str()),
                book: VenueBook::new(meta.index, depth.min(RELAY_DEPTH), meta.opening())
                    .without_quotes(),
                meta,
                quotes: Sequence::new(),
                verified: OrderBook::new(RELAY_DEPTH),
            })
            .collect();
        let by_name = symbols
            .iter()
            .enumerate()
            .map(|(k, s)| (s.name.clone(), k))
            .collect();
        Self {
            url: url.to_owned(),
            symbols,
            by_name,
            epoch: None,
            decoder: Decoder::new(),
        }
    }

    fn subscribe(symbols: Vec<Symbol>, channels: Vec<Channel>, resume: Option<Resume>) -> String {
        encode_client(&ClientMessage::Subscribe(Subscribe {
            channels: Some(channels),
            depth: Some(protocol::MAX_BOOK_DEPTH),
            resume,
            ..Subscribe::to(symbols)
        }))
    }

    fn on_hello(&mut self, epoch: Option<String>, out: &mut Out) {
        let same = epoch.is_some() && epoch == self.epoch;
        let all = vec![Symbol::from("*")];
        let channels = vec![Channel::Quotes, Channel::Book];
        if same {
            let mut from = BTreeMap::new();
            let mut book_from = BTreeMap::new();
            for s in &mut self.symbols {
                if let Some(seq) = s.quotes.last() {
                    from.insert(s.name.clone(), seq);
                }
                s.quotes.resume();
                if let Some(seq) = s.verified.seq() {
                    book_from.insert(s.name.clone(), seq);
                }
            }
            let resume = Resume {
                epoch: self.epoch.clone().unwrap_or_default(),
                from,
                book_from,
            };
            out.send.push(Self::subscribe(all, channels, Some(resume)));
        } else {
            for s in &mut self.symbols {
                s.quotes = Sequence::new();
                s.verified.reset();
            }
            self.epoch = epoch;
            out.send.push(Self::subscribe(all, channels, None));
        }
    }

    fn quote_step(&mut self, k: usize, seq: u64, out: &mut Out) -> bool {
        match self.symbols[k].quotes.event(seq) {
            Step::First | Step::Next => true,
            Step::Gap { .. } => {
                // Pass it on (the relay's own clients see no gap), and fetch a snapshot so
                // that the relay's state is the upstream's again.
                let s = &mut self.symbols[k];
                s.quotes.resync();
                out.resyncs.push(Resync::Gap);
                out.send.push(Self::subscribe(
                    vec![s.name.clone()],
                    vec![Channel::Quotes],
                    None,
                ));
                true
            }
            Step::Stale | Step::Unsynced => false,
        }
    }

    fn on_book(&mut self, k: usize, message: &Book, whole: bool, out: &mut Out) {
        let s = &mut self.symbols[k];
        let step = s.verified.apply(message, whole);
        match step {
            BookStep::InSync => {
                // The message's levels are the changes (a `book`: the whole book), already
                // checked: applied as they are, then cut to the depth followed, beyond which
                // the upstream says nothing.
                if whole {
                    s.book.clear();
                }
                let grid = &s.meta.grid;
                let mut skipped = None;
                for (side, levels) in [(Side::Buy, &message.bids), (Side::Sell, &message.asks)] {
                    for &protocol::Level(price, size) in levels {
                        match (grid.in_ticks(price), grid.in_lots(size)) {
                            (Ok(price), Ok(size)) => s.book.set(side, price, size),
                            (Err(e), _) | (_, Err(e)) => skipped = Some(e),
                        }
                    }
                }
                if let Some(e) = skipped {
                    tracing::warn!(symbol = %s.name, "relay: a level skipped: {e}");
                }
                s.book.truncate(RELAY_DEPTH);
                s.book.flush(&mut out.events);
                if whole {
                    out.synced.push(s.meta.index);
                }
            }
            BookStep::Stale => {}
            BookStep::Gap { .. } | BookStep::Mismatch { .. } => {
                let cause = if matches!(step, BookStep::Gap { .. }) {
                    Resync::Gap
                } else {
                    Resync::Checksum
                };
                s.verified.reset();
                out.resyncs.push(cause);
                out.send.push(Self::subscribe(
                    vec![s.name.clone()],
                    vec![Channel::Book],
                    None,
                ));
            }
        }
    }

    fn on_message(&mut self, message: ServerMessage, out: &mut Out) -> Result<(), String> {
        let index =
            |by_name: &HashMap<Symbol, usize>, symbol: &Symbol| by_name.get(symbol).copied();
        match message {
            ServerMessage::Hello(hello) => self.on_hello(hello.epoch, out),
            ServerMessage::Snapshot(snapshot) => {
                let Some(k) = index(&self.by_name, &snapshot.symbol) else {
                    return Ok(());
                };
                out.exch_ts_ns = Some(snapshot.ts_ns);
                if self.symbols[k].quotes.snapshot(snapshot.seq) == Step::Stale {
                    return Ok(());
                }
                let grid = &self.symbols[k].meta.grid;
                let quote = (
                    grid.in_ticks(snapshot.bid),
                    grid.in_lots(snapshot.bid_size),
                    grid.in_ticks(snapshot.ask),
                    grid.in_lots(snapshot.ask_size),
                );
                if let (Ok(bid), Ok(bid_size), Ok(ask), Ok(ask_size)) = quote
                    && bid < ask
                {
                    out.events.push(MarketEvent::Quote {
                        symbol: self.symbols[k].meta.index,
                        bid,
                        bid_size,
                        ask,
                        ask_size,
                    });
                }
            }
            ServerMessage::Quote(quote) => {
                let Some(k) = index(&self.by_name, &quote.symbol) else {
                    return Ok(());
                };
                out.exch_ts_ns = quote.exch_ts_ns.or(Some(quote.ts_ns));
                if self.quote_step(k, quote.seq, out) {
                    let meta = &self.symbols[k].meta;
                    let grid = &meta.grid;
                    out.events.push(MarketEvent::Quote {
                        symbol: meta.index,
                        bid: grid.in_ticks(quote.bid)?,
                        bid_size: grid.in_lots(quote.bid_size)?,
                        ask: grid.in_ticks(quote.ask)?,
                        ask_size: grid.in_lots(quote.ask_size)?,
                    });
                }
            }
            ServerMessage::Trade(trade) => {
                let Some(k) = index(&self.by_name, &trade.symbol) else {
                    return Ok(());
                };
                out.exch_ts_ns = Some(trade.ts_ns);
                if self.quote_step(k, trade.seq, out) {
                    let meta = &self.symbols[k].meta;
                    // The upstream's venue fields pass through; its own time stands in for a
                    // venue time it does not have (to a relay, the upstream is the venue).
                    out.trade(
                        MarketEvent::Trade {
                            symbol: meta.index,
                            price: meta.grid.in_ticks(trade.price)?,
                            size: meta.grid.in_lots(trade.size)?,
                        },
                        Extras::new(
                            trade.exch_ts_ns.or(Some(trade.ts_ns)),
                            trade.trade_id,
                            trade.aggressor,
                        ),
                    );
                }
            }
            ServerMessage::Book(book) => {
                if let Some(k) = index(&self.by_name, &book.symbol) {
                    out.exch_ts_ns = Some(book.ts_ns);
                    self.on_book(k, &book, true, out);
                }
            }
            ServerMessage::BookUpdate(book) => {
                if let Some(k) = index(&self.by_name, &book.symbol) {
                    out.exch_ts_ns = Some(book.ts_ns);
                    self.on_book(k, &book, false, out);
                }
            }
            ServerMessage::Error(e) => return Err(format!("the upstream says: {}", e.message)),
            _ => {}
        }
        Ok(())
    }
}

impl Adapter for Tickwire {
    fn url(&self) -> String {
        self.url.clone()
    }

    /// The subscribe waits for the upstream's `hello`: its epoch decides between a resume and
    /// a fresh start.
    fn on_connected(&mut self, _out: &mut Out) {}

    fn on_text(&mut self, text: &str, _recv_ns: u64, out: &mut Out) -> Result<(), String> {
        let messages = self
            .decoder
            .server(text.as_bytes())
            .map_err(|e| format!("not a Tickwire frame: {e}"))?;
        let mut first = Ok(());
        for message in messages {
            if let Err(e) = self.on_message(message, out)
                && first.is_ok()
            {
                first = Err(e);
            }
        }
        first
    }
}
