//! Recordings: `generate` is deterministic, files are read as streams with every failure located,
//! and `--replay` streams a recording's events over real sockets as synthesis does.
#![allow(clippy::unwrap_used)]

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use feed_server::generate::{GenerateArgs, generate};
use feed_server::{Config, SymbolChoice};
use protocol::recording::Speed;
use protocol::recording::{Reader, read_all};
use protocol::{ServerMessage, Subscribe};
use support::{Client, Seqs, config, start};

fn generated(dir: &Path, name: &str, rate: u64, duration: Duration, seed: u64) -> PathBuf {
    let out = dir.join(name);
    generate(&GenerateArgs {
        synth: feed_server::SynthArgs {
            symbols: SymbolChoice::Default,
            rate,
            book_rate: 0,
            seed,
        },
        duration,
        start: None,
        out: out.clone(),
    })
    .unwrap();
    out
}

fn replay_config(file: &Path, speed: Speed, looping: bool) -> Config {
    Config {
        replay: Some(file.to_owned()),
        speed,
        looping,
        ..config()
    }
}

#[test]
fn generate_gives_the_same_bytes_for_the_same_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let second = Duration::from_secs(1);
    let a = generated(dir.path(), "a.jsonl.zst", 2_000, second, 7);
    let b = generated(dir.path(), "b.jsonl.zst", 2_000, second, 7);
    let c = generated(dir.path(), "c.jsonl.zst", 2_000, second, 8);
    let bytes = |p: &Path| std::fs::read(p).unwrap();
    assert_eq!(bytes(&a), bytes(&b));
    assert_ne!(bytes(&a), bytes(&c));
    let (header, events) = read_all(&a).unwrap();
    assert_eq!(
        (header.source.as_str(), header.symbols.len(), events.len()),
        ("generate", 20, 2_000)
    );
    // Spread evenly from the start, in order.
    assert_eq!(events[0].ts_ns, header.start_ns);
    assert_eq!(events[1_999].ts_ns - events[0].ts_ns, 999_500_000);
    // Nothing left behind but the outputs.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 3, "{names:?}");
}

/// A plain recording cut inside its last line, as a crash while writing leaves it.
#[test]
fn a_cut_off_last_line_is_reported_and_everything_before_it_reads() {
    let dir = tempfile::tempdir().unwrap();
    let file = generated(dir.path(), "s.jsonl", 1_000, Duration::from_millis(100), 1);
    let text = std::fs::read_to_string(&file).unwrap();
    let cut = text.len() - 40;
    std::fs::write(&file, &text[..cut]).unwrap();
    let mut reader = Reader::open(&file).unwrap();
    let mut n = 0;
    while reader.next_event().unwrap().is_some() {
        n += 1;
    }
    assert_eq!(n, 99);
    // Header, 99 events, then the cut line.
    assert_eq!(reader.truncated_at(), Some(101));
}

#[test]
fn a_zstd_recording_cut_short_reads_up_to_the_cut_and_a_corrupt_one_fails_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let file = generated(dir.path(), "s.jsonl.zst", 20_000, Duration::from_secs(2), 1);
    let bytes = std::fs::read(&file).unwrap();

    let cut = dir.path().join("cut.jsonl.zst");
    std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let mut reader = Reader::open(&cut).unwrap();
    let mut n = 0;
    while reader.next_event().unwrap().is_some() {
        n += 1;
    }
    assert!(n > 10_000 && n < 40_000, "{n} events");
    assert!(reader.truncated_at().is_some());

    let corrupt = dir.path().join("corrupt.jsonl.zst");
    let mut damaged = bytes.clone();
    let middle = damaged.len() / 2;
    for b in &mut damaged[middle..middle + 64] {
        *b ^= 0x5a;
    }
    std::fs::write(&corrupt, &damaged).unwrap();
    let error = read_all(&corrupt).unwrap_err().to_string();
    assert!(
        error.starts_with(&format!("{}:", corrupt.display())),
        "{error}"
    );
    assert!(
        error.contains("zstd") || error.contains("checksum") || error.contains("line"),
        "{error}"
    );

    let not_zstd = dir.path().join("plain.jsonl.zst");
    std::fs::write(&not_zstd, b"{\"format\":\"tickwire-recording\"}\n").unwrap();
    let error = read_all(&not_zstd).unwrap_err().to_string();
    assert!(error.contains("zstd"), "{error}");
}

#[test]
fn a_malformed_line_stops_with_its_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let file = generated(dir.path(), "s.jsonl", 1_000, Duration::from_millis(10), 1);
    let mut lines: Vec<String> = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let cases = [
        (r#"{"type":"quote","symbol":"AAPL"}"#, "missing field"),
        (
            r#"{"type":"trade","symbol":"ZZZZ","seq":1,"price":"1.00","size":"1","ts_ns":1}"#,
            "not in the header",
        ),
        (
            r#"{"type":"trade","symbol":"AAPL","seq":1,"price":"1.005","size":"1","ts_ns":1}"#,
            "not a multiple of 0.01",
        ),
        (
            r#"{"type":"pong","sent_ns":1,"ts_ns":1}"#,
            "only `quote`, `trade`, `book` and `book_update`",
        ),
        ("not json", "JSON"),
    ];
    for (bad, why) in cases {
        let saved = lines[4].clone();
        lines[4] = bad.to_owned();
        std::fs::write(&file, lines.join("\n") + "\n").unwrap();
        let error = read_all(&file).unwrap_err().to_string();
        assert!(
            error.starts_with(&format!("{}:5: ", file.display())),
            "{error}"
        );
        assert!(error.contains(why), "{bad}: {error}");
        lines[4] = saved;
    }
    // A bad header is line 1.
    std::fs::write(&file, "{\"format\":\"other\"}\n").unwrap();
    let error = read_all(&file).unwrap_err().to_string();
    assert!(error.contains(":1: "), "{error}");
}

#[test]
fn reading_a_large_recording_takes_flat_memory() {
    let dir = tempfile::tempdir().unwrap();
    // 400,000 events, about 50 MB as plain JSON lines: far more than any buffer holds.
    let file = generated(
        dir.path(),
        "big.jsonl.zst",
        40_000,
        Duration::from_secs(10),
        3,
    );
    let rss = || {
        let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
        statm
            .split_whitespace()
            .nth(1)
            .unwrap()
            .parse::<u64>()
            .unwrap()
            * 4096
    };
    let mut reader = Reader::open(&file).unwrap();
    for _ in 0..10_000 {
        reader.next_event().unwrap().unwrap();
    }
    let before = rss();
    let mut n = 10_000;
    while reader.next_event().unwrap().is_some() {
        n += 1;
    }
    let grown = rss().saturating_sub(before);
    assert_eq!(n, 400_000);
    assert!(
        grown < 16 << 20,
        "RSS grew by {grown} bytes reading the file"
    );
}

async fn hello(client: &mut Client) -> protocol::Hello {
    match client.next().await {
        ServerMessage::Hello(h) => h,
        other => panic!("first message was {other:?}"),
    }
}

/// The (symbol, kind, prices, sizes) of an event: what replay must keep.
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

#[tokio::test]
async fn a_looping_replay_streams_the_recording_in_order_with_the_servers_own_seq() {
    let dir = tempfile::tempdir().unwrap();
    let file = generated(dir.path(), "s.jsonl.zst", 1_000, Duration::from_secs(1), 5);
    let expected: Vec<String> = {
        let (header, events) = read_all(&file).unwrap();
        events
            .iter()
            .map(|e| {
                let info = |i: usize| &header.symbols[i];
                match e.event {
                    protocol::recording::MarketEvent::Quote {
                        symbol,
                        bid,
                        bid_size,
                        ask,
                        ask_size,
                    } => {
                        let s = info(symbol);
                        format!(
                            "{} q {} {} {} {}",
                            s.symbol,
                            s.tick_size * protocol::Decimal::from(bid),
                            bid_size,
                            s.tick_size * protocol::Decimal::from(ask),
                            ask_size
                        )
                    }
                    protocol::recording::MarketEvent::Trade {
                        symbol,
                        price,
                        size,
                    } => {
                        let s = info(symbol);
                        format!(
                            "{} t {} {}",
                            s.symbol,
                            s.tick_size * protocol::Decimal::from(price),
                            size
                        )
                    }
                    protocol::recording::MarketEvent::Level { symbol, .. }
                    | protocol::recording::MarketEvent::Touch { symbol, .. }
                    | protocol::recording::MarketEvent::Resync { symbol } => {
                        panic!("a version 1 recording holds no book: {symbol}")
                    }
                }
            })
            .collect()
    };
    // At 10x the 1-second recording plays in 0.1 s, so a pass and a half arrive within a second.
    let server = start(replay_config(&file, Speed::Factor(10.0), true)).await;
    let mut client = Client::connect(&server).await;
    let h = hello(&mut client).await;
    let source = h.source.unwrap();
    assert_eq!(
        (
            source.kind.as_str(),
            source.file.as_deref(),
            source.speed.as_deref(),
            source.looping
        ),
        ("replay", Some("s.jsonl.zst"), Some("10"), Some(true))
    );
    assert_eq!(h.symbols.len(), 20);
    client
        .send(&protocol::ClientMessage::Subscribe(Subscribe::to(vec![
            "*".into(),
        ])))
        .await;
    let mut seqs = Seqs::default();
    let mut got = Vec::new();
    while got.len() < expected.len() + 500 {
        let m = client.next().await;
        if let Some(skipped) = seqs.observe(&m) {
            assert_eq!(skipped, 0, "gap before {m:?}");
        }
        if let Some(e) = essence(&m) {
            got.push(e);
        }
    }
    // What arrived is the recording, looped: find where in it the client came in.
    let start_at = expected.iter().position(|e| *e == got[0]).unwrap();
    for (i, e) in got.iter().enumerate() {
        assert_eq!(
            e,
            &expected[(start_at + i) % expected.len()],
            "event {i} after joining"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn speed_scales_the_replay_time() {
    let dir = tempfile::tempdir().unwrap();
    let file = generated(dir.path(), "s.jsonl.zst", 400, Duration::from_secs(2), 5);
    // 400 events/s played at 4x: 800 events take 0.5 s (2 s at 1x, next to nothing at max).
    let server = start(replay_config(&file, Speed::Factor(4.0), true)).await;
    let mut client = Client::connect(&server).await;
    hello(&mut client).await;
    client
        .send(&protocol::ClientMessage::Subscribe(Subscribe::to(vec![
            "*".into(),
        ])))
        .await;
    let mut events = 0;
    let mut first = None;
    while events < 800 {
        if essence(&client.next().await).is_some() {
            first.get_or_insert_with(Instant::now);
            events += 1;
        }
    }
    let took = first.unwrap().elapsed();
    // Generous bounds: the test checks the factor is applied, the benchmark checks precision.
    assert!(
        took > Duration::from_millis(300) && took < Duration::from_millis(1_500),
        "{took:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_recording_that_cannot_be_read_stops_the_server_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.jsonl");
    let mut f = std::fs::File::create(&file).unwrap();
    writeln!(f, "not a header").unwrap();
    let error = feed_server::spawn(replay_config(&file, Speed::Factor(1.0), false))
        .await
        .unwrap()
        .task
        .await
        .unwrap()
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with(&format!("{}:1: ", file.display())),
        "{error}"
    );
}
