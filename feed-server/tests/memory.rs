//! The memory bound: what one client can make the server hold, and what all of them can, measured
//! on a real `feed-server` process (its RSS from /proc) while clients flood it with pings they
//! never read the pongs of.
#![allow(clippy::unwrap_used)]

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use support::Witness;
use support::raw::{Raw, encode};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};

/// A `feed-server` child process on a loopback port.
struct Server {
    child: tokio::process::Child,
    addr: SocketAddr,
}

impl Server {
    async fn start(args: &[&str]) -> Self {
        let mut child = tokio::process::Command::new(
            std::env::var("FEED_SERVER_BIN")
                .unwrap_or(env!("CARGO_BIN_EXE_feed-server").to_owned()),
        )
        .args(["--listen", "127.0.0.1:0"])
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create("/tmp/memtest.log").unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
        let stdout = child.stdout.take().unwrap();
        let line = tokio::time::timeout(
            support::WAIT,
            tokio::io::BufReader::new(stdout).lines().next_line(),
        )
        .await
        .unwrap()
        .unwrap()
        .unwrap();
        // `listening on ws://ADDR/ws`
        let addr = line
            .split(' ')
            .nth(2)
            .and_then(|url| url.strip_prefix("ws://"))
            .and_then(|rest| rest.strip_suffix("/ws"))
            .unwrap_or_else(|| panic!("{line}"))
            .parse()
            .unwrap();
        Self { child, addr }
    }

    fn url(&self) -> String {
        format!("ws://{}/ws", self.addr)
    }

    /// Resident and peak resident set, in bytes.
    fn memory(&self) -> (u64, u64) {
        let pid = self.child.id().unwrap();
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.trim().trim_end_matches(" kB").parse::<u64>().ok())
                .unwrap()
                * 1024
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    /// `tickwire_buffered_bytes` from `/metrics`.
    async fn buffered(&self) -> u64 {
        let (status, body) =
            support::raw::http(self.addr, b"GET /metrics HTTP/1.1\r\nHost: test\r\n\r\n").await;
        assert_eq!(status, 200);
        body.lines()
            .find_map(|l| l.strip_prefix("tickwire_buffered_bytes "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no tickwire_buffered_bytes in {body}"))
    }
}

/// What a flooder sends, over and over, never reading what comes back.
#[derive(Clone, Copy)]
enum Flood {
    /// WebSocket pings with 125-byte payloads: the WebSocket layer answers each with a pong.
    Pings,
    /// `{"type":"ping"}` messages: each is answered with a `pong`, or past the message rate
    /// with an `error`.
    Requests,
}

/// A client with a small receive buffer that subscribes to everything (when `subscribe`), then
/// writes `n` messages of `flood` as fast as the server takes them and never reads. Resolves
/// with the connection once every message is written or the server stopped taking them.
fn flooder(
    addr: SocketAddr,
    flood: Flood,
    n: usize,
    subscribe: bool,
) -> tokio::task::JoinHandle<(Raw, usize)> {
    tokio::spawn(async move {
        let mut raw = Raw::connect_small(addr, "/ws", 4_096).await;
        if subscribe {
            raw.text(r#"{"type":"subscribe","symbols":["*"]}"#).await;
        }
        let one = match flood {
            Flood::Pings => encode(true, 0, 0x9, &[b'p'; 125], true),
            Flood::Requests => encode(true, 0, 0x1, br#"{"type":"ping","sent_ns":1}"#, true),
        };
        let chunk: Vec<u8> = one.iter().copied().cycle().take(one.len() * 500).collect();
        let mut sent = 0;
        while sent < n {
            if raw.tcp.write_all(&chunk).await.is_err() {
                break;
            }
            sent += 500;
        }
        (raw, sent)
    })
}

/// Samples the server while `work` runs: the most `tickwire_buffered_bytes` seen.
async fn watch_buffered<T>(server: &Server, work: impl Future<Output = T>) -> (T, u64) {
    let mut work = std::pin::pin!(work);
    let mut most = 0;
    loop {
        tokio::select! {
            done = &mut work => return (done, most),
            () = tokio::time::sleep(Duration::from_millis(20)) => {
                most = most.max(server.buffered().await);
            }
        }
    }
}

/// What a flooder got back: the server's Close, after whatever it had queued.
async fn close_of(raw: &mut Raw) -> (u16, String) {
    // The server closes a client that answers no pings within two heartbeats (30 s), however
    // it reads: a test waits no longer than that and the Close's patience.
    tokio::time::timeout(Duration::from_secs(45), raw.close_frame(true))
        .await
        .expect("a Close within 45 s")
        .expect("a Close frame before the socket closes")
}

/// RSS growth from `before` to the peak, checked against `bound`.
fn assert_grown_within(server: &Server, before: u64, bound: u64) {
    let (_, peak) = server.memory();
    let grown = peak.saturating_sub(before);
    assert!(
        grown < bound,
        "RSS grew by {grown} bytes (from {before}); the bound is {bound}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ping_flood_never_read_holds_its_answer_bound_not_megabytes_and_is_closed_1008() {
    let server = Server::start(&["--stall-timeout-ms", "2000"]).await;
    let witness = Witness::at(&server.url()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (before, _) = server.memory();

    // 150,000 pings (19.6 MB), the pongs never read. Once 64 KiB of pongs wait the server stops
    // reading (TCP holds the flood back), and after the stall timeout closes the client, reading
    // and dropping the rest meanwhile.
    let ((raw, sent), most) = watch_buffered(&server, async {
        tokio::time::timeout(
            Duration::from_secs(60),
            flooder(server.addr, Flood::Pings, 150_000, false),
        )
        .await
        .expect("the flood ends")
        .unwrap()
    })
    .await;
    assert_eq!(sent, 150_000);
    assert!(most <= 80 * 1024, "{most} bytes buffered");
    assert_grown_within(&server, before, 8 * 1_048_576);

    let mut raw = raw;
    let mut pongs = 0;
    let close = loop {
        let frame = raw.next().await.expect("a Close before the end");
        if let Some(close) = frame.close() {
            break close;
        }
        pongs += usize::from(frame.opcode == 0xA);
    };
    assert_eq!(close.0, 1008, "{close:?}");
    assert!(close.1.contains("not reading"), "{close:?}");
    // What the kernel held and the answer bound, far from one per ping.
    assert!((1..150_000 / 8).contains(&pongs), "{pongs} pongs");
    witness.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_never_read_are_held_to_the_answer_bound_then_closed_1008() {
    let server = Server::start(&["--stall-timeout-ms", "2000"]).await;
    let witness = Witness::at(&server.url()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (before, _) = server.memory();

    // 100,000 requests (3.5 MB, 10 MB of answers), then not reading for longer than the stall
    // timeout: the server stops reading once 64 KiB of answers wait unread (TCP then holds the
    // client back), and closes it once the socket has taken nothing for 2 s.
    let (raw, most) = watch_buffered(&server, async {
        let (raw, _) = tokio::time::timeout(
            Duration::from_secs(60),
            flooder(server.addr, Flood::Requests, 100_000, false),
        )
        .await
        .expect("the flood ends")
        .unwrap();
        tokio::time::sleep(Duration::from_secs(4)).await;
        raw
    })
    .await;
    let mut raw = raw;
    let close = close_of(&mut raw).await;
    assert_eq!(close.0, 1008, "{close:?}");
    assert!(close.1.contains("not reading"), "{close:?}");
    // The answer bound (64 KiB) and one batch of answers over it, with room for the witness.
    assert!(most <= 96 * 1024, "{most} bytes buffered");
    assert_grown_within(&server, before, 8 * 1_048_576);
    witness.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_flooders_stay_within_the_total_bound_while_a_witness_misses_nothing() {
    const CAP: u64 = 4 * 1_048_576;
    let server = Server::start(&[
        "--stall-timeout-ms",
        "3000",
        "--max-buffered-bytes",
        &CAP.to_string(),
    ])
    .await;
    let witness = Witness::at(&server.url()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (before, _) = server.memory();

    // Each subscribes to every symbol and floods requests, reading nothing.
    let flooders: Vec<_> = (0..200)
        .map(|_| flooder(server.addr, Flood::Requests, 4_000, true))
        .collect();
    let (ended, most) = watch_buffered(&server, async {
        let mut ended = Vec::new();
        for f in flooders {
            ended.push(
                tokio::time::timeout(Duration::from_secs(60), f)
                    .await
                    .expect("every flood ends")
                    .unwrap(),
            );
        }
        // Reading nothing for longer than the stall timeout (3 s, counted from long before the
        // floods ended), and well inside the 5 s a stalled client is given after that to take
        // what was queued and the Close: on a busy machine the floods end late, and a longer
        // wait here ran past it.
        tokio::time::sleep(Duration::from_millis(3_500)).await;
        ended
    })
    .await;
    assert_grown_within(&server, before, 96 * 1_048_576);
    let closes: Vec<_> = futures_util::future::join_all(
        ended
            .into_iter()
            .map(|(mut raw, _)| async move { close_of(&mut raw).await }),
    )
    .await;
    let policy = closes.iter().filter(|c| c.0 == 1008).count();
    assert_eq!(policy, 200, "{closes:?}");
    // 1.25 times the cap, plus a frame or an answer per connection.
    assert!(most <= CAP * 5 / 4 + 1_048_576, "{most} bytes buffered");
    witness.finish().await;
}
