//! Session behaviour over real sockets: hello, subscriptions, sequencing, errors, orders, pings.
#![allow(clippy::unwrap_used)] // Helpers fail the test loudly, which is what a test wants.

mod support;

use std::collections::HashMap;
use std::str::FromStr;

use protocol::*;
use support::{Client, End, Seqs, config, start};

fn subscribe(symbols: &[&str]) -> ClientMessage {
    ClientMessage::Subscribe(Subscribe::to(
        symbols.iter().map(|s| Symbol::from(*s)).collect(),
    ))
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

/// Starts a server and connects a client that has read its `hello`.
async fn session(config: feed_server::Config) -> (feed_server::ServerHandle, Client) {
    let server = start(config).await;
    let mut client = Client::connect(&server).await;
    hello(&mut client).await;
    (server, client)
}

async fn hello(client: &mut Client) -> Hello {
    match client.next().await {
        ServerMessage::Hello(h) => h,
        other => panic!("first message was {other:?}"),
    }
}

#[tokio::test]
async fn the_first_message_is_hello_with_the_symbols_and_heartbeat() {
    let server = start(config()).await;
    let mut c = Client::connect(&server).await;
    let h = hello(&mut c).await;
    assert_eq!(h.protocol, c.encoding.subprotocol());
    assert_eq!(h.server.name, "tickwire-feed-server");
    assert_eq!(h.symbols.len(), 20);
    assert!(h.symbols.iter().any(|s| s == "AAPL"));
    assert_eq!(h.heartbeat_ms, 15_000);
    assert!(h.ts_ns > 1_600_000_000_000_000_000);
    server.stop().await;
}

#[tokio::test]
async fn subscribe_sends_a_snapshot_then_live_quotes_and_trades_with_consecutive_seqs() {
    let (server, mut c) = session(feed_server::Config {
        synth: feed_server::SynthArgs {
            rate: 20_000,
            ..feed_server::SynthArgs::default()
        },
        ..config()
    })
    .await;
    c.send(&subscribe(&["AAPL", "MSFT"])).await;
    let mut seqs = Seqs::default();
    for _ in 0..2 {
        let ServerMessage::Snapshot(s) = c.next().await else {
            panic!("expected snapshots first")
        };
        assert_eq!(s.tick_size, dec("0.01"));
        assert!(s.ask > s.bid, "{s:?}");
        seqs.observe(&ServerMessage::Snapshot(s));
    }
    let (mut quotes, mut trades) = (0, 0);
    while quotes + trades < 1_000 {
        let m = c.next().await;
        assert_eq!(
            seqs.observe(&m),
            Some(0),
            "seq must increase by exactly one: {m:?}"
        );
        match m {
            ServerMessage::Quote(q) => {
                assert!(q.ask > q.bid && (q.ask % dec("0.01")).is_zero());
                quotes += 1;
            }
            ServerMessage::Trade(t) => {
                assert!(t.size > Decimal::ZERO);
                trades += 1;
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(quotes > 0 && trades > 0);
    server.stop().await;
}

#[tokio::test]
async fn star_subscribes_to_every_symbol_and_unsubscribe_stops_the_flow() {
    let (server, mut c) = session(feed_server::Config {
        synth: feed_server::SynthArgs {
            rate: 20_000,
            ..feed_server::SynthArgs::default()
        },
        ..config()
    })
    .await;
    c.send(&subscribe(&["*"])).await;
    let mut snapshots = 0;
    let mut symbols = std::collections::HashSet::new();
    while symbols.len() < 20 {
        let m = c.next().await;
        if matches!(m, ServerMessage::Snapshot(_)) {
            snapshots += 1;
        }
        symbols.insert(m.market_seq().unwrap().0.to_owned());
    }
    assert_eq!(snapshots, 20);
    c.send(&ClientMessage::Unsubscribe(Unsubscribe::all(vec![
        "*".into(),
    ])))
    .await;
    // Events queued before the unsubscribe may still arrive; after a quiet period and a pong,
    // nothing else may come.
    c.send(&ClientMessage::Ping(Ping { sent_ns: 99 })).await;
    c.until(|m| matches!(m, ServerMessage::Pong(p) if p.sent_ns == 99).then_some(()))
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    c.send(&ClientMessage::Ping(Ping { sent_ns: 99 })).await;
    c.until(|m| matches!(m, ServerMessage::Pong(p) if p.sent_ns == 99).then_some(()))
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    c.send(&ClientMessage::Ping(Ping { sent_ns: 100 })).await;
    let m = c.next().await;
    assert!(
        matches!(m, ServerMessage::Pong(Pong { sent_ns: 100, .. })),
        "got {m:?} after unsubscribing"
    );
    server.stop().await;
}

#[tokio::test]
async fn unknown_symbols_get_an_error_naming_them_while_known_ones_apply() {
    let (server, mut c) = session(config()).await;
    c.send(&subscribe(&["ZZZZ", "AAPL", "NOPE"])).await;
    let ServerMessage::Error(e) = c.next().await else {
        panic!()
    };
    assert_eq!(e.code, ErrorCode::UnknownSymbol);
    assert_eq!(e.symbols, ["ZZZZ", "NOPE"]);
    assert!(e.message.contains("ZZZZ"));
    let ServerMessage::Snapshot(s) = c.next().await else {
        panic!()
    };
    assert_eq!(s.symbol, "AAPL");
    server.stop().await;
}

#[tokio::test]
async fn malformed_messages_get_errors_and_the_connection_lives_on() {
    let (server, mut c) = session(config()).await;
    for (bad, code) in [
        ("{\"type\":\"subscribe\",", ErrorCode::BadRequest),
        ("{\"type\":\"teleport\"}", ErrorCode::UnknownType),
        (
            "{\"type\":\"subscribe\",\"symbols\":42}",
            ErrorCode::BadRequest,
        ),
        (
            "{\"type\":\"subscribe\",\"symbols\":[]}",
            ErrorCode::BadRequest,
        ),
        ("[]", ErrorCode::BadRequest),
    ] {
        c.raw(bad).await;
        let ServerMessage::Error(e) = c.next().await else {
            panic!("no error for {bad}")
        };
        assert_eq!(e.code, code, "{bad}: {}", e.message);
        assert!(!e.message.is_empty());
    }
    c.ws.send(tokio_tungstenite::tungstenite::Message::binary(vec![
        1, 2, 3,
    ]))
    .await
    .unwrap();
    let ServerMessage::Error(e) = c.next().await else {
        panic!()
    };
    // JSON takes no binary frames; on tickwire.v1.bin these three bytes are a broken message.
    let expected = match c.encoding {
        protocol::Encoding::Json => ErrorCode::UnsupportedFrame,
        protocol::Encoding::Bin => ErrorCode::BadRequest,
    };
    assert_eq!(e.code, expected, "{}", e.message);
    c.send(&subscribe(&["MSFT"])).await;
    assert!(matches!(c.next().await, ServerMessage::Snapshot(s) if s.symbol == "MSFT"));
    server.stop().await;
}

use futures_util::SinkExt;

#[tokio::test]
async fn an_oversized_message_closes_the_connection_with_1009() {
    let (server, mut c) = session(config()).await;
    let big = format!(
        "{{\"type\":\"subscribe\",\"symbols\":[\"{}\"]}}",
        "A".repeat(100 * 1024)
    );
    c.raw(&big).await;
    let (end, _) = c.drain().await;
    assert!(matches!(end, End::Closed(1009, _)), "{end:?}");
    server.stop().await;
}

#[tokio::test]
async fn ping_gets_a_pong_echoing_sent_ns() {
    let (server, mut c) = session(config()).await;
    c.send(&ClientMessage::Ping(Ping { sent_ns: 1_234_567 }))
        .await;
    let ServerMessage::Pong(p) = c.next().await else {
        panic!()
    };
    assert_eq!(p.sent_ns, 1_234_567);
    assert!(p.ts_ns > 1_600_000_000_000_000_000);
    server.stop().await;
}

fn order(id: &str, symbol: &str, side: Side, qty: &str, price: Option<Decimal>) -> ClientMessage {
    ClientMessage::Order(Order {
        id: id.into(),
        symbol: symbol.into(),
        side,
        qty: dec(qty),
        price,
        sent_ns: Some(777),
    })
}

/// The next order reply (skipping market data).
async fn reply(c: &mut Client) -> ServerMessage {
    c.until(|m| m.market_seq().is_none().then_some(m)).await
}

#[tokio::test]
async fn a_market_order_is_acked_then_filled() {
    let (server, mut c) = session(config()).await;
    c.send(&order("m-1", "AAPL", Side::Buy, "100", None)).await;
    let ServerMessage::Ack(ack) = reply(&mut c).await else {
        panic!()
    };
    assert_eq!((ack.id.as_str(), ack.sent_ns), ("m-1", Some(777)));
    let mut filled = Decimal::ZERO;
    loop {
        let ServerMessage::Fill(f) = reply(&mut c).await else {
            panic!()
        };
        assert_eq!(
            (f.id.as_str(), f.order_id.as_str()),
            ("m-1", ack.order_id.as_str())
        );
        assert!(f.price > Decimal::ZERO);
        filled += f.qty;
        if f.leaves.is_zero() {
            break;
        }
    }
    assert_eq!(filled, dec("100"));
    server.stop().await;
}

#[tokio::test]
async fn a_resting_limit_order_can_be_canceled() {
    let (server, mut c) = session(config()).await;
    // Far below the market: it rests.
    c.send(&order("l-1", "MSFT", Side::Buy, "10", Some(dec("1.00"))))
        .await;
    assert!(matches!(reply(&mut c).await, ServerMessage::Ack(a) if a.id == "l-1"));
    c.send(&ClientMessage::Cancel(Cancel {
        id: "l-1".into(),
        sent_ns: None,
    }))
    .await;
    let ServerMessage::Canceled(x) = reply(&mut c).await else {
        panic!()
    };
    assert_eq!((x.id.as_str(), x.leaves), ("l-1", dec("10")));
    c.send(&ClientMessage::Cancel(Cancel {
        id: "l-1".into(),
        sent_ns: Some(5),
    }))
    .await;
    let ServerMessage::Reject(r) = reply(&mut c).await else {
        panic!()
    };
    assert_eq!((r.code, r.sent_ns), (RejectCode::UnknownOrder, Some(5)));
    server.stop().await;
}

#[tokio::test]
async fn a_marketable_limit_order_fills_at_or_better_than_its_limit() {
    let (server, mut c) = session(config()).await;
    c.send(&order("x-1", "AAPL", Side::Sell, "100", Some(dec("0.01"))))
        .await;
    assert!(matches!(reply(&mut c).await, ServerMessage::Ack(_)));
    let ServerMessage::Fill(f) = reply(&mut c).await else {
        panic!()
    };
    assert!(f.price >= dec("0.01") && f.price > dec("100"));
    server.stop().await;
}

#[tokio::test]
async fn each_broken_rule_is_rejected_with_its_code() {
    let (server, mut c) = session(feed_server::Config {
        max_open_orders: 1,
        max_order_rate: 8,
        max_order_qty: 1_000,
        ..config()
    })
    .await;
    let cases = [
        (
            order("r1", "ZZZZ", Side::Buy, "1", None),
            Some(RejectCode::UnknownSymbol),
        ),
        (
            order("r2", "AAPL", Side::Buy, "0", None),
            Some(RejectCode::BadQuantity),
        ),
        (
            order("r3", "AAPL", Side::Buy, "1001", None),
            Some(RejectCode::BadQuantity),
        ),
        (
            order("r4", "AAPL", Side::Buy, "2.5", None),
            Some(RejectCode::BadQuantity),
        ),
        (
            order("r5", "AAPL", Side::Buy, "1", Some(dec("100.005"))),
            Some(RejectCode::BadPrice),
        ),
        (order("r6", "AAPL", Side::Buy, "1", Some(dec("1.00"))), None),
        (
            order("r6", "AAPL", Side::Buy, "1", Some(dec("1.00"))),
            Some(RejectCode::DuplicateId),
        ),
        (
            order("r7", "AAPL", Side::Buy, "1", Some(dec("1.00"))),
            Some(RejectCode::TooManyOpenOrders),
        ),
        (
            order("r8", "AAPL", Side::Buy, "1", None),
            Some(RejectCode::RateLimited),
        ),
    ];
    for (o, expected) in cases {
        c.send(&o).await;
        match (reply(&mut c).await, expected) {
            (ServerMessage::Ack(_), None) => {}
            (ServerMessage::Reject(r), Some(code)) => {
                assert_eq!(r.code, code, "{o:?}: {}", r.reason);
                assert_eq!(r.sent_ns, Some(777));
                assert!(!r.reason.is_empty());
            }
            (got, want) => panic!("{o:?}: got {got:?}, wanted {want:?}"),
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn a_client_that_never_answers_pings_is_closed_with_1008() {
    let server = start(feed_server::Config {
        heartbeat_ms: 100,
        ..config()
    })
    .await;
    let mut c = Client::connect(&server).await;
    // Read nothing (so no pong goes back) for longer than two intervals.
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let (end, seen) = c.drain().await;
    assert!(matches!(seen.first(), Some(ServerMessage::Hello(_))));
    assert!(
        matches!(&end, End::Closed(1008, reason) if reason.contains("ping")),
        "{end:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_client_that_answers_pings_stays_connected() {
    let (server, mut c) = session(feed_server::Config {
        heartbeat_ms: 50,
        ..config()
    })
    .await;
    // Reading answers pings automatically; keep reading for ten intervals.
    c.send(&subscribe(&["AAPL"])).await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(500);
    while tokio::time::Instant::now() < deadline {
        c.next().await;
    }
    c.send(&ClientMessage::Ping(Ping { sent_ns: 1 })).await;
    c.until(|m| matches!(m, ServerMessage::Pong(_)).then_some(()))
        .await;
    server.stop().await;
}

#[tokio::test]
async fn shutdown_closes_every_client_with_1001() {
    let server = start(config()).await;
    let mut a = Client::connect(&server).await;
    let mut b = Client::connect(&server).await;
    hello(&mut a).await;
    hello(&mut b).await;
    a.send(&subscribe(&["*"])).await;
    a.next().await;
    let shutdown = server.shutdown.clone();
    let task = server.task;
    shutdown.cancel();
    for c in [&mut a, &mut b] {
        let (end, _) = c.drain().await;
        assert!(
            matches!(&end, End::Closed(1001, reason) if !reason.is_empty()),
            "{end:?}"
        );
    }
    tokio::time::timeout(std::time::Duration::from_secs(5), task)
        .await
        .expect("server task ends")
        .unwrap()
        .expect("a requested shutdown is not a failure");
}

#[tokio::test]
async fn the_same_seed_gives_the_same_events() {
    async fn events(seed: u64) -> HashMap<(String, u64), String> {
        let server = start(feed_server::Config {
            synth: feed_server::SynthArgs {
                seed,
                // 3,000 events take 1.5 s: the three servers' streams overlap however long
                // each took to start and connect on a busy machine.
                rate: 2_000,
                ..feed_server::SynthArgs::default()
            },
            ..config()
        })
        .await;
        let mut c = Client::connect(&server).await;
        hello(&mut c).await;
        c.send(&subscribe(&["*"])).await;
        let mut out = HashMap::new();
        while out.len() < 3_000 {
            let m = c.next().await;
            if let Some((symbol, seq)) = m.market_seq()
                && !matches!(m, ServerMessage::Snapshot(_))
            {
                // Everything but the timestamp must be identical.
                let text = encode_server(&m);
                let text = text.split(",\"ts_ns\"").next().unwrap().to_owned();
                out.insert((symbol.to_owned(), seq), text);
            }
        }
        server.stop().await;
        out
    }
    let (a, b, other) = (events(42).await, events(42).await, events(43).await);
    let common: Vec<_> = a.keys().filter(|k| b.contains_key(*k)).collect();
    assert!(
        common.len() >= 1_000,
        "only {} events in common",
        common.len()
    );
    for k in &common {
        assert_eq!(
            a[*k], b[*k],
            "event {k:?} differs between runs with the same seed"
        );
    }
    assert!(
        a.keys()
            .filter(|k| other.get(*k).is_some_and(|o| *o != a[*k]))
            .count()
            > 100,
        "another seed gives other events"
    );
}

#[tokio::test]
async fn a_quantity_or_price_that_does_not_parse_exactly_is_refused_not_rounded() {
    let (server, mut c) = session(config()).await;
    let long = "1.0000000000000000000000000000000000000001";
    for order in [
        format!(r#"{{"type":"order","id":"a","symbol":"AAPL","side":"buy","qty":{long}}}"#),
        format!(r#"{{"type":"order","id":"b","symbol":"AAPL","side":"buy","qty":"{long}"}}"#),
        format!(
            r#"{{"type":"order","id":"c","symbol":"AAPL","side":"buy","qty":"1","price":{long}}}"#
        ),
    ] {
        c.raw(&order).await;
        match c.next().await {
            ServerMessage::Error(e) => {
                assert_eq!(e.code, protocol::ErrorCode::BadRequest, "{order}: {e:?}");
            }
            other => panic!("{order}: {other:?}"),
        }
    }
    // Nothing was filled: the next answer is to a ping.
    c.raw(r#"{"type":"ping","sent_ns":3}"#).await;
    assert!(matches!(c.next().await, ServerMessage::Pong(p) if p.sent_ns == 3));
    server.stop().await;
}
