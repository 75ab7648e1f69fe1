//! `feed-server --ingest` against a stand-in venue on loopback playing a real capture
//! (`../shared/realdata/exchanges/`), with the faults a live feed has: a late REST snapshot, a
//! dropped diff, a dropped connection. Clients of the feed server keep their connection, and
//! their books stay in sync (every `book_update` in `seq` order with a right checksum) and end
//! equal to the venue's book. A test says so and passes when the folder is absent.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::time::Duration;

use feed_server::Config;
use feed_server::ingest::{IngestArgs, Spec, VenueUrl};
use protocol::book::{BookStep, Books};
use protocol::{Decimal, ServerMessage};
use support::venue::{Answer, Script, Step, Venue, fixed};
use support::{Client, config, start};

/// A side's levels, best first.
type Levels = Vec<(Decimal, Decimal)>;

/// Binance's book as a test keeps it, in decimals: the snapshot, then each diff in turn.
#[derive(Clone, Default)]
struct Book {
    id: u64,
    bids: BTreeMap<Decimal, Decimal>,
    asks: BTreeMap<Decimal, Decimal>,
}

impl Book {
    fn apply(&mut self, json: &serde_json::Value) {
        for (key, buy) in [("b", true), ("a", false), ("bids", true), ("asks", false)] {
            let Some(levels) = json.get(key).and_then(|l| l.as_array()) else {
                continue;
            };
            let side = if buy { &mut self.bids } else { &mut self.asks };
            for level in levels {
                let price: Decimal = level[0].as_str().unwrap().parse().unwrap();
                let size: Decimal = level[1].as_str().unwrap().parse().unwrap();
                if size.is_zero() {
                    side.remove(&price);
                } else {
                    side.insert(price, size);
                }
            }
        }
    }

    /// The REST snapshot of this book.
    fn snapshot(&self) -> String {
        let levels = |side: Vec<(&Decimal, &Decimal)>| {
            side.iter()
                .map(|(p, s)| format!(r#"["{p}","{s}"]"#))
                .collect::<Vec<_>>()
                .join(",")
        };
        format!(
            r#"{{"lastUpdateId":{},"bids":[{}],"asks":[{}]}}"#,
            self.id,
            levels(self.bids.iter().rev().take(1_000).collect()),
            levels(self.asks.iter().take(1_000).collect())
        )
    }

    fn top(&self, n: usize) -> (Levels, Levels) {
        (
            self.bids
                .iter()
                .rev()
                .take(n)
                .map(|(p, s)| (*p, *s))
                .collect(),
            self.asks.iter().take(n).map(|(p, s)| (*p, *s)).collect(),
        )
    }
}

fn ingest_config(spec: &str, venue: &Venue, name: &str) -> Config {
    Config {
        ingest: IngestArgs {
            specs: vec![spec.parse::<Spec>().unwrap()],
            ws_urls: vec![
                format!("{name}={}", venue.ws_url())
                    .parse::<VenueUrl>()
                    .unwrap(),
            ],
            rest_urls: vec![
                format!("{name}={}", venue.rest_url())
                    .parse::<VenueUrl>()
                    .unwrap(),
            ],
            ingest_start_timeout_ms: 5_000,
            ..IngestArgs::default()
        },
        ..config()
    }
}

async fn get(server: &feed_server::ServerHandle, path: &str) -> String {
    let request = format!("GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    let (status, body) = support::raw::http(server.addr, request.as_bytes()).await;
    assert_eq!(status, 200, "{path}: {body}");
    body.split_once("\r\n\r\n").unwrap().1.to_owned()
}

/// Binance's 2024 BTCUSDT capture: its stream messages, its REST snapshot, and the venue's
/// book after each message (for snapshots taken later and for what clients must end with).
struct Capture {
    messages: Vec<String>,
    first_snapshot: String,
    after: Vec<Book>,
}

impl Capture {
    fn binance(dir: &std::path::Path) -> Self {
        let raw = flate2::read::GzDecoder::new(
            std::fs::File::open(dir.join("raw_window.hftbacktest.txt.gz")).unwrap(),
        );
        let mut messages = Vec::new();
        let mut book = Book::default();
        let mut first_snapshot = None;
        let mut after: Vec<Book> = Vec::new();
        for line in BufReader::new(raw).lines() {
            let line = line.unwrap();
            let (_, json) = line.split_once(' ').unwrap();
            let value: serde_json::Value = serde_json::from_str(json).unwrap();
            if value.get("lastUpdateId").is_some() {
                let mut snapshot = Book {
                    id: value["lastUpdateId"].as_u64().unwrap(),
                    ..Book::default()
                };
                snapshot.apply(&value);
                first_snapshot = Some(json.to_owned());
                book = snapshot;
                // Diffs the snapshot already holds are dropped by id below.
                continue;
            }
            let data = &value["data"];
            if data["e"] == "depthUpdate"
                && data["u"].as_u64().unwrap() > book.id
                && first_snapshot.is_some()
            {
                book.apply(data);
                book.id = data["u"].as_u64().unwrap();
            }
            messages.push(json.to_owned());
            after.push(book.clone());
        }
        Self {
            messages,
            first_snapshot: first_snapshot.unwrap(),
            after,
        }
    }
}

/// Binance's instrument metadata and 24-hour open, written from its REST documentation.
fn binance_rest() -> Vec<(String, Vec<Answer>)> {
    fixed(&[
        (
            "/api/v3/exchangeInfo",
            r#"{"timezone":"UTC","symbols":[{"symbol":"BTCUSDT","status":"TRADING","filters":[{"filterType":"PRICE_FILTER","minPrice":"0.01000000","maxPrice":"1000000.00000000","tickSize":"0.01000000"},{"filterType":"LOT_SIZE","minQty":"0.00001000","maxQty":"9000.00000000","stepSize":"0.00001000"}]}]}"#.to_owned(),
        ),
        (
            "/api/v3/ticker/24hr",
            r#"[{"symbol":"BTCUSDT","openPrice":"61000.00000000","lastPrice":"61837.63000000"}]"#.to_owned(),
        ),
    ])
}

/// Reads until `symbol`'s book is `want` (top 10 a side) and `seen` says the rest of what the
/// test waits for has come. Every book message must be in `seq` order with a right checksum;
/// `seen` gets every message after it is applied, with the books so far.
async fn until_book(
    client: &mut Client,
    symbol: &str,
    want: &(Levels, Levels),
    mut seen: impl FnMut(&ServerMessage, &Books) -> bool,
) {
    let mut books = Books::new(10);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let message = tokio::time::timeout_at(deadline, client.next())
            .await
            .unwrap_or_else(|_| panic!("{symbol}'s book never reached {want:?}"));
        if matches!(
            message,
            ServerMessage::Book(_) | ServerMessage::BookUpdate(_)
        ) {
            assert_eq!(books.apply(&message), Some(BookStep::InSync), "{message:?}");
        }
        let rest = seen(&message, &books);
        if let Some(book) = books.get(symbol) {
            let bids: Levels = book.bids().map(|(p, s)| (*p, *s)).collect();
            let asks: Levels = book.asks().map(|(p, s)| (*p, *s)).collect();
            if bids == want.0 && asks == want.1 && rest {
                return;
            }
        }
    }
}

/// The quotes among what [`until_book`] reads.
async fn quotes_until_book(
    client: &mut Client,
    symbol: &str,
    want: &(Levels, Levels),
) -> Vec<protocol::Quote> {
    let mut quotes = Vec::new();
    until_book(client, symbol, want, |message, _| {
        if let ServerMessage::Quote(q) = message {
            quotes.push(q.clone());
        }
        true
    })
    .await;
    quotes
}

#[tokio::test]
async fn a_recorded_ingest_replays_the_same_quotes_and_books() {
    let Some(dir) =
        support::realdata::sample("exchanges/binance/spot_btcusdt_2024-08-08_hftbacktest")
    else {
        return;
    };
    let capture = Capture::binance(&dir);
    let played = 1_500;
    let session: Vec<Step> = capture.messages[..played]
        .iter()
        .flat_map(|m| {
            [
                Step::Send(m.clone()),
                Step::Wait(Duration::from_micros(300)),
            ]
        })
        .collect();
    let mut rest = binance_rest();
    rest.push((
        "/api/v3/depth".to_owned(),
        vec![Answer {
            body: capture.first_snapshot.clone(),
            delay: Duration::from_millis(100),
        }],
    ));
    let venue = Venue::start(Script {
        sessions: vec![session],
        rest,
    })
    .await;
    let files = tempfile::tempdir().unwrap();
    let file = files.path().join("live.jsonl.zst");
    let mut live_config = ingest_config("binance:BTCUSDT", &venue, "binance");
    live_config.record = Some(file.clone());
    let server = start(live_config).await;
    let mut client = Client::connect(&server).await;
    client
        .send(&support::books::books(&["BINANCE:BTCUSDT"], Some(10), true))
        .await;
    let want = capture.after[played - 1].top(10);
    let live = quotes_until_book(&mut client, "BINANCE:BTCUSDT", &want).await;
    assert!(live.len() > 50, "{} quotes", live.len());
    server.stop().await;

    let (header, events) = protocol::recording::read_all(&file).unwrap();
    assert_eq!(header.origin.as_deref(), Some("ingest"));
    assert_eq!(header.symbols.len(), 1);
    assert_eq!(header.symbols[0].symbol.as_str(), "BINANCE:BTCUSDT");
    assert_eq!(
        header.symbols[0].tick_size,
        "0.01".parse::<Decimal>().unwrap()
    );
    assert!(events.len() > 1_000, "{} events", events.len());
    // Trades keep the venue's ids, times and aggressors.
    let trades: Vec<_> = events
        .iter()
        .filter(|e| matches!(e.event, protocol::recording::MarketEvent::Trade { .. }))
        .collect();
    assert!(!trades.is_empty());
    assert!(trades.iter().all(|t| t.extras.trade_id().is_some()
        && t.extras.aggressor().is_some()
        && t.extras.exch_ts_ns().is_some()));

    // Replayed as fast as it goes, the recording gives the same book and the same quotes.
    let replay = start(Config {
        replay: Some(file),
        speed: "max".parse().unwrap(),
        ..config()
    })
    .await;
    let mut client = Client::connect(&replay).await;
    client
        .send(&support::books::books(&["BINANCE:BTCUSDT"], Some(10), true))
        .await;
    let replayed = quotes_until_book(&mut client, "BINANCE:BTCUSDT", &want).await;
    let price = |q: &protocol::Quote| (q.bid, q.bid_size, q.ask, q.ask_size);
    let replayed: Vec<_> = replayed.iter().map(price).collect();
    let live: Vec<_> = live.iter().map(price).collect();
    // The replay's client may join after its first quotes: what it saw is the live tail.
    assert!(!replayed.is_empty());
    assert!(
        live.ends_with(&replayed),
        "{} live, {} replayed",
        live.len(),
        replayed.len()
    );
    replay.stop().await;
}

#[tokio::test]
async fn binance_through_a_late_snapshot_a_dropped_diff_and_a_dropped_connection() {
    let Some(dir) =
        support::realdata::sample("exchanges/binance/spot_btcusdt_2024-08-08_hftbacktest")
    else {
        return;
    };
    let Capture {
        messages,
        first_snapshot,
        after,
    } = Capture::binance(&dir);
    let last = after.last().unwrap().clone();
    // Faults: the first snapshot comes 300 ms late; a diff near the middle of the first
    // connection is never sent (the book re-syncs from a snapshot taken 200 messages later);
    // the connection drops after 2,000 messages and the second plays the rest, from a snapshot
    // taken 100 messages into it.
    let n = messages.len();
    let dropped = (900..n)
        .find(|&i| messages[i].contains("depthUpdate"))
        .unwrap();
    let paced = |range: std::ops::Range<usize>| -> Vec<Step> {
        range
            .filter(|&i| i != dropped)
            .flat_map(|i| {
                [
                    Step::Send(messages[i].clone()),
                    Step::Wait(Duration::from_micros(700)),
                ]
            })
            .collect()
    };
    let mut session1 = paced(0..2_000);
    session1.push(Step::Drop);
    let session2 = paced(2_000..n);
    let answers = vec![
        Answer {
            body: first_snapshot,
            delay: Duration::from_millis(300),
        },
        Answer {
            body: after[dropped + 200].snapshot(),
            delay: Duration::ZERO,
        },
        Answer {
            body: after[2_100].snapshot(),
            delay: Duration::ZERO,
        },
    ];
    let mut rest = binance_rest();
    rest.push(("/api/v3/depth".to_owned(), answers));
    let venue = Venue::start(Script {
        sessions: vec![session1, session2],
        rest,
    })
    .await;
    let server = start(ingest_config("binance:BTCUSDT", &venue, "binance")).await;
    let mut client = Client::connect(&server).await;
    let hello = client
        .until(|m| match m {
            ServerMessage::Hello(h) => Some(h),
            _ => None,
        })
        .await;
    assert_eq!(
        hello.symbols,
        vec![protocol::Symbol::from("BINANCE:BTCUSDT")]
    );
    let source = hello.source.unwrap();
    assert_eq!(source.kind, "ingest");
    assert_eq!(source.venues, Some(vec!["BINANCE".to_owned()]));
    client
        .send(&support::books::books(&["BINANCE:BTCUSDT"], Some(10), true))
        .await;
    let mut quotes = 0;
    let mut trades = 0;
    let mut whole_books = 0;
    let want = last.top(10);
    until_book(&mut client, "BINANCE:BTCUSDT", &want, |message, books| {
        match message {
            ServerMessage::Book(_) => whole_books += 1,
            ServerMessage::Quote(q) => {
                quotes += 1;
                let book = books.get("BINANCE:BTCUSDT").unwrap();
                // The quote is the book's top.
                assert_eq!(book.bids().next().map(|(p, _)| *p), Some(q.bid));
                assert_eq!(book.asks().next().map(|(p, _)| *p), Some(q.ask));
            }
            ServerMessage::Trade(t) => {
                // The venue's trade id, its time and who took liquidity (`m`: the buyer was
                // the maker, so a seller hit the bid).
                let id = format!(r#""t":{},"#, t.trade_id.unwrap());
                let raw = messages.iter().find(|m| m.contains(&id)).unwrap();
                let taker = if raw.contains(r#""m":true"#) {
                    protocol::Side::Sell
                } else {
                    protocol::Side::Buy
                };
                assert_eq!(t.aggressor, Some(taker), "{raw}");
                assert!(t.exch_ts_ns.unwrap() > 1_723_000_000_000_000_000);
                trades += 1;
            }
            _ => {}
        }
        venue.connections() == 2 && trades > 600
    })
    .await;
    let want_asks = want.1;
    assert!(quotes > 100, "{quotes} quotes");
    // The subscription's `book`, then a fresh one for each re-sync: after the dropped diff and
    // after the reconnect (and after the first snapshot, if it came after the subscription).
    assert!((3..=4).contains(&whole_books), "{whole_books} books");
    // Paper trading: a market buy of the three best asks takes each at the venue's price and
    // size (the venue is quiet now; its book stays as it ended).
    let asks: Vec<(Decimal, Decimal)> = want_asks[..3].to_vec();
    client
        .send(&protocol::ClientMessage::Order(protocol::Order {
            id: "live".into(),
            symbol: "BINANCE:BTCUSDT".into(),
            side: protocol::Side::Buy,
            qty: asks.iter().map(|(_, s)| *s).sum(),
            price: None,
            sent_ns: None,
        }))
        .await;
    let mut fills = Vec::new();
    while fills.len() < asks.len() {
        match client.next().await {
            ServerMessage::Fill(f) => fills.push((f.price, f.qty)),
            ServerMessage::Reject(r) => panic!("{r:?}"),
            ServerMessage::Canceled(c) => panic!("{c:?}"),
            _ => {}
        }
    }
    assert_eq!(fills, asks);
    let paths = venue.paths();
    assert_eq!(
        paths
            .iter()
            .filter(|p| p.starts_with("/api/v3/depth?symbol=BTCUSDT&limit=1000"))
            .count(),
        3,
        "{paths:?}"
    );
    let health: serde_json::Value = serde_json::from_str(&get(&server, "/healthz").await).unwrap();
    let binance = &health["ingest"][0];
    assert_eq!(binance["venue"], "binance");
    assert_eq!(binance["connected"], true);
    assert_eq!(binance["reconnects"], 1);
    assert_eq!(binance["resyncs"]["gap"], 1);
    assert_eq!(binance["resyncs"]["cross_check"], 0);
    let metrics = get(&server, "/metrics").await;
    assert!(
        metrics.contains(r#"tickwire_ingest_reconnects_total{venue="binance"} 1"#),
        "{metrics}"
    );
    assert!(metrics.contains(r#"tickwire_ingest_connected{venue="binance"} 1"#));
    server.stop().await;
}

/// Kraken's instrument snapshot (the real one) and a ticker snapshot (written from Kraken's v2
/// documentation) for the metadata connection.
fn kraken_metadata(symbol: &str) -> Option<Vec<Step>> {
    let path = support::realdata::sample(
        "exchanges/kraken/v2_samples/instrument_snapshot_krakpot.json.gz",
    )?;
    let mut text = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap()),
        &mut text,
    )
    .unwrap();
    // Compact, as the wire has it.
    let compact: Box<serde_json::value::RawValue> = serde_json::from_str(&text).unwrap();
    let compact = serde_json::to_string(&compact)
        .unwrap()
        .split_whitespace()
        .collect::<String>();
    Some(vec![
        Step::AwaitClient(2),
        Step::Send(compact),
        Step::Send(format!(
            r#"{{"channel":"ticker","type":"snapshot","data":[{{"symbol":"{symbol}","bid":354.5,"bid_qty":1.0,"ask":354.8,"ask_qty":1.4,"last":354.55,"volume":1000.0,"vwap":350.0,"low":340.0,"high":360.0,"change":4.55,"change_pct":1.3}}]}}"#
        )),
    ])
}

#[tokio::test]
async fn kraken_through_a_bad_checksum_and_a_silent_stream() {
    let Some(path) =
        support::realdata::sample("exchanges/kraken/v1_2021-04-17_cryptofeed/book.jsonl")
    else {
        return;
    };
    let Some(metadata) = kraken_metadata("XMR/USD") else {
        return;
    };
    let text = std::fs::read_to_string(path).unwrap();
    let messages: Vec<support::captures::KrakenV1> = text
        .lines()
        .filter_map(support::captures::KrakenV1::parse)
        .filter(|m| m.pair == "XMR/USD")
        .collect();
    assert_eq!(messages.len(), 847);
    let mut book = support::captures::TextBook::new(1_000);
    let mut after = Vec::new();
    for m in &messages {
        book.apply(m);
        after.push(book.clone());
    }
    let play = |range: std::ops::Range<usize>| -> Vec<Step> {
        range
            .flat_map(|i| {
                [
                    Step::Send(messages[i].v2("XMR/USD")),
                    Step::Wait(Duration::from_millis(2)),
                ]
            })
            .collect()
    };
    // The first feed connection: 300 messages, then one with a wrong checksum; after the
    // re-subscribe, a fresh snapshot and 200 more; then silence until the watchdog reconnects.
    let mut session1 = vec![Step::AwaitClient(2)];
    session1.extend(play(0..300));
    let mut corrupted = messages[300].clone();
    let right: u32 = corrupted.checksum.as_deref().unwrap().parse().unwrap();
    corrupted.checksum = Some((right ^ 1).to_string());
    session1.push(Step::Send(corrupted.v2("XMR/USD")));
    session1.push(Step::AwaitClient(4));
    session1.push(Step::Send(after[300].snapshot_v2("XMR/USD")));
    session1.extend(play(301..500));
    // A trade, as Kraken v2 writes one.
    session1.push(Step::Send(
        r#"{"channel":"trade","type":"update","data":[{"symbol":"XMR/USD","side":"sell","price":354.11,"qty":0.89594024,"ord_type":"limit","trade_id":4665906,"timestamp":"2021-04-17T16:49:02.557535Z"}]}"#.to_owned(),
    ));
    let mut session2 = vec![
        Step::AwaitClient(2),
        Step::Send(after[600].snapshot_v2("XMR/USD")),
    ];
    session2.extend(play(601..messages.len()));
    let venue = Venue::start(Script {
        sessions: vec![metadata, session1, session2],
        rest: Vec::new(),
    })
    .await;
    let mut config = ingest_config("kraken:XMR/USD", &venue, "kraken");
    config.ingest.ingest_depth = 1_000;
    config.ingest.ingest_silence_ms = 1_000;
    let server = start(config).await;
    let mut client = Client::connect(&server).await;
    client
        .send(&support::books::books(&["KRAKEN:XMR/USD"], Some(10), true))
        .await;
    let mut trades = Vec::new();
    let mut whole_books = 0;
    let want = after.last().unwrap().top(10);
    until_book(&mut client, "KRAKEN:XMR/USD", &want, |message, _| {
        match message {
            ServerMessage::Book(_) => whole_books += 1,
            ServerMessage::Trade(t) => trades.push(t.clone()),
            ServerMessage::Error(e) => panic!("{e:?}"),
            ServerMessage::Snapshot(s) => {
                // The reference price is the ticker's last less its change.
                assert_eq!(s.prev_close, "350.00".parse::<Decimal>().unwrap());
            }
            _ => {}
        }
        venue.connections() == 3
    })
    .await;
    // The subscription's `book`, and a fresh one after the mismatch's snapshot and after the
    // reconnect's (and after the first snapshot, if it came after the subscription).
    assert!((3..=4).contains(&whole_books), "{whole_books} books");
    assert_eq!(trades.len(), 1);
    assert_eq!(trades[0].price, "354.11".parse::<Decimal>().unwrap());
    assert_eq!(trades[0].size, "0.89594024".parse::<Decimal>().unwrap());
    let received = venue.received();
    assert!(
        received.iter().any(|m| m.starts_with(
            r#"{"method":"unsubscribe","params":{"channel":"book","symbol":["XMR/USD"]"#
        )),
        "{received:?}"
    );
    let health: serde_json::Value = serde_json::from_str(&get(&server, "/healthz").await).unwrap();
    let kraken = &health["ingest"][0];
    assert_eq!(kraken["venue"], "kraken");
    assert_eq!(kraken["reconnects"], 1);
    assert_eq!(kraken["resyncs"]["checksum"], 1);
    server.stop().await;
}

/// Decimal places of the finest of `values`, as a grid unit's text.
fn finest<'a>(values: impl Iterator<Item = &'a str>) -> String {
    let places = values
        .map(|v| v.split_once('.').map_or(0, |(_, f)| f.len()))
        .max()
        .unwrap_or(0);
    Decimal::new(1, u32::try_from(places).unwrap()).to_string()
}

#[tokio::test]
async fn coinbase_through_a_maintenance_close() {
    let Some(dir) = support::realdata::sample("exchanges/coinbase/exchange_2021-04-17_cryptofeed")
    else {
        return;
    };
    let product = "SKL-USD";
    let tagged = format!(r#""product_id":"{product}""#);
    let read = |name: &str| -> Vec<String> {
        std::fs::read_to_string(dir.join(name))
            .unwrap()
            .lines()
            .filter(|l| l.contains(&tagged))
            .map(str::to_owned)
            .collect()
    };
    // The book's messages and the trades, merged by time as the feed sent them.
    let mut messages: Vec<(String, String)> = read("level2.jsonl")
        .into_iter()
        .chain(read("matches.jsonl"))
        .map(|l| {
            let value: serde_json::Value = serde_json::from_str(&l).unwrap();
            (value["time"].as_str().unwrap_or("").to_owned(), l)
        })
        .collect();
    messages.sort_by(|a, b| a.0.cmp(&b.0));
    let messages: Vec<String> = messages.into_iter().map(|(_, l)| l).collect();
    assert!(messages[0].starts_with(r#"{"type":"snapshot""#));
    let (mut prices, mut sizes) = (Vec::new(), Vec::new());
    let mut bids: BTreeMap<Decimal, (String, String)> = BTreeMap::new();
    let mut asks: BTreeMap<Decimal, (String, String)> = BTreeMap::new();
    let mut after = Vec::new();
    let mut trades = 0;
    for line in &messages {
        let value: serde_json::Value = serde_json::from_str(line).unwrap();
        let mut set = |side: &str, p: &str, s: &str| {
            prices.push(p.to_owned());
            sizes.push(s.to_owned());
            let book = if side == "buy" { &mut bids } else { &mut asks };
            let price: Decimal = p.parse().unwrap();
            if s.parse::<Decimal>().unwrap().is_zero() {
                book.remove(&price);
            } else {
                book.insert(price, (p.to_owned(), s.to_owned()));
            }
        };
        match value["type"].as_str().unwrap() {
            "snapshot" => {
                for (key, side) in [("bids", "buy"), ("asks", "sell")] {
                    for level in value[key].as_array().unwrap() {
                        set(side, level[0].as_str().unwrap(), level[1].as_str().unwrap());
                    }
                }
            }
            "l2update" => {
                for change in value["changes"].as_array().unwrap() {
                    set(
                        change[0].as_str().unwrap(),
                        change[1].as_str().unwrap(),
                        change[2].as_str().unwrap(),
                    );
                }
            }
            "match" => {
                trades += 1;
                prices.push(value["price"].as_str().unwrap().to_owned());
                sizes.push(value["size"].as_str().unwrap().to_owned());
            }
            _ => {}
        }
        after.push((bids.clone(), asks.clone()));
    }
    let snapshot_at = |i: usize| {
        let (bids, asks) = &after[i];
        let levels = |side: Vec<&(String, String)>| {
            side.iter()
                .map(|(p, s)| format!(r#"["{p}","{s}"]"#))
                .collect::<Vec<_>>()
                .join(",")
        };
        format!(
            r#"{{"type":"snapshot","product_id":"{product}","bids":[{}],"asks":[{}]}}"#,
            levels(bids.values().rev().collect()),
            levels(asks.values().collect())
        )
    };
    let half = messages.len() / 2;
    let play = |range: std::ops::Range<usize>| -> Vec<Step> {
        range
            .flat_map(|i| {
                [
                    Step::Send(messages[i].clone()),
                    Step::Wait(Duration::from_micros(500)),
                ]
            })
            .collect()
    };
    let mut session1 = vec![Step::AwaitClient(1)];
    session1.extend(play(0..half));
    session1.push(Step::Close);
    let mut session2 = vec![Step::AwaitClient(1), Step::Send(snapshot_at(half - 1))];
    session2.extend(play(half..messages.len()));
    let venue = Venue::start(Script {
        sessions: vec![session1, session2],
        rest: fixed(&[
            (
                "/products/SKL-USD/stats",
                r#"{"open":"0.4250","high":"0.4500","low":"0.4100","last":"0.4394","volume":"1000000"}"#.to_owned(),
            ),
            (
                "/products/SKL-USD",
                format!(
                    r#"{{"id":"SKL-USD","base_currency":"SKL","quote_currency":"USD","quote_increment":"{}","base_increment":"{}","status":"online"}}"#,
                    finest(prices.iter().map(String::as_str)),
                    finest(sizes.iter().map(String::as_str))
                ),
            ),
        ]),
    })
    .await;
    let server = start(ingest_config("coinbase:SKL-USD", &venue, "coinbase")).await;
    let mut client = Client::connect(&server).await;
    client
        .send(&support::books::books(
            &["COINBASE:SKL-USD"],
            Some(10),
            true,
        ))
        .await;
    let mut seen_trades = 0;
    let (bids, asks) = after.last().unwrap();
    let want = (
        bids.iter()
            .rev()
            .take(10)
            .map(|(p, (_, s))| (*p, s.parse().unwrap()))
            .collect(),
        asks.iter()
            .take(10)
            .map(|(p, (_, s))| (*p, s.parse().unwrap()))
            .collect(),
    );
    until_book(&mut client, "COINBASE:SKL-USD", &want, |message, _| {
        if matches!(message, ServerMessage::Trade(_)) {
            seen_trades += 1;
        }
        venue.connections() == 2 && seen_trades == trades
    })
    .await;
    let received = venue.received();
    assert_eq!(
        received.len(),
        2,
        "a subscribe on each connection: {received:?}"
    );
    assert!(received[1].contains(r#""product_ids":["SKL-USD"]"#));
    let health: serde_json::Value = serde_json::from_str(&get(&server, "/healthz").await).unwrap();
    assert_eq!(health["ingest"][0]["reconnects"], 1);
    server.stop().await;
}

#[tokio::test]
async fn an_unreachable_venue_is_retried_and_shown_and_the_server_serves_on() {
    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let mut config = config();
    config.ingest = IngestArgs {
        specs: vec!["binance:BTCUSDT".parse().unwrap()],
        ws_urls: vec![format!("binance=ws://127.0.0.1:{port}").parse().unwrap()],
        rest_urls: vec![format!("binance=http://127.0.0.1:{port}").parse().unwrap()],
        ingest_start_timeout_ms: 300,
        ..IngestArgs::default()
    };
    let server = start(config).await;
    let mut client = Client::connect(&server).await;
    let hello = client
        .until(|m| match m {
            ServerMessage::Hello(h) => Some(h),
            _ => None,
        })
        .await;
    assert_eq!(
        hello.symbols,
        vec![protocol::Symbol::from("BINANCE:BTCUSDT")]
    );
    // Right after `hello`: the symbol's source is stale.
    match client.next().await {
        ServerMessage::Status(s) => assert_eq!(s.stale, hello.symbols),
        other => panic!("{other:?}"),
    }
    // The feed is retried with backoff while clients are served.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let health: serde_json::Value =
            serde_json::from_str(&get(&server, "/healthz").await).unwrap();
        assert_eq!(health["status"], "ok");
        let binance = &health["ingest"][0];
        assert_eq!(binance["connected"], false);
        assert_eq!(binance["stale"], true);
        if binance["reconnects"].as_u64().unwrap() >= 2 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{health}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    server.stop().await;
}
