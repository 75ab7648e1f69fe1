//! `terminal record` against a real feed server, then `feed-server --replay` of what it wrote:
//! the replay streams the same events in the same order.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::time::Duration;

use feed_server::Config;
use futures_util::{SinkExt, StreamExt};
use protocol::recording::Speed;
use protocol::{ClientMessage, Decoder, ServerMessage, Subscribe, encode_client};
use terminal::record::{RecordArgs, record};
use tokio_tungstenite::tungstenite::Message;

/// What replay must keep of an event: symbol, kind, prices and sizes (not `seq` or `ts_ns`).
fn essence(m: &ServerMessage) -> Option<String> {
    match m {
        ServerMessage::Quote(q) => Some(format!(
            "{} q {} {} {} {}",
            q.symbol, q.bid, q.bid_size, q.ask, q.ask_size
        )),
        ServerMessage::Trade(t) => Some(format!("{} t {} {}", t.symbol, t.price, t.size)),
        _ => None,
    }
}

/// The events of a recording, read as the wire messages they are.
fn recorded(path: &Path) -> Vec<String> {
    let text =
        String::from_utf8(zstd::decode_all(std::fs::File::open(path).unwrap()).unwrap()).unwrap();
    let mut decoder = Decoder::new();
    text.lines()
        .skip(1)
        .map(|l| essence(&decoder.server(l.as_bytes()).unwrap()[0]).unwrap())
        .collect()
}

fn config() -> Config {
    Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..Config::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_session_replays_as_the_same_events_in_the_same_order() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("live.jsonl.zst");
    let live = feed_server::spawn(config()).await.unwrap();
    let args = RecordArgs {
        url: live.url(),
        symbols: "*".to_owned(),
        duration: Some(Duration::from_secs(1)),
        out: out.clone(),
        encoding: protocol::Encoding::Json,
        tls: terminal::tls::TlsArgs::default(),
    };
    let mut shown = 0;
    let summary = record(&args, std::future::pending(), |_| shown += 1)
        .await
        .unwrap();
    live.stop().await;
    assert!(shown >= 2, "progress shown {shown} times");
    assert!(summary.gaps.is_empty(), "{:?}", summary.gaps);
    assert!(summary.server_closed.is_none());
    // 2,000 events/s for a second.
    assert!(
        (1_500..=2_500).contains(&summary.events),
        "{}",
        summary.events
    );
    let expected = recorded(&out);
    assert_eq!(expected.len() as u64, summary.events);

    // Replay it in a loop at 10x and join in: what arrives is the recording, rotated.
    let replay = feed_server::spawn(Config {
        replay: Some(out.clone()),
        speed: Speed::Factor(10.0),
        looping: true,
        ..config()
    })
    .await
    .unwrap();
    let (mut ws, _) = tokio_tungstenite::connect_async(replay.url())
        .await
        .unwrap();
    let subscribe = ClientMessage::Subscribe(Subscribe::to(vec!["*".into()]));
    ws.send(Message::text(encode_client(&subscribe)))
        .await
        .unwrap();
    let mut decoder = Decoder::new();
    let mut got = Vec::new();
    while got.len() < expected.len() + 200 {
        let frame = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        if let Message::Text(t) = frame {
            got.extend(
                decoder
                    .server(t.as_bytes())
                    .unwrap()
                    .iter()
                    .filter_map(essence),
            );
        }
    }
    let start = expected.iter().position(|e| *e == got[0]).unwrap();
    for (i, e) in got.iter().enumerate() {
        assert_eq!(
            e,
            &expected[(start + i) % expected.len()],
            "event {i} after joining"
        );
    }
    replay.stop().await;
}
