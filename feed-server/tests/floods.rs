//! Floods and absurd values from one client: every message is answered (or the client is closed
//! with a reason), limits answer `rate_limited`, and a witness on the same server misses nothing.
#![allow(clippy::unwrap_used)]

mod support;

use serde_json::Value;
use support::raw::{Raw, encode};
use support::{Witness, config, start};

/// Reads text frames until `n` replies that are not market data (nor `hello`) arrived.
async fn replies(raw: &mut Raw, n: usize) -> Vec<Value> {
    let mut out = Vec::new();
    while out.len() < n {
        let frame = raw.next().await.expect("connection open");
        if let Some(close) = frame.close() {
            panic!("closed: {close:?}");
        }
        let Some(text) = frame.text() else { continue };
        let value: Value = serde_json::from_str(text).unwrap();
        let items = match value {
            Value::Array(items) => items,
            one => vec![one],
        };
        out.extend(items.into_iter().filter(|m| {
            !matches!(
                m["type"].as_str(),
                Some("hello" | "quote" | "trade" | "snapshot")
            )
        }));
    }
    out
}

fn count(replies: &[Value], field: &str, value: &str) -> usize {
    replies.iter().filter(|m| m[field] == value).count()
}

/// A server with `config`, a witness on it, and a raw client to misbehave with.
async fn arena(config: feed_server::Config) -> (feed_server::ServerHandle, Witness, Raw) {
    let server = start(config).await;
    let witness = Witness::start(&server).await;
    let raw = Raw::connect(server.addr, "/ws").await;
    (server, witness, raw)
}

/// Many messages in a single write, as a flooding client sends them.
async fn burst(raw: &mut Raw, messages: impl Iterator<Item = String>) {
    let bytes: Vec<u8> = messages
        .flat_map(|m| encode(true, 0, 0x1, m.as_bytes(), true))
        .collect();
    raw.bytes(&bytes).await;
}

#[tokio::test]
async fn everything_buffered_is_answered_without_more_input() {
    let server = start(config()).await;
    let mut raw = Raw::connect(server.addr, "/ws").await;
    burst(
        &mut raw,
        (0..100).map(|i| format!(r#"{{"type":"ping","sent_ns":{i}}}"#)),
    )
    .await;
    let pongs = replies(&mut raw, 100).await;
    let echoed: Vec<u64> = pongs
        .iter()
        .map(|p| p["sent_ns"].as_u64().unwrap())
        .collect();
    assert_eq!(echoed, (0..100).collect::<Vec<_>>());
    server.stop().await;
}

#[tokio::test]
async fn a_message_flood_is_answered_rate_limited_past_the_limit() {
    let (server, witness, mut raw) = arena(feed_server::Config {
        max_message_rate: 1_000,
        ..config()
    })
    .await;
    burst(
        &mut raw,
        (0..5_000).map(|i| format!(r#"{{"type":"ping","sent_ns":{i}}}"#)),
    )
    .await;
    let answers = replies(&mut raw, 5_000).await;
    let pongs = count(&answers, "type", "pong");
    let limited = count(&answers, "code", "rate_limited");
    assert_eq!(pongs + limited, 5_000);
    assert!((1_000..1_500).contains(&pongs), "{pongs} pongs");

    // Subscribe/unsubscribe toggling is a flood like any other.
    burst(
        &mut raw,
        (0..500).map(|i| {
            let kind = if i % 2 == 0 {
                "subscribe"
            } else {
                "unsubscribe"
            };
            format!(r#"{{"type":"{kind}","symbols":["AAPL"]}}"#)
        }),
    )
    .await;
    // Once the bucket has refilled (one second at this rate), requests are served again.
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    raw.text(r#"{"type":"ping","sent_ns":424242}"#).await;
    raw.until_text(|t| t.contains("424242").then_some(())).await;
    witness.finish().await;
    server.stop().await;
}

#[tokio::test]
async fn an_order_flood_gets_one_answer_per_order() {
    let (server, witness, mut raw) = arena(feed_server::Config {
        max_message_rate: 1_000_000,
        max_order_rate: 500,
        ..config()
    })
    .await;
    burst(
        &mut raw,
        (0..3_000).map(|i| {
            format!(r#"{{"type":"order","id":"f{i}","symbol":"AAPL","side":"buy","qty":"1","price":"1.00"}}"#)
        }),
    )
    .await;
    let answers = replies(&mut raw, 3_000).await;
    let acks = count(&answers, "type", "ack");
    let limited = count(&answers, "code", "rate_limited");
    let too_many = count(&answers, "code", "too_many_open_orders");
    assert_eq!(acks + limited + too_many, 3_000, "{answers:?}");
    assert!((500..1_000).contains(&acks), "{acks} acks");
    witness.finish().await;
    server.stop().await;
}

#[tokio::test]
async fn absurd_numbers_in_every_numeric_field_are_refused_and_the_connection_lives() {
    let (server, witness, mut raw) = arena(config()).await;
    let order = |qty: &str, price: &str| {
        format!(
            r#"{{"type":"order","id":"n","symbol":"AAPL","side":"buy","qty":{qty},"price":{price}}}"#
        )
    };
    let errors = [
        r#"{"type":"ping","sent_ns":1e400}"#.to_owned(),
        r#"{"type":"ping","sent_ns":-1}"#.to_owned(),
        r#"{"type":"ping","sent_ns":18446744073709551616}"#.to_owned(),
        r#"{"type":"ping","sent_ns":1.5}"#.to_owned(),
        r#"{"type":"cancel","id":"n","sent_ns":1e400}"#.to_owned(),
        order("1e400", r#""1.00""#),
        order(r#""1e400""#, r#""1.00""#),
        order(r#""1""#, "1e400"),
        order(r#""1""#, r#""NaN""#),
        order(r#""1""#, r#""-Infinity""#),
        order(r#""1""#, r#""792281625142643375935439503350""#),
        order(r#""0.00000000000000000000000000001""#, "null"),
    ];
    for message in &errors {
        raw.text(message).await;
        let reply = &replies(&mut raw, 1).await[0];
        assert_eq!(reply["code"], "bad_request", "{message} -> {reply}");
    }
    let rejects = [
        (
            order(r#""1""#, r#""79228162514264337593543950335""#),
            "bad_price",
        ),
        (
            order(r#""1""#, r#""-79228162514264337593543950335""#),
            "bad_price",
        ),
        (
            order(r#""1""#, r#""0.0000000000000000000000000001""#),
            "bad_price",
        ),
        (
            order(r#""79228162514264337593543950335""#, "null"),
            "bad_quantity",
        ),
        (order(r#""-1""#, "null"), "bad_quantity"),
    ];
    for (message, code) in &rejects {
        raw.text(message).await;
        let reply = &replies(&mut raw, 1).await[0];
        assert_eq!(
            (reply["type"].as_str(), reply["code"].as_str()),
            (Some("reject"), Some(*code)),
            "{message} -> {reply}"
        );
    }
    // The hub is alive: a normal order is acked.
    raw.text(&order(r#""1""#, "null").replace("\"n\"", "\"ok\""))
        .await;
    let reply = &replies(&mut raw, 1).await[0];
    assert_eq!(reply["type"], "ack", "{reply}");
    witness.finish().await;
    server.stop().await;
}

#[tokio::test]
async fn ids_and_symbols_are_bounded_and_repeats_cost_nothing_extra() {
    let (server, witness, mut raw) = arena(config()).await;

    let long_id = "i".repeat(60_000);
    raw.text(&format!(
        r#"{{"type":"order","id":"{long_id}","symbol":"AAPL","side":"buy","qty":"1"}}"#
    ))
    .await;
    let reply = &replies(&mut raw, 1).await[0];
    assert_eq!(reply["code"], "bad_id", "{}", &reply.to_string()[..200]);
    raw.text(r#"{"type":"order","id":"","symbol":"AAPL","side":"buy","qty":"1"}"#)
        .await;
    assert_eq!(replies(&mut raw, 1).await[0]["code"], "bad_id");

    for _ in 0..2 {
        raw.text(
            r#"{"type":"order","id":"dup","symbol":"AAPL","side":"buy","qty":"1","price":"1.00"}"#,
        )
        .await;
    }
    let answers = replies(&mut raw, 2).await;
    assert_eq!(answers[0]["type"], "ack");
    assert_eq!(answers[1]["code"], "duplicate_id");

    let long_symbols: Vec<String> = (0..100)
        .map(|i| format!("\"{i}{}\"", "Z".repeat(500)))
        .collect();
    raw.text(&format!(
        r#"{{"type":"subscribe","symbols":[{}]}}"#,
        long_symbols.join(",")
    ))
    .await;
    let reply = &replies(&mut raw, 1).await[0];
    assert_eq!(reply["code"], "unknown_symbol");
    let message = reply["message"].as_str().unwrap();
    assert!(
        message.len() < 1_000 && message.contains("84 more"),
        "{message}"
    );
    assert_eq!(reply["symbols"].as_array().unwrap().len(), 16);

    // AAPL named 7,000 times is one subscription and one snapshot.
    let repeated = vec!["\"AAPL\""; 7_000].join(",");
    raw.text(&format!(r#"{{"type":"subscribe","symbols":[{repeated}]}}"#))
        .await;
    let snapshot = loop {
        let frame = raw.next().await.unwrap();
        let text = frame.text().unwrap().to_owned();
        if text.contains("\"snapshot\"") {
            break text;
        }
    };
    assert_eq!(snapshot.matches("\"snapshot\"").count(), 1);
    assert!(snapshot.len() < 1_000, "{} bytes", snapshot.len());
    witness.finish().await;
    server.stop().await;
}

#[tokio::test]
async fn twenty_thousand_pings_unread_do_not_hurt_others() {
    let (server, witness, mut raw) = arena(config()).await;
    let ping = encode(true, 0, 0x9, b"p", true);
    let flood: Vec<u8> = ping
        .iter()
        .copied()
        .cycle()
        .take(ping.len() * 20_000)
        .collect();
    raw.bytes(&flood).await;
    raw.text(r#"{"type":"ping","sent_ns":99}"#).await;
    // Pongs are coalesced; what matters is that the connection answers what came after.
    raw.until_text(|t| t.contains("\"pong\"").then_some(()))
        .await;
    witness.finish().await;
    server.stop().await;
}

#[tokio::test]
async fn a_star_snapshot_on_a_large_universe_arrives_in_moderate_frames() {
    let server = start(feed_server::Config {
        synth: feed_server::SynthArgs {
            symbols: feed_server::SymbolChoice::Generated(100_000),
            rate: 100,
            ..feed_server::SynthArgs::default()
        },
        ..config()
    })
    .await;
    let mut raw = Raw::connect(server.addr, "/ws").await;
    raw.text(r#"{"type":"subscribe","symbols":["*"]}"#).await;
    let mut snapshots = 0;
    let mut largest = 0;
    let mut symbols = std::collections::HashSet::new();
    while symbols.len() < 100_000 {
        let frame = raw.next().await.expect("connection open");
        let text = frame.text().unwrap();
        if !text.contains("\"hello\"") {
            largest = largest.max(text.len());
        }
        snapshots += text.matches("\"snapshot\"").count();
        let value: Value = serde_json::from_str(text).unwrap();
        for m in value.as_array().into_iter().flatten() {
            if m["type"] == "snapshot" {
                symbols.insert(m["symbol"].as_str().unwrap().to_owned());
            }
        }
    }
    // Symbols with events while the client was behind are sent again; every one at least once.
    assert!(snapshots >= 100_000, "{snapshots}");
    assert!(largest < 256 * 1024, "largest frame {largest} bytes");
    server.stop().await;
}

#[tokio::test]
async fn a_client_that_floods_without_reading_gets_its_data_and_a_1008_close_when_it_reads() {
    let (server, witness, mut raw) = arena(feed_server::Config {
        stall_timeout_ms: 500,
        max_message_rate: 1_000_000,
        ..config()
    })
    .await;
    // Megabytes of pings written in one go, never reading: both sides' buffers fill and the
    // server stalls writing the pongs.
    let flood: Vec<u8> = (0..200_000)
        .flat_map(|i| {
            encode(
                true,
                0,
                0x1,
                format!(r#"{{"type":"ping","sent_ns":{i}}}"#).as_bytes(),
                true,
            )
        })
        .collect();
    raw.bytes(&flood).await;
    let mut pongs = 0;
    let close = loop {
        let frame = raw
            .next()
            .await
            .expect("a Close frame before the socket closes");
        if let Some(close) = frame.close() {
            break close;
        }
        pongs += frame.text().map_or(0, |t| t.matches("\"pong\"").count());
    };
    assert_eq!(close.0, 1008, "{close:?}");
    assert!(close.1.contains("not reading"), "{close:?}");
    assert!(pongs > 0);
    witness.finish().await;
    server.stop().await;
}
