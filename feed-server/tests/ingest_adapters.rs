//! The venue adapters fed real captures (`../shared/realdata/exchanges/`) message by message,
//! as the network would hand them over: Binance's book synced from its REST snapshot and diffs
//! equals `bookTicker` wherever both are at the same update id; Kraken's v1 capture, rewritten
//! in v2's form with the numbers' text kept, verifies every checksum through the v2 adapter;
//! Coinbase's `level2` builds books that are never crossed and `matches` become trades.
//! A test says so and passes when the folder is absent.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::HashMap;
use std::io::{BufRead, BufReader};

use feed_server::ingest::adapter::{Adapter, Fetch, Out, Resync};
use feed_server::ingest::binance::Binance;
use feed_server::ingest::coinbase::Coinbase;
use feed_server::ingest::kraken_feed::Kraken;
use feed_server::ingest::{Grid, Meta};
use protocol::recording::MarketEvent;
use protocol::{Decimal, Side};

fn d(text: &str) -> Decimal {
    text.parse().unwrap()
}

/// The grid unit of the finest decimals among `values` (`0.001` for `1.5`, `2.125`).
fn finest<'a>(values: impl IntoIterator<Item = &'a str>) -> String {
    let places = values
        .into_iter()
        .map(|v| v.split_once('.').map_or(0, |(_, f)| f.len()))
        .max()
        .unwrap_or(0);
    Decimal::new(1, u32::try_from(places).unwrap()).to_string()
}

fn meta(index: usize, symbol: &str, tick: &str, lot: &str) -> Meta {
    Meta {
        index,
        venue_symbol: symbol.to_owned(),
        grid: Grid {
            tick: d(tick),
            lot: d(lot),
        },
        opening: (1, 2, 100),
    }
}

/// The server's book as the adapter's level events leave it, per symbol.
#[derive(Default)]
struct Served {
    bids: HashMap<usize, std::collections::BTreeMap<i64, i64>>,
    asks: HashMap<usize, std::collections::BTreeMap<i64, i64>>,
    quotes: Vec<MarketEvent>,
    trades: Vec<MarketEvent>,
    /// Re-syncs (each a fresh `book` for clients) per symbol.
    resyncs: HashMap<usize, usize>,
}

impl Served {
    fn take(&mut self, out: &mut Out) {
        for event in out.events.drain(..) {
            match event {
                MarketEvent::Level {
                    symbol,
                    side,
                    price,
                    size,
                } => {
                    // The market's opening touch (`meta`'s) is there before the first event.
                    let book = match side {
                        Side::Buy => self.bids.entry(symbol).or_insert_with(|| [(1, 100)].into()),
                        Side::Sell => self.asks.entry(symbol).or_insert_with(|| [(2, 100)].into()),
                    };
                    if size == 0 {
                        assert!(book.remove(&price).is_some(), "removed an absent level");
                    } else {
                        book.insert(price, size);
                    }
                }
                MarketEvent::Quote {
                    symbol, bid, ask, ..
                } => {
                    // A quote is the served book's top.
                    assert_eq!(self.bids[&symbol].keys().next_back(), Some(&bid));
                    assert_eq!(self.asks[&symbol].keys().next(), Some(&ask));
                    assert!(bid < ask, "crossed: {event:?}");
                    self.quotes.push(event);
                }
                MarketEvent::Trade { .. } => self.trades.push(event),
                MarketEvent::Touch { .. } => panic!("an ingest makes no touch"),
                MarketEvent::Resync { symbol } => *self.resyncs.entry(symbol).or_default() += 1,
            }
        }
    }
}

#[test]
fn binance_books_synced_from_snapshot_and_diffs_equal_book_ticker_at_the_same_update_id() {
    let Some(dir) =
        support::realdata::sample("exchanges/binance/spot_btcusdt_2024-08-08_hftbacktest")
    else {
        return;
    };
    let raw = flate2::read::GzDecoder::new(
        std::fs::File::open(dir.join("raw_window.hftbacktest.txt.gz")).unwrap(),
    );
    let snapshot = std::fs::read(dir.join("rest_depth_snapshot.jsonl")).unwrap();
    let snapshot_text = String::from_utf8(snapshot.clone()).unwrap();
    let mut binance = Binance::new(
        "ws://venue",
        "http://venue",
        vec![meta(0, "BTCUSDT", "0.01", "0.00000001")],
        50,
    );
    let mut out = Out::default();
    binance.on_connected(&mut out);
    assert_eq!(
        out.fetch,
        vec![Fetch {
            symbol: 0,
            url: "http://venue/api/v3/depth?symbol=BTCUSDT&limit=1000".to_owned()
        }]
    );
    out.fetch.clear();
    let mut served = Served::default();
    let mut resyncs = Vec::new();
    for (n, line) in BufReader::new(raw).lines().enumerate() {
        let line = line.unwrap();
        let (_, json) = line.split_once(' ').unwrap();
        if json.starts_with(r#"{"stream""#) {
            binance.on_text(json, 0, &mut out).unwrap();
        } else {
            // The REST snapshot, where the capture received it (after its 7th message).
            assert_eq!(json, snapshot_text.trim_end(), "line {n}");
            let fetch = Fetch {
                symbol: 0,
                url: String::new(),
            };
            binance.on_fetched(&fetch, Ok(snapshot.clone()), &mut out);
            assert_eq!(out.synced, vec![0]);
        }
        resyncs.append(&mut out.resyncs);
        assert!(out.fetch.is_empty(), "line {n}: fetched again");
        served.take(&mut out);
        out.clear();
    }
    assert_eq!(resyncs, Vec::<Resync>::new());
    // The snapshot's sync replaced the opening book: clients got it as a fresh `book`, once.
    assert_eq!(served.resyncs, HashMap::from([(0, 1)]));
    assert!(
        binance.cross_checked() >= 70,
        "{} bookTickers at the book's update id",
        binance.cross_checked()
    );
    assert_eq!(served.trades.len(), 676);
    // The served book is the adapter's top 50, level for level.
    let (bids, asks) = binance.book(0, 50);
    let served_bids: Vec<(i64, i64)> = served.bids[&0]
        .iter()
        .rev()
        .map(|(p, s)| (*p, *s))
        .collect();
    let served_asks: Vec<(i64, i64)> = served.asks[&0].iter().map(|(p, s)| (*p, *s)).collect();
    assert_eq!((served_bids.len(), served_asks.len()), (50, 50));
    assert_eq!(served_bids, bids);
    assert_eq!(served_asks, asks);
}

#[test]
fn binance_refetches_the_snapshot_after_a_dropped_diff_and_only_for_that_symbol() {
    let Some(dir) = support::realdata::sample("exchanges/binance/spot_multi_2021-10-11_cryptofeed")
    else {
        return;
    };
    let symbols = ["NKNUSDT", "BLZETH", "LRCBTC", "RUNEEUR"];
    let metas = symbols
        .iter()
        .enumerate()
        .map(|(i, s)| meta(i, s, "0.00000001", "0.00000001"))
        .collect();
    let mut binance = Binance::new("ws://venue", "http://venue", metas, 20);
    let mut out = Out::default();
    binance.on_connected(&mut out);
    out.clear();
    let snapshots: Vec<String> = std::fs::read_to_string(dir.join("rest_depth_snapshots.jsonl"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    for (k, body) in snapshots.iter().enumerate() {
        let fetch = Fetch {
            symbol: k,
            url: String::new(),
        };
        binance.on_fetched(&fetch, Ok(body.clone().into_bytes()), &mut out);
    }
    assert_eq!(out.synced.len(), 4, "{:?}", out.resyncs);
    let mut served = Served::default();
    served.take(&mut out);
    out.clear();
    // Drop the second NKNUSDT diff: the third starts past the last applied one.
    let diffs = std::fs::read_to_string(dir.join("depthUpdate.jsonl")).unwrap();
    let mut nkn = 0;
    let mut refetched = Vec::new();
    for line in diffs.lines() {
        if line.contains("\"NKNUSDT\"") {
            nkn += 1;
            if nkn == 2 {
                continue;
            }
        }
        binance.on_text(line, 0, &mut out).unwrap();
        if !out.resyncs.is_empty() {
            assert_eq!(out.resyncs, vec![Resync::Gap]);
            refetched.extend(out.fetch.iter().map(|f| f.symbol));
        }
        served.take(&mut out);
        out.clear();
    }
    assert_eq!(refetched, vec![0], "NKNUSDT alone is fetched again");
}

/// Every price and size a venue's messages write as `[price, size, ...]` pairs or as
/// `"price"`/`"size"` fields: what their grid must hold.
fn numbers<'a>(lines: impl Iterator<Item = &'a str>) -> (Vec<String>, Vec<String>) {
    fn walk(value: &serde_json::Value, prices: &mut Vec<String>, sizes: &mut Vec<String>) {
        match value {
            serde_json::Value::Array(items) => {
                let texts: Vec<&str> = items.iter().filter_map(serde_json::Value::as_str).collect();
                if texts.len() == items.len() && texts.len() >= 2 {
                    // `[price, size]`, `[price, volume, time]`, or Coinbase's `[side, price, size]`.
                    let at = usize::from(texts[0] == "buy" || texts[0] == "sell");
                    prices.push(texts[at].to_owned());
                    sizes.push(texts[at + 1].to_owned());
                } else {
                    for item in items {
                        walk(item, prices, sizes);
                    }
                }
            }
            serde_json::Value::Object(fields) => {
                if let (Some(p), Some(s)) = (
                    fields.get("price").and_then(|v| v.as_str()),
                    fields.get("size").and_then(|v| v.as_str()),
                ) {
                    prices.push(p.to_owned());
                    sizes.push(s.to_owned());
                }
                for value in fields.values() {
                    walk(value, prices, sizes);
                }
            }
            _ => {}
        }
    }
    let (mut prices, mut sizes) = (Vec::new(), Vec::new());
    for line in lines {
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        walk(&value, &mut prices, &mut sizes);
    }
    (prices, sizes)
}

#[test]
fn kraken_v2_adapter_verifies_every_checksum_of_a_real_session_and_resubscribes_on_a_bad_one() {
    let Some(path) =
        support::realdata::sample("exchanges/kraken/v1_2021-04-17_cryptofeed/book.jsonl")
    else {
        return;
    };
    let text = std::fs::read_to_string(path).unwrap();
    let messages: Vec<(String, bool)> = text
        .lines()
        .filter_map(support::captures::KrakenV1::parse)
        .map(|m| (m.v2(&m.pair), m.snapshot))
        .collect();
    assert_eq!(messages.len(), 4_279);
    // Each pair's grid is the finest its prices and sizes use.
    let mut pairs: Vec<String> = Vec::new();
    for line in text.lines() {
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        let pair = value
            .as_array()
            .unwrap()
            .last()
            .unwrap()
            .as_str()
            .unwrap()
            .to_owned();
        if !pairs.contains(&pair) {
            pairs.push(pair);
        }
    }
    let metas = pairs
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let (prices, sizes) =
                numbers(text.lines().filter(|l| l.ends_with(&format!("\"{p}\"]"))));
            meta(
                i,
                p,
                &finest(prices.iter().map(String::as_str)),
                &finest(sizes.iter().map(String::as_str)),
            )
        })
        .collect();
    let mut kraken = Kraken::new("ws://venue", metas, 1_000);
    let mut out = Out::default();
    kraken.on_connected(&mut out);
    assert!(out.send[0].contains(r#""channel":"book""#) && out.send[0].contains(r#""depth":1000"#));
    assert!(out.send[1].contains(r#""channel":"trade""#));
    out.clear();
    let mut served = Served::default();
    let mut skipped = 0;
    for (message, _) in &messages {
        if let Err(e) = kraken.on_text(message, 0, &mut out) {
            // OMG/USD and SC/EUR have levels of 16 million: past the largest size on a
            // 10^-8 grid. They are skipped; the rest of the message is applied.
            assert!(e.contains("OutOfRange"), "{e}");
            skipped += 1;
        }
        assert_eq!(out.resyncs, Vec::<Resync>::new(), "{message}");
        served.take(&mut out);
        out.clear();
    }
    assert_eq!(served.bids.len(), 10);
    assert!(skipped < 10, "{skipped} messages with a level skipped");
    // A corrupted checksum: that pair alone is subscribed again, and its updates wait for the
    // new snapshot.
    let (last, _) = messages.iter().rev().find(|(_, s)| !s).unwrap();
    let pair = pairs
        .iter()
        .find(|p| last.contains(&format!(r#""symbol":"{p}""#)))
        .unwrap();
    let bad = last.replace(r#""checksum":"#, r#""checksum":1"#);
    kraken.on_text(&bad, 0, &mut out).unwrap();
    assert_eq!(out.resyncs, vec![Resync::Checksum]);
    assert_eq!(out.send.len(), 2);
    assert!(
        out.send[0].starts_with(r#"{"method":"unsubscribe""#)
            && out.send[0].contains(&format!(r#"["{pair}"]"#))
    );
    assert!(
        out.send[1].starts_with(r#"{"method":"subscribe""#)
            && out.send[1].contains(&format!(r#"["{pair}"]"#))
    );
    out.clear();
    kraken.on_text(last, 0, &mut out).unwrap();
    assert!(out.events.is_empty() && out.resyncs.is_empty());
    let (snapshot, _) = messages
        .iter()
        .find(|(m, s)| *s && m.contains(&format!(r#""symbol":"{pair}""#)))
        .unwrap();
    kraken.on_text(snapshot, 0, &mut out).unwrap();
    assert_eq!(out.resyncs, Vec::<Resync>::new());
    assert!(!out.events.is_empty());
    // A trade as Kraken v2 writes one (from its documentation's example, for this pair).
    out.clear();
    let trade = format!(
        r#"{{"channel":"trade","type":"update","data":[{{"symbol":"{pair}","side":"sell","price":0.5,"qty":2.00000001,"ord_type":"limit","trade_id":4665906,"timestamp":"2021-04-17T16:49:02.557535Z"}}]}}"#
    );
    kraken.on_text(&trade, 0, &mut out).unwrap();
    assert_eq!(out.exch_ts_ns, Some(1_618_678_142_557_535_000));
    assert!(
        matches!(
            out.events.as_slice(),
            [MarketEvent::Trade {
                size: 200_000_001,
                ..
            }]
        ),
        "{:?}",
        out.events
    );
    // Kraken's `side` is the taker's.
    let (at, extras) = out.extras[0];
    assert_eq!(at, 0);
    assert_eq!(extras.trade_id(), Some(4_665_906));
    assert_eq!(extras.aggressor(), Some(Side::Sell));
    assert_eq!(extras.exch_ts_ns(), Some(1_618_678_142_557_535_000));
}

#[test]
fn coinbase_level2_builds_books_and_matches_become_trades() {
    let Some(dir) = support::realdata::sample("exchanges/coinbase/exchange_2021-04-17_cryptofeed")
    else {
        return;
    };
    let level2 = std::fs::read_to_string(dir.join("level2.jsonl")).unwrap();
    let matches = std::fs::read_to_string(dir.join("matches.jsonl")).unwrap();
    let mut products: Vec<String> = Vec::new();
    for line in level2.lines() {
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        let id = value["product_id"].as_str().unwrap().to_owned();
        if !products.contains(&id) {
            products.push(id);
        }
    }
    assert_eq!(products.len(), 10);
    let metas = products
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let lines = level2
                .lines()
                .chain(matches.lines())
                .filter(|l| l.contains(&format!("\"{p}\"")));
            let (prices, sizes) = numbers(lines);
            meta(
                i,
                p,
                &finest(prices.iter().map(String::as_str)),
                &finest(sizes.iter().map(String::as_str)),
            )
        })
        .collect();
    let mut coinbase = Coinbase::new("ws://venue", metas, 50);
    let mut out = Out::default();
    coinbase.on_connected(&mut out);
    assert!(out.send[0].contains(r#""channels":["level2_batch","matches","heartbeat"]"#));
    out.clear();
    let mut served = Served::default();
    let mut synced = 0;
    for line in level2.lines().chain(matches.lines()) {
        coinbase.on_text(line, 0, &mut out).unwrap();
        synced += out.synced.len();
        served.take(&mut out);
        out.clear();
    }
    assert_eq!(synced, 10);
    assert_eq!(served.bids.len(), 10);
    // 97 matches; the 10 last_match (trades before subscribing) are not new trades.
    assert_eq!(served.trades.len(), 97);
    assert!(served.quotes.len() > 100);
}
