//! Coinbase Exchange's public feed (`ws-feed.exchange.coinbase.com`), the channels that need no
//! key: `level2_batch` (a `snapshot` of the whole book, then `l2update`s of levels' new sizes,
//! batched every 50 ms), `matches` (trades) and `heartbeat` (one a second per product, so a
//! quiet product is not taken for a dead stream). `level2` itself sends the same messages
//! unbatched but now needs an authenticated connection.
//!
//! The book is whole from its snapshot; an `l2update` before it is dropped. A reconnect
//! subscribes again and every book starts over from its new snapshot. Quotes come from the
//! book's top; `last_match` (the product's previous trade, sent on subscribing) is not a new
//! trade and is skipped.

use serde::Deserialize;

use super::adapter::{Adapter, Out, rfc3339_ns, side_of};
use super::book::VenueBook;
use super::grid::Meta;
use protocol::Side;
use protocol::recording::{Extras, MarketEvent};

#[derive(Debug)]
struct Symbol {
    meta: Meta,
    book: VenueBook,
    synced: bool,
}

/// Coinbase's adapter for the symbols of one `--ingest coinbase:...`.
#[derive(Debug)]
pub struct Coinbase {
    url: String,
    symbols: Vec<Symbol>,
}

#[derive(Deserialize)]
struct Message<'a> {
    #[serde(rename = "type", borrow)]
    kind: &'a str,
    #[serde(default, borrow)]
    product_id: Option<&'a str>,
    #[serde(default, borrow)]
    bids: Vec<[&'a str; 2]>,
    #[serde(default, borrow)]
    asks: Vec<[&'a str; 2]>,
    #[serde(default, borrow)]
    changes: Vec<[&'a str; 3]>,
    #[serde(default, borrow)]
    price: Option<&'a str>,
    #[serde(default, borrow)]
    size: Option<&'a str>,
    #[serde(default, borrow)]
    time: Option<&'a str>,
    #[serde(default)]
    trade_id: Option<u64>,
    /// A match's maker side: the taker took the other.
    #[serde(default, borrow)]
    side: Option<&'a str>,
    #[serde(rename = "message", default, borrow)]
    text: Option<&'a str>,
    #[serde(default, borrow)]
    reason: Option<&'a str>,
}

impl Coinbase {
    /// `url` is the feed's WebSocket (`wss://ws-feed.exchange.coinbase.com`).
    pub fn new(url: &str, metas: Vec<Meta>, depth: usize) -> Self {
        Self {
            url: url.to_owned(),
            symbols: metas
                .into_iter()
                .map(|meta| Symbol {
                    book: VenueBook::new(meta.index, depth, meta.opening()),
                    meta,
                    synced: false,
                })
                .collect(),
        }
    }

    fn find(&self, product: Option<&str>) -> Result<usize, String> {
        let product = product.ok_or("a message without product_id")?;
        self.symbols
            .iter()
            .position(|s| s.meta.venue_symbol == product)
            .ok_or_else(|| format!("a message for {product}, not subscribed"))
    }
}

fn side(text: &str) -> Result<Side, String> {
    side_of(text).ok_or_else(|| format!("side `{text}`"))
}

impl Adapter for Coinbase {
    fn url(&self) -> String {
        self.url.clone()
    }

    fn on_connected(&mut self, out: &mut Out) {
        for symbol in &mut self.symbols {
            symbol.synced = false;
        }
        let ids: Vec<String> = self
            .symbols
            .iter()
            .map(|s| format!("\"{}\"", s.meta.venue_symbol))
            .collect();
        out.send.push(format!(
            r#"{{"type":"subscribe","product_ids":[{}],"channels":["level2_batch","matches","heartbeat"]}}"#,
            ids.join(",")
        ));
    }

    fn on_text(&mut self, text: &str, _recv_ns: u64, out: &mut Out) -> Result<(), String> {
        let message: Message<'_> =
            serde_json::from_str(text).map_err(|e| format!("not a Coinbase message: {e}"))?;
        if let Some(ts) = message.time.and_then(rfc3339_ns) {
            out.exch_ts_ns = Some(ts);
        }
        match message.kind {
            "snapshot" => {
                let k = self.find(message.product_id)?;
                let symbol = &mut self.symbols[k];
                symbol.book.clear();
                let grid = &symbol.meta.grid;
                let bids = symbol.book.set_all(
                    grid,
                    Side::Buy,
                    message.bids.iter().map(|[p, s]| (*p, *s)),
                );
                let asks = symbol.book.set_all(
                    grid,
                    Side::Sell,
                    message.asks.iter().map(|[p, s]| (*p, *s)),
                );
                symbol.synced = true;
                symbol.book.flush(&mut out.events);
                out.synced.push(symbol.meta.index);
                bids.and(asks)
                    .map_err(|e| format!("{}: a level skipped: {e}", symbol.meta.venue_symbol))
            }
            "l2update" => {
                let k = self.find(message.product_id)?;
                let symbol = &mut self.symbols[k];
                if !symbol.synced {
                    return Ok(());
                }
                let mut skipped = Ok(());
                for [side_text, price, size] in &message.changes {
                    let applied = side(side_text).and_then(|side| {
                        symbol
                            .book
                            .set_text(&symbol.meta.grid, side, price, size)
                            .map_err(|e| e.0)
                    });
                    skipped = skipped.and(applied);
                }
                symbol.book.flush(&mut out.events);
                skipped.map_err(|e| format!("{}: a level skipped: {e}", symbol.meta.venue_symbol))
            }
            "match" => {
                let k = self.find(message.product_id)?;
                let meta = &self.symbols[k].meta;
                let price = meta
                    .grid
                    .price(message.price.ok_or("a match without price")?)
                    .map_err(|e| e.0)?;
                let size = meta
                    .grid
                    .size(message.size.ok_or("a match without size")?)
                    .map_err(|e| e.0)?;
                if size > 0 {
                    let aggressor = message.side.and_then(side_of).map(Side::opposite);
                    out.trade(
                        MarketEvent::Trade {
                            symbol: meta.index,
                            price,
                            size,
                        },
                        Extras::new(out.exch_ts_ns, message.trade_id, aggressor),
                    );
                }
                Ok(())
            }
            "error" => Err(format!(
                "Coinbase: {} {}",
                message.text.unwrap_or(""),
                message.reason.unwrap_or("")
            )),
            // subscriptions, heartbeat, last_match, ticker: nothing to do.
            _ => Ok(()),
        }
    }
}
