//! Each venue's instrument metadata at start: tick and lot sizes (so prices and sizes keep
//! their exact grid) and a reference price (the 24-hour open, for the change clients show).
//!
//! - Binance: `GET /api/v3/exchangeInfo?symbols=[...]` (`PRICE_FILTER.tickSize`,
//!   `LOT_SIZE.stepSize`) and `GET /api/v3/ticker/24hr?symbols=[...]` (`openPrice`).
//! - Coinbase: `GET /products/{id}` (`quote_increment`, `base_increment`) and
//!   `GET /products/{id}/stats` (`open`).
//! - Kraken: the WebSocket v2 `instrument` channel's snapshot (`price_increment`,
//!   `qty_increment`) and the `ticker` channel's (`last` - `change`).
//! - Tickwire: the upstream's `hello` (its symbols) and a `snapshot` of each (`tick_size`,
//!   `prev_close`; the lot is the finest place its sizes are written at, as Tickwire writes
//!   sizes at the lot's scale).

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

use super::grid::{Grid, decimal};
use super::link::{LinkSettings, backoff};
use super::rest;
use super::spec::{Spec, Venue};
use protocol::Decimal;

/// A symbol as its venue lists it.
#[derive(Debug, Clone)]
pub struct Listed {
    pub venue_symbol: String,
    pub grid: Grid,
    pub reference: Option<Decimal>,
}

/// Why a venue's metadata is missing.
#[derive(Debug, Clone)]
pub enum MetaError {
    /// The venue answered: it does not list a symbol. The operator must fix the spec.
    Unknown(String),
    /// The venue did not answer (in time).
    Unreachable(String),
}

/// The metadata of a spec's symbols, tried with backoff until `deadline` has passed (for a
/// relayed Tickwire upstream, until `shutdown`: without its answer there are no symbols to
/// serve, as an edge of a cluster waits for its core).
pub async fn fetch_within(
    spec: &Spec,
    ws: &str,
    rest_base: &str,
    settings: &LinkSettings,
    deadline: Duration,
    shutdown: &CancellationToken,
) -> Result<Vec<Listed>, MetaError> {
    let started = Instant::now();
    let mut attempt = 0;
    loop {
        let result = match spec.venue {
            Venue::Binance => binance(&spec.symbols, rest_base, settings).await,
            Venue::Coinbase => coinbase(&spec.symbols, rest_base, settings).await,
            Venue::Kraken => kraken(&spec.symbols, ws, settings).await,
            Venue::Tickwire => tickwire(ws, settings).await,
        };
        match result {
            Err(MetaError::Unreachable(why)) => {
                let wait = backoff(settings, attempt);
                attempt += 1;
                if spec.venue == Venue::Tickwire {
                    tracing::warn!(
                        "the upstream does not answer ({why}); its symbols are unknown until it does: waiting, trying again in {} ms",
                        wait.as_millis()
                    );
                } else if started.elapsed() + wait > deadline {
                    return Err(MetaError::Unreachable(why));
                } else {
                    tracing::warn!(venue = %spec.venue, "instrument metadata: {why}; trying again");
                }
                tokio::select! {
                    () = shutdown.cancelled() => return Err(MetaError::Unreachable("shutting down".to_owned())),
                    () = tokio::time::sleep(wait) => {}
                }
            }
            other => return other,
        }
    }
}

fn grid(tick: &str, lot: &str, symbol: &str) -> Result<Grid, MetaError> {
    let read = |text: &str, what: &str| {
        decimal(text)
            .map(|d| d.normalize())
            .ok()
            .filter(|d| d.is_sign_positive() && !d.is_zero())
            .ok_or_else(|| {
                MetaError::Unknown(format!(
                    "{symbol}: the venue's {what} `{text}` is not a positive number"
                ))
            })
    };
    Ok(Grid {
        tick: read(tick, "tick size")?,
        lot: read(lot, "lot size")?,
    })
}

/// A GET whose 4xx answer means the venue refused the request as asked (an unknown symbol).
async fn get(url: &str, settings: &LinkSettings) -> Result<Vec<u8>, MetaError> {
    rest::get(url, settings.timeout, settings.max_message_bytes)
        .await
        .map_err(|why| {
            if why.contains(": HTTP 4")
                && !why.contains(": HTTP 429")
                && !why.contains(": HTTP 418")
            {
                MetaError::Unknown(why)
            } else {
                MetaError::Unreachable(why)
            }
        })
}

fn json_list(symbols: &[String]) -> String {
    let quoted: Vec<String> = symbols.iter().map(|s| format!("%22{s}%22")).collect();
    format!("%5B{}%5D", quoted.join(","))
}

/// The unit of every quantity Binance writes.
const BINANCE_SIZE_GRID: &str = "0.00000001";

#[derive(Deserialize)]
struct BinanceInfo {
    symbols: Vec<BinanceSymbol>,
}

#[derive(Deserialize)]
struct BinanceSymbol {
    symbol: String,
    filters: Vec<BinanceFilter>,
}

#[derive(Deserialize)]
struct BinanceFilter {
    #[serde(rename = "filterType")]
    kind: String,
    #[serde(rename = "tickSize")]
    tick_size: Option<String>,
    #[serde(rename = "stepSize")]
    step_size: Option<String>,
}

#[derive(Deserialize)]
struct BinanceTicker {
    symbol: String,
    #[serde(rename = "openPrice")]
    open: String,
}

async fn binance(
    symbols: &[String],
    base: &str,
    settings: &LinkSettings,
) -> Result<Vec<Listed>, MetaError> {
    let list = json_list(symbols);
    let body = get(
        &format!("{base}/api/v3/exchangeInfo?symbols={list}"),
        settings,
    )
    .await?;
    let info: BinanceInfo = serde_json::from_slice(&body)
        .map_err(|e| MetaError::Unreachable(format!("exchangeInfo: {e}")))?;
    // The 24-hour open is only for clients' change figures: without it the feed still runs.
    let opens: Vec<BinanceTicker> = match get(
        &format!("{base}/api/v3/ticker/24hr?symbols={list}"),
        settings,
    )
    .await
    {
        Ok(body) => serde_json::from_slice(&body).unwrap_or_default(),
        Err(_) => Vec::new(),
    };
    symbols
        .iter()
        .map(|wanted| {
            let found = info
                .symbols
                .iter()
                .find(|s| &s.symbol == wanted)
                .ok_or_else(|| MetaError::Unknown(format!("Binance does not list {wanted}")))?;
            let filter = |kind: &str| found.filters.iter().find(|f| f.kind == kind);
            let tick = filter("PRICE_FILTER").and_then(|f| f.tick_size.clone());
            let lot = filter("LOT_SIZE").and_then(|f| f.step_size.clone());
            let (Some(tick), Some(lot)) = (tick, lot) else {
                return Err(MetaError::Unknown(format!(
                    "Binance lists {wanted} without PRICE_FILTER and LOT_SIZE"
                )));
            };
            // Sizes on Binance's wire grid (8 places) rather than LOT_SIZE: a book level sums
            // orders placed under whatever step applied when each was placed.
            let _ = lot;
            Ok(Listed {
                venue_symbol: wanted.clone(),
                grid: grid(&tick, BINANCE_SIZE_GRID, wanted)?,
                reference: opens
                    .iter()
                    .find(|t| &t.symbol == wanted)
                    .and_then(|t| decimal(&t.open).ok()),
            })
        })
        .collect()
}

#[derive(Deserialize)]
struct CoinbaseProduct {
    quote_increment: String,
    base_increment: String,
}

#[derive(Deserialize)]
struct CoinbaseStats {
    open: Option<String>,
}

async fn coinbase(
    symbols: &[String],
    base: &str,
    settings: &LinkSettings,
) -> Result<Vec<Listed>, MetaError> {
    let mut listed = Vec::with_capacity(symbols.len());
    for id in symbols {
        let body = get(&format!("{base}/products/{id}"), settings).await?;
        let product: CoinbaseProduct = serde_json::from_slice(&body)
            .map_err(|e| MetaError::Unreachable(format!("product {id}: {e}")))?;
        let reference = match get(&format!("{base}/products/{id}/stats"), settings).await {
            Ok(body) => serde_json::from_slice::<CoinbaseStats>(&body)
                .ok()
                .and_then(|s| s.open)
                .and_then(|o| decimal(&o).ok()),
            Err(_) => None,
        };
        listed.push(Listed {
            venue_symbol: id.clone(),
            grid: grid(&product.quote_increment, &product.base_increment, id)?,
            reference,
        });
    }
    Ok(listed)
}

#[derive(Deserialize)]
struct KrakenInstruments<'a> {
    #[serde(borrow)]
    pairs: Vec<KrakenPair<'a>>,
}

#[derive(Deserialize)]
struct KrakenPair<'a> {
    symbol: String,
    #[serde(borrow)]
    price_increment: &'a RawValue,
    #[serde(borrow)]
    qty_increment: &'a RawValue,
}

#[derive(Deserialize)]
struct KrakenTicker<'a> {
    symbol: String,
    #[serde(borrow)]
    last: &'a RawValue,
    #[serde(borrow)]
    change: &'a RawValue,
}

/// The grids of Kraken's pairs from an `instrument` snapshot's `data`.
pub fn kraken_grids(data: &str) -> Result<Vec<(String, Grid)>, String> {
    let instruments: KrakenInstruments<'_> =
        serde_json::from_str(data).map_err(|e| format!("instrument snapshot: {e}"))?;
    instruments
        .pairs
        .iter()
        .map(|p| {
            grid(p.price_increment.get(), p.qty_increment.get(), &p.symbol)
                .map(|g| (p.symbol.clone(), g))
                .map_err(|e| match e {
                    MetaError::Unknown(w) | MetaError::Unreachable(w) => w,
                })
        })
        .collect()
}

async fn kraken(
    symbols: &[String],
    ws_url: &str,
    settings: &LinkSettings,
) -> Result<Vec<Listed>, MetaError> {
    let unreachable = |why: String| MetaError::Unreachable(format!("{ws_url}: {why}"));
    let connector = rest::tls_client()
        .map(tokio_tungstenite::Connector::Rustls)
        .map_err(unreachable)?;
    let (mut ws, _) = tokio::time::timeout(
        settings.timeout,
        tokio_tungstenite::connect_async_tls_with_config(ws_url, None, true, Some(connector)),
    )
    .await
    .map_err(|_| unreachable("no answer".to_owned()))?
    .map_err(|e| unreachable(e.to_string()))?;
    let list: Vec<String> = symbols.iter().map(|s| format!("\"{s}\"")).collect();
    for message in [
        r#"{"method":"subscribe","params":{"channel":"instrument"}}"#.to_owned(),
        format!(
            r#"{{"method":"subscribe","params":{{"channel":"ticker","symbol":[{}]}}}}"#,
            list.join(",")
        ),
    ] {
        ws.send(Message::text(message))
            .await
            .map_err(|e| unreachable(e.to_string()))?;
    }
    let mut grids: Option<Vec<(String, Grid)>> = None;
    let mut references: Vec<(String, Decimal)> = Vec::new();
    let started = Instant::now();
    // The references are a nicety: once the grids are in, wait for them a little only.
    let patience = Duration::from_secs(3);
    let mut grids_at = None;
    loop {
        let wait = match grids_at {
            Some(at) => patience.saturating_sub(Instant::now().duration_since(at)),
            None => settings.timeout.saturating_sub(started.elapsed()),
        };
        let next = tokio::time::timeout(wait, ws.next()).await;
        let Ok(Some(Ok(message))) = next else {
            break;
        };
        let Message::Text(text) = message else {
            continue;
        };
        let Ok(parsed) = serde_json::from_str::<super::kraken_feed::Message<'_>>(text.as_str())
        else {
            continue;
        };
        match (parsed.channel, parsed.kind, parsed.data) {
            (Some("instrument"), Some("snapshot"), Some(data)) => {
                grids = Some(kraken_grids(data.get()).map_err(unreachable)?);
                grids_at = Some(Instant::now());
            }
            (Some("ticker"), _, Some(data)) => {
                if let Ok(tickers) = serde_json::from_str::<Vec<KrakenTicker<'_>>>(data.get()) {
                    for t in tickers {
                        if let (Ok(last), Ok(change)) =
                            (decimal(t.last.get()), decimal(t.change.get()))
                        {
                            references.push((t.symbol, last - change));
                        }
                    }
                }
            }
            _ => {}
        }
        if grids.is_some()
            && symbols
                .iter()
                .all(|s| references.iter().any(|(r, _)| r == s))
        {
            break;
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
    let grids = grids.ok_or_else(|| unreachable("no instrument snapshot".to_owned()))?;
    symbols
        .iter()
        .map(|wanted| {
            let (_, grid) = grids
                .iter()
                .find(|(s, _)| s == wanted)
                .ok_or_else(|| MetaError::Unknown(format!("Kraken does not list {wanted}")))?;
            Ok(Listed {
                venue_symbol: wanted.clone(),
                grid: grid.clone(),
                reference: references
                    .iter()
                    .rev()
                    .find(|(s, _)| s == wanted)
                    .map(|(_, r)| *r),
            })
        })
        .collect()
}

/// Most symbols a relay follows: the first of its upstream's, in `hello` order.
pub const MAX_RELAY_SYMBOLS: usize = 10_000;

async fn tickwire(url: &str, settings: &LinkSettings) -> Result<Vec<Listed>, MetaError> {
    use protocol::{ClientMessage, Decoder, ServerMessage, Subscribe, Symbol, encode_client};
    let unreachable = |why: String| MetaError::Unreachable(format!("{url}: {why}"));
    let connector = rest::tls_client()
        .map(tokio_tungstenite::Connector::Rustls)
        .map_err(unreachable)?;
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .max_message_size(Some(settings.max_message_bytes));
    let (mut ws, _) = tokio::time::timeout(
        settings.timeout,
        tokio_tungstenite::connect_async_tls_with_config(url, Some(config), true, Some(connector)),
    )
    .await
    .map_err(|_| unreachable("no answer".to_owned()))?
    .map_err(|e| unreachable(e.to_string()))?;
    let mut decoder = Decoder::new();
    let mut symbols: Option<Vec<Symbol>> = None;
    let mut found: std::collections::HashMap<Symbol, Listed> = std::collections::HashMap::new();
    let started = Instant::now();
    loop {
        if let Some(symbols) = &symbols
            && symbols.iter().all(|s| found.contains_key(s))
        {
            break;
        }
        let wait = settings.timeout.saturating_sub(started.elapsed());
        let Ok(Some(Ok(message))) = tokio::time::timeout(wait, ws.next()).await else {
            return Err(unreachable("no hello and snapshots in time".to_owned()));
        };
        let Message::Text(text) = message else {
            continue;
        };
        let messages = decoder
            .server(text.as_bytes())
            .map_err(|e| unreachable(format!("not a Tickwire server: {e}")))?;
        for message in messages {
            match message {
                ServerMessage::Hello(hello) => {
                    let mut list = hello.symbols;
                    if list.len() > MAX_RELAY_SYMBOLS {
                        tracing::warn!(
                            "the upstream serves {} symbols; relaying the first {MAX_RELAY_SYMBOLS}",
                            list.len()
                        );
                        list.truncate(MAX_RELAY_SYMBOLS);
                    }
                    // Every symbol: a list of thousands would pass the upstream's message limit.
                    let subscribe = encode_client(&ClientMessage::Subscribe(Subscribe::to(vec![
                        Symbol::from("*"),
                    ])));
                    ws.send(Message::text(subscribe))
                        .await
                        .map_err(|e| unreachable(e.to_string()))?;
                    symbols = Some(list);
                }
                ServerMessage::Snapshot(s) => {
                    let places = [s.bid_size, s.ask_size, s.last_size]
                        .iter()
                        .map(Decimal::scale)
                        .max()
                        .unwrap_or(0);
                    let lot = Decimal::new(1, places);
                    if s.tick_size <= Decimal::ZERO {
                        return Err(MetaError::Unknown(format!(
                            "{}: tick size {}",
                            s.symbol, s.tick_size
                        )));
                    }
                    found.insert(
                        s.symbol.clone(),
                        Listed {
                            venue_symbol: s.symbol.to_string(),
                            grid: Grid {
                                tick: s.tick_size.normalize(),
                                lot,
                            },
                            reference: Some(s.prev_close),
                        },
                    );
                }
                _ => {}
            }
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
    let symbols = symbols.unwrap_or_default();
    Ok(symbols.iter().filter_map(|s| found.remove(s)).collect())
}
