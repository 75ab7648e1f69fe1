//! tickwire.v1.bin beside JSON on one server: the same events, the same values, only the bytes
//! differ; JSON requests on a binary connection are answered in binary.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::HashMap;

use protocol::{ClientMessage, Encoding, ServerMessage, Subscribe};
use support::{Client, config, start};

fn all() -> ClientMessage {
    ClientMessage::Subscribe(Subscribe::to(vec!["*".into()]))
}

/// Quotes and trades by `(symbol, seq)`, as comparable text.
async fn events(client: &mut Client, n: usize) -> HashMap<(String, u64), String> {
    let mut seen = HashMap::new();
    while seen.len() < n {
        match client.next().await {
            ServerMessage::Quote(q) => {
                let key = (q.symbol.to_string(), q.seq);
                seen.insert(
                    key,
                    format!(
                        "{} {} {} {} {}",
                        q.bid, q.bid_size, q.ask, q.ask_size, q.ts_ns
                    )
                    .replace(".00 ", " "),
                );
            }
            ServerMessage::Trade(t) => {
                let key = (t.symbol.to_string(), t.seq);
                seen.insert(key, format!("{} {} {}", t.price, t.size, t.ts_ns));
            }
            _ => {}
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_and_binary_clients_get_the_same_events_with_the_same_values() {
    let server = start(feed_server::Config {
        synth: feed_server::SynthArgs {
            rate: 5_000,
            ..feed_server::SynthArgs::default()
        },
        ..config()
    })
    .await;
    let mut json = Client::connect_with(&server, Encoding::Json).await;
    let mut bin = Client::connect_with(&server, Encoding::Bin).await;
    let ServerMessage::Hello(hello) = bin.next().await else {
        panic!("no hello first");
    };
    assert_eq!(hello.protocol, "tickwire.v1.bin");
    assert_eq!(hello.symbols.len(), 20);
    json.send(&all()).await;
    bin.send(&all()).await;
    let (a, b) = tokio::join!(events(&mut json, 3_000), events(&mut bin, 3_000));
    let mut same = 0;
    for (key, value) in &a {
        if let Some(other) = b.get(key) {
            // Values are equal as decimals; text may differ in trailing zeros only.
            let norm = |s: &str| {
                s.split(' ')
                    .map(|v| {
                        v.parse::<protocol::Decimal>()
                            .map(|d| d.normalize().to_string())
                            .unwrap_or_default()
                    })
                    .collect::<Vec<_>>()
            };
            assert_eq!(norm(value), norm(other), "{key:?}");
            same += 1;
        }
    }
    assert!(same > 1_000, "only {same} events seen by both");
    server.stop().await;
}

#[tokio::test]
async fn json_requests_on_a_binary_connection_are_answered_in_binary() {
    let server = start(config()).await;
    let mut bin = Client::connect_with(&server, Encoding::Bin).await;
    bin.raw(r#"{"type":"subscribe","symbols":["AAPL"]}"#).await;
    // `Client` fails the test on a text frame for a binary connection.
    let snapshot = bin
        .until(|m| match m {
            ServerMessage::Snapshot(s) => Some(s),
            _ => None,
        })
        .await;
    assert_eq!(snapshot.symbol, "AAPL");
    bin.raw(r#"{"type":"teleport"}"#).await;
    let error = bin
        .until(|m| match m {
            ServerMessage::Error(e) => Some(e),
            _ => None,
        })
        .await;
    assert_eq!(error.code, protocol::ErrorCode::UnknownType);
    server.stop().await;
}
