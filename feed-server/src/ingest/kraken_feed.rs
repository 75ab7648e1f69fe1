//! Kraken's WebSocket v2 public feed: `book` (with its checksum on every message) and `trade`.
//!
//! Each symbol's book is kept twice: exactly as Kraken wrote it ([`KrakenBook`], from the
//! numbers' text, for the checksum) at the subscribed depth, and in ticks and lots
//! ([`VenueBook`]) for the server. A checksum that disagrees unsubscribes and subscribes that
//! symbol's book again (Kraken's documented remedy); its clients keep the old book until the
//! new snapshot replaces it, and the other symbols stream on. Quotes come from the book's top.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::adapter::{Adapter, Out, Resync, rfc3339_ns, side_of};
use super::book::VenueBook;
use super::grid::{Grid, Meta};
use super::kraken::{KrakenBook, KrakenError};
use protocol::Decimal;
use protocol::recording::{Extras, MarketEvent};

/// The book depths Kraken offers; the smallest at or above `--ingest-depth` is subscribed.
pub const DEPTHS: [usize; 5] = [10, 25, 100, 500, 1_000];

#[derive(Debug)]
struct Symbol {
    meta: Meta,
    exact: KrakenBook,
    book: VenueBook,
}

/// Kraken's adapter for the symbols of one `--ingest kraken:...`.
#[derive(Debug)]
pub struct Kraken {
    url: String,
    depth: usize,
    symbols: Vec<Symbol>,
}

/// Every v2 message's envelope (the metadata connection reads it too).
#[derive(Deserialize)]
pub(super) struct Message<'a> {
    #[serde(default, borrow)]
    pub(super) channel: Option<&'a str>,
    #[serde(rename = "type", default, borrow)]
    pub(super) kind: Option<&'a str>,
    #[serde(default, borrow)]
    pub(super) data: Option<&'a RawValue>,
    #[serde(default, borrow)]
    method: Option<&'a str>,
    #[serde(default)]
    success: Option<bool>,
    #[serde(default, borrow)]
    error: Option<&'a str>,
}

#[derive(Deserialize)]
struct BookData<'a> {
    #[serde(borrow)]
    symbol: &'a str,
    #[serde(default, borrow)]
    bids: Vec<Level<'a>>,
    #[serde(default, borrow)]
    asks: Vec<Level<'a>>,
    checksum: Option<u32>,
    #[serde(default, borrow)]
    timestamp: Option<&'a str>,
}

#[derive(Deserialize)]
struct Level<'a> {
    #[serde(borrow)]
    price: &'a RawValue,
    #[serde(borrow)]
    qty: &'a RawValue,
}

#[derive(Deserialize)]
struct TradeData<'a> {
    #[serde(borrow)]
    symbol: &'a str,
    /// The taker's side.
    #[serde(default, borrow)]
    side: Option<&'a str>,
    #[serde(default)]
    trade_id: Option<u64>,
    #[serde(borrow)]
    price: &'a RawValue,
    #[serde(borrow)]
    qty: &'a RawValue,
    #[serde(default, borrow)]
    timestamp: Option<&'a str>,
}

impl Kraken {
    /// `url` is the v2 endpoint (`wss://ws.kraken.com/v2`).
    pub fn new(url: &str, metas: Vec<Meta>, depth: usize) -> Self {
        let subscribed = DEPTHS
            .iter()
            .copied()
            .find(|&d| d >= depth)
            .unwrap_or(1_000);
        let symbols = metas
            .into_iter()
            .map(|meta| Symbol {
                exact: KrakenBook::new(subscribed),
                book: VenueBook::new(meta.index, depth, meta.opening()),
                meta,
            })
            .collect();
        Self {
            url: url.to_owned(),
            depth: subscribed,
            symbols,
        }
    }

    /// Subscribes to Kraken's book at `depth` (one of [`DEPTHS`]) rather than the smallest
    /// that covers the served depth: a deeper book to verify, the same levels served.
    #[must_use]
    pub fn with_venue_depth(mut self, depth: usize) -> Self {
        self.depth = depth;
        for symbol in &mut self.symbols {
            symbol.exact = KrakenBook::new(depth);
        }
        self
    }

    fn book_request(&self, method: &str, symbols: &[&str]) -> String {
        let list: Vec<String> = symbols.iter().map(|s| format!("\"{s}\"")).collect();
        format!(
            r#"{{"method":"{method}","params":{{"channel":"book","symbol":[{}],"depth":{}}}}}"#,
            list.join(","),
            self.depth
        )
    }

    fn find(&self, symbol: &str) -> Option<usize> {
        self.symbols
            .iter()
            .position(|s| s.meta.venue_symbol == symbol)
    }

    fn on_book(&mut self, snapshot: bool, data: &str, out: &mut Out) -> Result<(), String> {
        let entries: Vec<BookData<'_>> =
            serde_json::from_str(data).map_err(|e| format!("book: {e}"))?;
        let mut skipped = None;
        for entry in entries {
            let Some(k) = self.find(entry.symbol) else {
                continue;
            };
            if let Some(ts) = entry.timestamp.and_then(rfc3339_ns) {
                out.exch_ts_ns = Some(ts);
            }
            let bids: Vec<(&str, &str)> = entry
                .bids
                .iter()
                .map(|l| (l.price.get(), l.qty.get()))
                .collect();
            let asks: Vec<(&str, &str)> = entry
                .asks
                .iter()
                .map(|l| (l.price.get(), l.qty.get()))
                .collect();
            let symbol = &mut self.symbols[k];
            let failed = match symbol.exact.apply(snapshot, &bids, &asks, entry.checksum) {
                Ok(changes) => {
                    if snapshot {
                        symbol.book.clear();
                        out.synced.push(symbol.meta.index);
                    }
                    for (side, price, size) in changes {
                        match in_units(&symbol.meta.grid, price, size) {
                            Ok((price, size)) => symbol.book.set(side, price, size),
                            Err(e) if skipped.is_none() => {
                                skipped = Some(format!("{}: a level skipped: {e}", entry.symbol));
                            }
                            Err(_) => {}
                        }
                    }
                    symbol.book.flush(&mut out.events);
                    None
                }
                // After a re-subscribe, updates may come before the new snapshot.
                Err(KrakenError::NoSnapshot) => None,
                Err(e) => {
                    symbol.exact.reset();
                    Some(e)
                }
            };
            if let Some(e) = failed {
                tracing::warn!(symbol = entry.symbol, "Kraken book: {e}; subscribing again");
                out.resyncs.push(Resync::Checksum);
                out.send
                    .push(self.book_request("unsubscribe", &[entry.symbol]));
                out.send
                    .push(self.book_request("subscribe", &[entry.symbol]));
            }
        }
        skipped.map_or(Ok(()), Err)
    }

    fn on_trade(&mut self, data: &str, out: &mut Out) -> Result<(), String> {
        let trades: Vec<TradeData<'_>> =
            serde_json::from_str(data).map_err(|e| format!("trade: {e}"))?;
        for trade in trades {
            let Some(k) = self.find(trade.symbol) else {
                continue;
            };
            let meta = &self.symbols[k].meta;
            let price = meta.grid.price(trade.price.get()).map_err(|e| e.0)?;
            let size = meta.grid.size(trade.qty.get()).map_err(|e| e.0)?;
            if let Some(ts) = trade.timestamp.and_then(rfc3339_ns) {
                out.exch_ts_ns = Some(ts);
            }
            if size > 0 {
                let aggressor = trade.side.and_then(side_of);
                out.trade(
                    MarketEvent::Trade {
                        symbol: meta.index,
                        price,
                        size,
                    },
                    Extras::new(
                        trade.timestamp.and_then(rfc3339_ns),
                        trade.trade_id,
                        aggressor,
                    ),
                );
            }
        }
        Ok(())
    }
}

fn in_units(grid: &Grid, price: Decimal, size: Decimal) -> Result<(i64, i64), String> {
    let price = protocol::grid::units(price, grid.tick)
        .map_err(|e| format!("price {price} is not on the tick {} ({e:?})", grid.tick))?;
    let size = protocol::grid::units(size, grid.lot)
        .map_err(|e| format!("size {size} is not on the lot {} ({e:?})", grid.lot))?;
    Ok((price, size))
}

impl Adapter for Kraken {
    fn url(&self) -> String {
        self.url.clone()
    }

    fn on_connected(&mut self, out: &mut Out) {
        for symbol in &mut self.symbols {
            symbol.exact.reset();
        }
        let names: Vec<String> = self
            .symbols
            .iter()
            .map(|s| s.meta.venue_symbol.clone())
            .collect();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        out.send.push(self.book_request("subscribe", &names));
        let list: Vec<String> = names.iter().map(|s| format!("\"{s}\"")).collect();
        out.send.push(format!(
            r#"{{"method":"subscribe","params":{{"channel":"trade","symbol":[{}],"snapshot":false}}}}"#,
            list.join(",")
        ));
    }

    fn on_text(&mut self, text: &str, _recv_ns: u64, out: &mut Out) -> Result<(), String> {
        let message: Message<'_> =
            serde_json::from_str(text).map_err(|e| format!("not a Kraken v2 message: {e}"))?;
        if message.method.is_some() {
            if message.success == Some(false) {
                return Err(format!(
                    "Kraken refused a {}: {}",
                    message.method.unwrap_or(""),
                    message.error.unwrap_or("no reason given")
                ));
            }
            return Ok(());
        }
        match (message.channel, message.kind, message.data) {
            (Some("book"), Some(kind), Some(data)) => {
                self.on_book(kind == "snapshot", data.get(), out)
            }
            (Some("trade"), Some("update"), Some(data)) => self.on_trade(data.get(), out),
            _ => Ok(()),
        }
    }
}
