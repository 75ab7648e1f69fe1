//! `feed-server --record`: what the server streams goes to a recording as it streams it (quotes
//! and trades as they went out, every book change), finished on shutdown; with
//! `--record-rotate` a new file opens every period, each complete on its own.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use feed_server::{Config, SynthArgs};
use protocol::recording::{MarketEvent, read_all};
use protocol::{ClientMessage, ServerMessage, Subscribe};
use support::{Client, config, start};

fn recording(dir: &std::path::Path, rotate: Option<Duration>) -> Config {
    Config {
        synth: SynthArgs {
            rate: 2_000,
            book_rate: 2_000,
            ..SynthArgs::default()
        },
        record: Some(dir.join("live.jsonl.zst")),
        record_rotate: rotate,
        ..config()
    }
}

#[tokio::test]
async fn the_recording_holds_what_clients_got_and_every_book_change() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(recording(dir.path(), None)).await;
    let mut client = Client::connect(&server).await;
    client
        .send(&ClientMessage::Subscribe(Subscribe::to(vec![
            "AAPL".into(),
        ])))
        .await;
    let mut got = Vec::new();
    while got.len() < 150 {
        if let ServerMessage::Quote(q) = client.next().await {
            got.push(q);
        }
    }
    server.stop().await;
    // Finished on shutdown: the zstd frame is whole (nothing cut short), and every book line
    // checks out.
    let file = dir.path().join("live.jsonl.zst");
    let mut reader = protocol::recording::Reader::open(&file).unwrap();
    while reader.next_event().unwrap().is_some() {}
    assert_eq!(reader.truncated_at(), None);
    let (header, events) = read_all(&file).unwrap();
    assert_eq!((header.version, header.book_depth), (2, Some(1_000)));
    assert_eq!(header.source, "record");
    assert_eq!(header.origin.as_deref(), Some("synthetic"));
    let levels = events
        .iter()
        .filter(|e| matches!(e.event, MarketEvent::Level { .. }))
        .count();
    assert!(levels > 1_000, "{levels} book changes");
    // The quotes the client got are in the file, with the same seq, prices and sizes.
    let text =
        String::from_utf8(zstd::decode_all(std::fs::File::open(&file).unwrap()).unwrap()).unwrap();
    let mut decoder = protocol::Decoder::new();
    let recorded: Vec<protocol::Quote> = text
        .lines()
        .skip(1)
        .filter_map(|l| match decoder.server(l.as_bytes()).unwrap().remove(0) {
            ServerMessage::Quote(q) if q.symbol == "AAPL" => Some(q),
            _ => None,
        })
        .collect();
    for q in &got {
        assert!(recorded.contains(q), "{q:?} is not in the recording");
    }
}

#[tokio::test]
async fn a_rotating_recording_opens_a_file_per_period_each_complete() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(recording(dir.path(), Some(Duration::from_secs(1)))).await;
    let list = || -> Vec<std::path::PathBuf> {
        let mut files: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        files
    };
    // The recorder runs on its own thread and clock: wait for its third file to open.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while list().len() < 3 {
        assert!(std::time::Instant::now() < deadline, "{:?}", list());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    server.stop().await;
    let files = list();
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            name.starts_with("live-20") && name.ends_with("Z.jsonl.zst"),
            "{name}"
        );
        // Each opens with every symbol's book and reads whole on its own.
        let (header, events) = read_all(file).unwrap();
        assert_eq!(header.book_depth, Some(1_000));
        assert!(!events.is_empty(), "{name}");
    }
}
