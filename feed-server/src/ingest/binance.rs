//! Binance spot's public streams: `<symbol>@depth@100ms` (diff depth), `<symbol>@bookTicker`
//! and `<symbol>@trade`, on one combined stream (`/stream?streams=...`), with the REST depth
//! snapshot (`/api/v3/depth?symbol=...&limit=1000`).
//!
//! The book follows Binance's documented rules: diffs are buffered from the moment the stream
//! opens; the snapshot is fetched; diffs whose last update id `u` is at or below the snapshot's
//! `lastUpdateId` are dropped; the first applied has `U <= lastUpdateId + 1 <= u`, and every
//! later one `U` = previous `u` + 1. A break fetches the snapshot again for that symbol alone.
//! A `bookTicker` with the same update id as the book's last diff must show the book's top: one
//! that does not also re-syncs the symbol. Quotes come from the book's top (consistent with the
//! book clients see), trades from `trade`.

use serde::Deserialize;
use serde_json::value::RawValue;

use super::adapter::{Adapter, Fetch, Out, Resync, ms_to_ns};
use super::book::VenueBook;
use super::grid::{BadLevel, Grid, Meta};
use protocol::Side;
use protocol::recording::{Extras, MarketEvent};

/// Diffs kept per symbol while its snapshot is on its way; past it the sync starts over.
pub const MAX_BUFFERED_DIFFS: usize = 10_000;

/// Levels asked of the REST snapshot.
pub const SNAPSHOT_LIMIT: u32 = 1_000;

/// One symbol's sync state.
#[derive(Debug)]
enum Sync {
    /// Waiting for the REST snapshot; diffs wait here.
    Buffering(Vec<Diff>),
    /// In sync up to this update id.
    Live(u64),
}

#[derive(Debug)]
struct Symbol {
    meta: Meta,
    book: VenueBook,
    sync: Sync,
    /// `bookTicker`s ahead of the book (their update id not yet reached by a diff): the
    /// ticker streams in real time, the diffs every 100 ms. At most [`MAX_PENDING_TICKERS`].
    tickers: std::collections::VecDeque<(u64, Top)>,
}

/// A best bid and ask: `(bid, bid size, ask, ask size)` in ticks and lots.
type Top = (i64, i64, i64, i64);

/// A side's levels, best first: `(price, size)` in ticks and lots.
pub type Levels = Vec<(i64, i64)>;

/// `bookTicker`s kept per symbol until the book reaches their update id.
const MAX_PENDING_TICKERS: usize = 256;

/// A diff as Binance sends it (prices and sizes as text).
#[derive(Debug, Clone, Deserialize)]
struct Diff {
    #[serde(rename = "E", default)]
    event_ms: u64,
    #[serde(rename = "s")]
    symbol: String,
    #[serde(rename = "U")]
    first: u64,
    #[serde(rename = "u")]
    last: u64,
    #[serde(rename = "b", default)]
    bids: Vec<[String; 2]>,
    #[serde(rename = "a", default)]
    asks: Vec<[String; 2]>,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    stream: &'a str,
    #[serde(borrow)]
    data: &'a RawValue,
}

#[derive(Deserialize)]
struct BookTicker<'a> {
    #[serde(rename = "u")]
    update: u64,
    #[serde(rename = "s", borrow)]
    symbol: &'a str,
    #[serde(rename = "b", borrow)]
    bid: &'a str,
    #[serde(rename = "B", borrow)]
    bid_size: &'a str,
    #[serde(rename = "a", borrow)]
    ask: &'a str,
    #[serde(rename = "A", borrow)]
    ask_size: &'a str,
}

#[derive(Deserialize)]
struct RawTrade<'a> {
    #[serde(rename = "s", borrow)]
    symbol: &'a str,
    #[serde(rename = "p", borrow)]
    price: &'a str,
    #[serde(rename = "q", borrow)]
    qty: &'a str,
    #[serde(rename = "T", default)]
    time_ms: u64,
    /// The trade id (`trade`); `aggTrade` names its aggregate id `a`.
    #[serde(rename = "t", default)]
    id: Option<u64>,
    #[serde(rename = "a", default)]
    aggregate_id: Option<u64>,
    /// Whether the buyer was the maker: then a seller took liquidity.
    #[serde(rename = "m", default)]
    buyer_maker: Option<bool>,
}

/// The REST depth snapshot.
#[derive(Debug, Deserialize)]
struct Snapshot {
    #[serde(rename = "lastUpdateId")]
    last_update_id: u64,
    bids: Vec<[String; 2]>,
    asks: Vec<[String; 2]>,
}

/// Binance's adapter for the symbols of one `--ingest binance:...`.
#[derive(Debug)]
pub struct Binance {
    ws_url: String,
    rest_url: String,
    symbols: Vec<Symbol>,
    cross_checked: u64,
}

impl Binance {
    /// `ws_url` is the stream base (`wss://stream.binance.com:9443`), `rest_url` the REST base.
    pub fn new(ws_url: &str, rest_url: &str, metas: Vec<Meta>, depth: usize) -> Self {
        let symbols = metas
            .into_iter()
            .map(|meta| Symbol {
                book: VenueBook::new(meta.index, depth, meta.opening()),
                meta,
                sync: Sync::Buffering(Vec::new()),
                tickers: std::collections::VecDeque::new(),
            })
            .collect();
        Self {
            ws_url: ws_url.trim_end_matches('/').to_owned(),
            rest_url: rest_url.trim_end_matches('/').to_owned(),
            symbols,
            cross_checked: 0,
        }
    }

    /// How many `bookTicker`s arrived at the update id the book was at, and so were compared
    /// with its top.
    pub fn cross_checked(&self) -> u64 {
        self.cross_checked
    }

    /// A symbol's book, best first, `depth` levels a side: `(bids, asks)` in ticks and lots.
    pub fn book(&self, k: usize, depth: usize) -> (Levels, Levels) {
        let book = &self.symbols[k].book;
        (
            book.levels(Side::Buy, depth),
            book.levels(Side::Sell, depth),
        )
    }

    fn find(&self, venue_symbol: &str) -> Option<usize> {
        self.symbols
            .iter()
            .position(|s| s.meta.venue_symbol.eq_ignore_ascii_case(venue_symbol))
    }

    fn snapshot_fetch(&self, k: usize) -> Fetch {
        Fetch {
            symbol: k,
            url: format!(
                "{}/api/v3/depth?symbol={}&limit={SNAPSHOT_LIMIT}",
                self.rest_url, self.symbols[k].meta.venue_symbol
            ),
        }
    }

    /// Starts symbol `k` over: forget its book's sync, buffer diffs, fetch the snapshot.
    fn resync(&mut self, k: usize, why: Resync, out: &mut Out) {
        self.symbols[k].sync = Sync::Buffering(Vec::new());
        out.resyncs.push(why);
        out.fetch.push(self.snapshot_fetch(k));
    }

    fn on_diff(&mut self, diff: Diff, out: &mut Out) -> Result<(), String> {
        let k = self
            .find(&diff.symbol)
            .ok_or_else(|| format!("a diff for {}, not subscribed", diff.symbol))?;
        out.exch_ts_ns = Some(ms_to_ns(diff.event_ms));
        let symbol = &mut self.symbols[k];
        match &mut symbol.sync {
            Sync::Buffering(buffer) => {
                if buffer.len() >= MAX_BUFFERED_DIFFS {
                    buffer.clear();
                    self.resync(k, Resync::Overflow, out);
                } else {
                    buffer.push(diff);
                }
                Ok(())
            }
            Sync::Live(last) => {
                let last = *last;
                if diff.last <= last {
                    return Ok(());
                }
                if diff.first > last.saturating_add(1) {
                    self.resync(k, Resync::Gap, out);
                    return Ok(());
                }
                let applied = apply_levels(&mut symbol.book, &symbol.meta.grid, &diff);
                symbol.sync = Sync::Live(diff.last);
                symbol.book.flush(&mut out.events);
                self.check_pending(k, diff.last, out);
                applied.map_err(|e| format!("{}: a level skipped: {e}", diff.symbol))
            }
        }
    }

    fn on_snapshot(&mut self, k: usize, body: &[u8], out: &mut Out) -> Result<(), String> {
        let snapshot: Snapshot = serde_json::from_slice(body)
            .map_err(|e| format!("the depth snapshot is not Binance's: {e}"))?;
        let symbol = &mut self.symbols[k];
        let Sync::Buffering(buffer) = &mut symbol.sync else {
            return Ok(());
        };
        let buffered = std::mem::take(buffer);
        let id = snapshot.last_update_id;
        let pending: Vec<Diff> = buffered.into_iter().filter(|d| d.last > id).collect();
        if pending
            .first()
            .is_some_and(|d| d.first > id.saturating_add(1))
        {
            // The snapshot is older than what the stream already moved past: fetch again.
            symbol.sync = Sync::Buffering(pending);
            out.resyncs.push(Resync::Snapshot);
            out.fetch.push(self.snapshot_fetch(k));
            return Ok(());
        }
        let symbol = &mut self.symbols[k];
        symbol.book.clear();
        let grid = symbol.meta.grid.clone();
        let mut skipped = Ok(());
        for (side, levels) in [(Side::Buy, &snapshot.bids), (Side::Sell, &snapshot.asks)] {
            let applied = symbol.book.set_all(
                &grid,
                side,
                levels.iter().map(|[p, s]| (p.as_str(), s.as_str())),
            );
            skipped = skipped.and(applied);
        }
        let mut last = id;
        for diff in &pending {
            if diff.first > last.saturating_add(1) {
                // A gap among the buffered diffs themselves.
                symbol.sync = Sync::Buffering(Vec::new());
                out.resyncs.push(Resync::Gap);
                out.fetch.push(self.snapshot_fetch(k));
                return Ok(());
            }
            skipped = skipped.and(apply_levels(&mut symbol.book, &grid, diff));
            last = diff.last;
        }
        symbol.sync = Sync::Live(last);
        symbol.book.flush(&mut out.events);
        out.synced.push(symbol.meta.index);
        let name = symbol.meta.venue_symbol.clone();
        self.check_pending(k, last, out);
        skipped.map_err(|e| format!("{name}: a level skipped: {e}"))
    }

    fn on_book_ticker(&mut self, ticker: &BookTicker<'_>, out: &mut Out) -> Result<(), String> {
        let k = self
            .find(ticker.symbol)
            .ok_or_else(|| format!("a bookTicker for {}, not subscribed", ticker.symbol))?;
        let symbol = &mut self.symbols[k];
        let Sync::Live(last) = symbol.sync else {
            return Ok(());
        };
        if ticker.update < last {
            return Ok(());
        }
        let grid = &symbol.meta.grid;
        let theirs = (
            grid.price(ticker.bid).map_err(|e| e.0)?,
            grid.size(ticker.bid_size).map_err(|e| e.0)?,
            grid.price(ticker.ask).map_err(|e| e.0)?,
            grid.size(ticker.ask_size).map_err(|e| e.0)?,
        );
        if ticker.update == last {
            self.cross_check(k, last, theirs, out);
        } else {
            if symbol.tickers.len() >= MAX_PENDING_TICKERS {
                symbol.tickers.pop_front();
            }
            symbol.tickers.push_back((ticker.update, theirs));
        }
        Ok(())
    }

    /// After the book reached update `last`: compares it with a `bookTicker` of that id, and
    /// forgets those it has passed.
    fn check_pending(&mut self, k: usize, last: u64, out: &mut Out) {
        let symbol = &mut self.symbols[k];
        let mut at_last = None;
        while let Some(&(update, top)) = symbol.tickers.front() {
            if update > last {
                break;
            }
            symbol.tickers.pop_front();
            if update == last {
                at_last = Some(top);
            }
        }
        if let Some(top) = at_last {
            self.cross_check(k, last, top, out);
        }
    }

    fn cross_check(&mut self, k: usize, update: u64, theirs: Top, out: &mut Out) {
        self.cross_checked += 1;
        let symbol = &self.symbols[k];
        if symbol.book.top() != Some(theirs) {
            tracing::warn!(
                symbol = %symbol.meta.venue_symbol,
                update,
                "Binance's bookTicker disagrees with the book at the same update id; fetching the book again"
            );
            self.resync(k, Resync::CrossCheck, out);
        }
    }

    fn on_trade(&mut self, trade: &RawTrade<'_>, out: &mut Out) -> Result<(), String> {
        let k = self
            .find(trade.symbol)
            .ok_or_else(|| format!("a trade for {}, not subscribed", trade.symbol))?;
        let meta = &self.symbols[k].meta;
        let price = meta.grid.price(trade.price).map_err(|e| e.0)?;
        let size = meta.grid.size(trade.qty).map_err(|e| e.0)?;
        if size == 0 {
            return Ok(());
        }
        out.exch_ts_ns = Some(ms_to_ns(trade.time_ms));
        let aggressor = trade
            .buyer_maker
            .map(|maker| if maker { Side::Sell } else { Side::Buy });
        out.trade(
            MarketEvent::Trade {
                symbol: meta.index,
                price,
                size,
            },
            Extras::new(
                Some(ms_to_ns(trade.time_ms)),
                trade.id.or(trade.aggregate_id),
                aggressor,
            ),
        );
        Ok(())
    }
}

fn apply_levels(book: &mut VenueBook, grid: &Grid, diff: &Diff) -> Result<(), BadLevel> {
    let bids = book.set_all(
        grid,
        Side::Buy,
        diff.bids.iter().map(|[p, s]| (p.as_str(), s.as_str())),
    );
    let asks = book.set_all(
        grid,
        Side::Sell,
        diff.asks.iter().map(|[p, s]| (p.as_str(), s.as_str())),
    );
    bids.and(asks)
}

impl Adapter for Binance {
    fn url(&self) -> String {
        let streams: Vec<String> = self
            .symbols
            .iter()
            .flat_map(|s| {
                let name = s.meta.venue_symbol.to_ascii_lowercase();
                [
                    format!("{name}@depth@100ms"),
                    format!("{name}@bookTicker"),
                    format!("{name}@trade"),
                ]
            })
            .collect();
        format!("{}/stream?streams={}", self.ws_url, streams.join("/"))
    }

    fn on_connected(&mut self, out: &mut Out) {
        for k in 0..self.symbols.len() {
            self.symbols[k].sync = Sync::Buffering(Vec::new());
            out.fetch.push(self.snapshot_fetch(k));
        }
    }

    fn on_text(&mut self, text: &str, _recv_ns: u64, out: &mut Out) -> Result<(), String> {
        let envelope: Envelope<'_> = serde_json::from_str(text)
            .map_err(|e| format!("not a combined-stream message: {e}"))?;
        let data = envelope.data.get();
        let kind = envelope.stream.rsplit('@').next().unwrap_or("");
        match kind {
            "100ms" | "depth" => {
                let diff: Diff =
                    serde_json::from_str(data).map_err(|e| format!("depthUpdate: {e}"))?;
                self.on_diff(diff, out)
            }
            "bookTicker" => {
                let ticker: BookTicker<'_> =
                    serde_json::from_str(data).map_err(|e| format!("bookTicker: {e}"))?;
                self.on_book_ticker(&ticker, out)
            }
            "trade" | "aggTrade" => {
                let trade: RawTrade<'_> =
                    serde_json::from_str(data).map_err(|e| format!("trade: {e}"))?;
                self.on_trade(&trade, out)
            }
            _ => Ok(()),
        }
    }

    fn on_fetched(&mut self, fetch: &Fetch, body: Result<Vec<u8>, String>, out: &mut Out) {
        let k = fetch.symbol;
        if k >= self.symbols.len() {
            return;
        }
        let result = body.and_then(|body| self.on_snapshot(k, &body, out));
        if let Err(why) = result {
            tracing::warn!(
                symbol = %self.symbols[k].meta.venue_symbol,
                "Binance depth snapshot: {why}; fetching it again"
            );
            // Keep what was buffered: the next snapshot may still join it.
            out.resyncs.push(Resync::Snapshot);
            out.fetch.push(self.snapshot_fetch(k));
        }
    }
}
