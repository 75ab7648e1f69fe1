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

#[tokio::test]
async fn binance_through_a_late_snapshot_a_dropped_diff_and_a_dropped_connection() {
    let Some(dir) =
        support::realdata::sample("exchanges/binance/spot_btcusdt_2024-08-08_hftbacktest")
    else {
        return;
    };
    let raw = flate2::read::GzDecoder::new(
        std::fs::File::open(dir.join("raw_window.hftbacktest.txt.gz")).unwrap(),
    );
    let mut messages = Vec::new();
    let mut book = Book::default();
    let mut first_snapshot = None;
    // The venue's book after each message, for snapshots taken later.
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
    let first_snapshot = first_snapshot.unwrap();
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
    let mut rest = fixed(&[
        (
            "/api/v3/exchangeInfo",
            r#"{"timezone":"UTC","symbols":[{"symbol":"BTCUSDT","status":"TRADING","filters":[{"filterType":"PRICE_FILTER","minPrice":"0.01000000","maxPrice":"1000000.00000000","tickSize":"0.01000000"},{"filterType":"LOT_SIZE","minQty":"0.00001000","maxQty":"9000.00000000","stepSize":"0.00001000"}]}]}"#.to_owned(),
        ),
        (
            "/api/v3/ticker/24hr",
            r#"[{"symbol":"BTCUSDT","openPrice":"61000.00000000","lastPrice":"61837.63000000"}]"#.to_owned(),
        ),
    ]);
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
    let mut books = Books::new(10);
    let mut quotes = 0;
    let mut trades = 0;
    let (want_bids, want_asks) = last.top(10);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let message = tokio::time::timeout_at(deadline, client.next())
            .await
            .unwrap_or_else(|_| panic!("the book never reached the venue's last book"));
        match &message {
            ServerMessage::Book(_) | ServerMessage::BookUpdate(_) => {
                assert_eq!(books.apply(&message), Some(BookStep::InSync), "{message:?}");
            }
            ServerMessage::Quote(q) => {
                quotes += 1;
                let book = books.get("BINANCE:BTCUSDT").unwrap();
                // The quote is the book's top.
                assert_eq!(book.bids().next().map(|(p, _)| *p), Some(q.bid));
                assert_eq!(book.asks().next().map(|(p, _)| *p), Some(q.ask));
            }
            ServerMessage::Trade(_) => trades += 1,
            _ => {}
        }
        if let Some(book) = books.get("BINANCE:BTCUSDT") {
            let bids: Vec<(Decimal, Decimal)> = book.bids().map(|(p, s)| (*p, *s)).collect();
            let asks: Vec<(Decimal, Decimal)> = book.asks().map(|(p, s)| (*p, *s)).collect();
            if bids == want_bids && asks == want_asks && venue.connections() == 2 && trades > 600 {
                break;
            }
        }
    }
    assert!(quotes > 100, "{quotes} quotes");
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
