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

/// A recording of `symbols` from `url` for `duration` into `out`.
fn args(
    url: String,
    symbols: &str,
    duration: Duration,
    out: &Path,
    encoding: protocol::Encoding,
    channels: &str,
) -> RecordArgs {
    RecordArgs {
        url,
        symbols: symbols.to_owned(),
        duration: Some(duration),
        out: out.to_owned(),
        encoding,
        channels: channels.parse().unwrap(),
        depth: 10,
        tls: terminal::tls::TlsArgs::default(),
    }
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
    let args = args(
        live.url(),
        "*",
        Duration::from_secs(1),
        &out,
        protocol::Encoding::Json,
        "quotes",
    );
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

/// A TCP relay to `upstream` whose connections the test can cut, as a network failure would,
/// while the server stays up.
async fn relay(upstream: std::net::SocketAddr) -> (String, tokio::sync::watch::Sender<u64>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (cut, cuts) = tokio::sync::watch::channel(0u64);
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            let Ok(mut outbound) = tokio::net::TcpStream::connect(upstream).await else {
                continue;
            };
            let mut cuts = cuts.clone();
            cuts.borrow_and_update();
            tokio::spawn(async move {
                tokio::select! {
                    _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                    _ = cuts.changed() => {}
                }
            });
        }
    });
    (format!("ws://{addr}/ws"), cut)
}

/// Every quote and trade of a recording as `(symbol, seq)`, in file order.
fn seqs(path: &Path) -> Vec<(String, u64)> {
    let text =
        String::from_utf8(zstd::decode_all(std::fs::File::open(path).unwrap()).unwrap()).unwrap();
    let mut decoder = Decoder::new();
    text.lines()
        .skip(1)
        .filter_map(|l| {
            let m = decoder.server(l.as_bytes()).unwrap().remove(0);
            if matches!(m, ServerMessage::Book(_) | ServerMessage::BookUpdate(_)) {
                return None;
            }
            let (symbol, seq) = m.market_seq().unwrap();
            Some((symbol.to_owned(), seq))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_connection_resumes_and_the_file_has_every_seq() {
    for encoding in [protocol::Encoding::Json, protocol::Encoding::Bin] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("live.jsonl.zst");
        let server = feed_server::spawn(config()).await.unwrap();
        let (url, cut) = relay(server.addr).await;
        let args = args(
            url,
            "*",
            Duration::from_millis(2_500),
            &out,
            encoding,
            "quotes,book",
        );
        let recording =
            tokio::spawn(async move { record(&args, std::future::pending(), |_| {}).await });
        tokio::time::sleep(Duration::from_millis(700)).await;
        cut.send(1).unwrap();
        let summary = recording.await.unwrap().unwrap();
        server.stop().await;
        assert_eq!((summary.drops, summary.reconnects), (1, 1), "{summary:?}");
        assert_eq!(
            (summary.resumed, summary.resumed_from_snapshot),
            (20, 0),
            "{summary:?}"
        );
        assert!(summary.gaps.is_empty(), "{:?}", summary.gaps);
        let mut last: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
        let events = seqs(&out);
        assert_eq!(events.len() as u64, summary.events);
        for (symbol, seq) in events {
            if let Some(before) = last.insert(symbol.clone(), seq) {
                assert_eq!(
                    seq,
                    before + 1,
                    "{encoding:?} {symbol}: {seq} after {before}"
                );
            }
        }
        // The books went on after the drop: the reader finds every book line in order with its
        // checksum right.
        let books = summary.books.unwrap();
        assert_eq!((books.mismatches, books.gaps), (0, 0), "{books:?}");
        let (header, _) = protocol::recording::read_all(&out).unwrap();
        assert_eq!(header.book_depth, Some(10));
        // The books resumed from their seqs: one `book` per symbol, the one it started with.
        let text = String::from_utf8(zstd::decode_all(std::fs::File::open(&out).unwrap()).unwrap())
            .unwrap();
        let whole = text
            .lines()
            .filter(|l| l.starts_with("{\"type\":\"book\""))
            .count();
        assert_eq!(whole, 20, "{encoding:?}: fresh books after the drop");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn across_a_server_restart_every_symbol_resyncs_and_the_recording_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("live.jsonl.zst");
    let first = feed_server::spawn(config()).await.unwrap();
    let addr = first.addr;
    let args = args(
        first.url(),
        "*",
        Duration::from_millis(2_500),
        &out,
        protocol::Encoding::Json,
        "quotes",
    );
    let recording =
        tokio::spawn(async move { record(&args, std::future::pending(), |_| {}).await });
    tokio::time::sleep(Duration::from_millis(600)).await;
    first.stop().await;
    let second = feed_server::spawn(Config {
        listen: addr,
        ..config()
    })
    .await
    .unwrap();
    let summary = recording.await.unwrap().unwrap();
    second.stop().await;
    assert_eq!(summary.epoch_changes, 1, "{summary:?}");
    assert_eq!(summary.reconnects, 1, "{summary:?}");
    assert!(summary.resyncs >= 20, "{summary:?}");
    assert!(
        summary.events > 3_000,
        "events from both servers: {summary:?}"
    );
}

/// Each symbol's book at the end of a recording, from its lines by the client's rules.
fn final_books(path: &Path) -> protocol::book::Books {
    use protocol::book::{BookStep, Books};
    let text =
        String::from_utf8(zstd::decode_all(std::fs::File::open(path).unwrap()).unwrap()).unwrap();
    let mut decoder = Decoder::new();
    let mut books = Books::new(10);
    for line in text.lines().skip(1) {
        if let Some(step) = books.apply(&decoder.server(line.as_bytes()).unwrap().remove(0)) {
            assert_eq!(step, BookStep::InSync, "{line}");
        }
    }
    books
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recording_with_books_checks_them_and_replays_them_exactly() {
    use protocol::book::{BookStep, Books};
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("books.jsonl.zst");
    let live = feed_server::spawn(config()).await.unwrap();
    let args = args(
        live.url(),
        "AAPL,MSFT",
        Duration::from_secs(1),
        &out,
        protocol::Encoding::Json,
        "quotes,book",
    );
    let summary = record(&args, std::future::pending(), |_| {}).await.unwrap();
    live.stop().await;
    let books = summary.books.unwrap();
    // The default 1,000 book changes a second over 20 symbols, and the quotes' touches.
    assert!(books.updates > 50, "{books:?}");
    assert_eq!((books.mismatches, books.gaps), (0, 0), "{books:?}");
    // The reader checks every book line's seq and checksum again.
    let (header, _) = protocol::recording::read_all(&out).unwrap();
    assert_eq!((header.version, header.book_depth), (2, Some(10)));
    let expected = final_books(&out);
    assert_eq!(expected.len(), 2);

    // Replayed once at 4x: a client's books end as the recording's.
    let replay = feed_server::spawn(Config {
        replay: Some(out.clone()),
        speed: Speed::Factor(4.0),
        ..config()
    })
    .await
    .unwrap();
    let (mut ws, _) = tokio_tungstenite::connect_async(replay.url())
        .await
        .unwrap();
    let subscribe = ClientMessage::Subscribe(Subscribe {
        channels: Some(vec![protocol::Channel::Book]),
        depth: Some(10),
        ..Subscribe::to(vec!["AAPL".into(), "MSFT".into()])
    });
    ws.send(Message::text(encode_client(&subscribe)))
        .await
        .unwrap();
    let mut decoder = Decoder::new();
    let mut mine = Books::new(10);
    let same = |mine: &Books| {
        expected.iter().all(|(s, want)| {
            mine.get(s)
                .is_some_and(|got| got.bids().eq(want.bids()) && got.asks().eq(want.asks()))
        })
    };
    while !same(&mine) {
        let frame = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("the replayed books never ended as recorded")
            .unwrap()
            .unwrap();
        let Message::Text(t) = frame else { continue };
        for m in decoder.server(t.as_bytes()).unwrap() {
            if let Some(step) = mine.apply(&m) {
                assert_eq!(step, BookStep::InSync);
            }
        }
    }
    replay.stop().await;
}
