//! Clients that fail over between the edges of a cluster (a market core and two edges over a
//! real NATS server, in this process): `terminal record --url A,B` goes on at B when A goes away,
//! resuming every stream, and its file has every `seq`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../../feed-server/tests/support/nats.rs"]
mod nats;

use std::collections::HashMap;
use std::time::Duration;

use feed_server::{BusSettings, Config, Subjects};
use protocol::{Decoder, ServerMessage};
use terminal::record::{RecordArgs, record};
use tokio_util::sync::CancellationToken;

fn bus(nats: &nats::Nats) -> BusSettings {
    BusSettings {
        url: nats.url(),
        subjects: Subjects::new("tickwire"),
        pending_events: 65_536,
    }
}

/// An edge of the cluster on a port of its own: its URL and the token that stops it.
fn edge(nats: &nats::Nats) -> (String, CancellationToken) {
    let config = Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..Config::default()
    };
    let listener = feed_server::listen_edge(&config, false).unwrap();
    let url = format!("ws://{}/ws", listener.local_addr().unwrap());
    let stop = CancellationToken::new();
    tokio::spawn(feed_server::run_edge(
        listener,
        config,
        None,
        bus(nats),
        stop.clone(),
    ));
    (url, stop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_goes_on_at_the_next_edge_without_a_gap() {
    let nats = nats::Nats::start().await;
    let core_stop = CancellationToken::new();
    let core = Config {
        synth: feed_server::SynthArgs {
            rate: 500,
            ..feed_server::SynthArgs::default()
        },
        ..Config::default()
    };
    tokio::spawn(feed_server::run_core(
        None,
        core,
        None,
        bus(&nats),
        core_stop.clone(),
    ));
    let (a, stop_a) = edge(&nats);
    let (b, _stop_b) = edge(&nats);
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("failover.jsonl.zst");
    let args = RecordArgs {
        url: format!("{a},{b}"),
        symbols: "*".to_owned(),
        duration: Some(Duration::from_secs(5)),
        out: out.clone(),
        encoding: protocol::Encoding::Json,
        channels: "quotes".parse().unwrap(),
        depth: 10,
        tls: terminal::tls::TlsArgs::default(),
    };
    // Edge A stops (its clients get 1001) after 1.5 s; the recording goes on at B.
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        stop_a.cancel();
    });
    let summary = record(&args, std::future::pending(), |_| {}).await.unwrap();
    core_stop.cancel();
    assert_eq!(summary.reconnects, 1, "{summary:?}");
    assert!(summary.resumed >= 20, "{summary:?}");
    assert_eq!(summary.resumed_from_snapshot, 0, "{summary:?}");
    assert!(summary.gaps.is_empty(), "{:?}", summary.gaps);
    // The file: every symbol's seq runs on by one, across the change of edge.
    let text =
        String::from_utf8(zstd::decode_all(std::fs::File::open(&out).unwrap()).unwrap()).unwrap();
    let mut decoder = Decoder::new();
    let mut last: HashMap<String, u64> = HashMap::new();
    let mut events = 0;
    for line in text.lines().skip(1) {
        for m in decoder.server(line.as_bytes()).unwrap() {
            let (symbol, seq) = match &m {
                ServerMessage::Quote(q) => (q.symbol.to_string(), q.seq),
                ServerMessage::Trade(t) => (t.symbol.to_string(), t.seq),
                _ => continue,
            };
            if let Some(prev) = last.insert(symbol.clone(), seq) {
                assert_eq!(seq, prev + 1, "{symbol} jumped from {prev} to {seq}");
            }
            events += 1;
        }
    }
    assert!(events > 1_500, "{events} events in 5 s at 500/s");
}
