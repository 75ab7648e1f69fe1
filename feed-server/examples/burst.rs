//! A reconnect storm against a running feed server: N clients connect at once the lean way
//! (connect, send the upgrade request, read later) and each waits for its `hello`. Reports how
//! long until the last `hello`, the spread of the times, and refusals (`503`) and failures.
//!
//! The server runs in its own process (the clients alone use N file descriptors):
//!
//! `target/release/feed-server --listen 127.0.0.1:9001 --max-connections 10100 &`
//! `target/release/examples/burst --addr 127.0.0.1:9001 --clients 10000`
//!
//! `scripts/bench-reference.sh burst` runs both.
#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use clap::Parser;
use hdrhistogram::Histogram;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[derive(Debug, Parser)]
struct Args {
    /// The feed server's address.
    #[arg(long)]
    addr: SocketAddr,
    #[arg(long, default_value_t = 10_000)]
    clients: usize,
    /// How long a client waits for its `hello` before it counts as failed.
    #[arg(long, default_value_t = 30)]
    timeout_s: u64,
}

/// How one client's connect went.
enum Outcome {
    Hello(Duration),
    Refused,
    Failed(String),
}

const REQUEST: &[u8] = b"GET /ws HTTP/1.1\r\nHost: burst\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";

/// Connects, sends the upgrade request and reads until the 101 and the `hello` frame; then
/// keeps the socket open (in `hold`) so that every client is connected at the end.
async fn client(addr: SocketAddr, started: Instant) -> (Outcome, Option<TcpStream>) {
    let mut tcp = match TcpStream::connect(addr).await {
        Ok(tcp) => tcp,
        Err(e) => return (Outcome::Failed(format!("connect: {e}")), None),
    };
    if let Err(e) = tcp.write_all(REQUEST).await {
        return (Outcome::Failed(format!("write: {e}")), None);
    }
    let mut seen = Vec::with_capacity(2048);
    let mut buf = [0u8; 4096];
    loop {
        let n = match tcp.read(&mut buf).await {
            Ok(0) => {
                let head = String::from_utf8_lossy(&seen[..seen.len().min(40)]).into_owned();
                return (Outcome::Failed(format!("closed after {head:?}")), None);
            }
            Ok(n) => n,
            Err(e) => return (Outcome::Failed(format!("read: {e}")), None),
        };
        seen.extend_from_slice(&buf[..n]);
        if seen.starts_with(b"HTTP/1.1 503") {
            return (Outcome::Refused, None);
        }
        let head_end = seen.windows(4).position(|w| w == b"\r\n\r\n");
        if let Some(end) = head_end
            && seen.starts_with(b"HTTP/1.1 101")
            && seen[end..].windows(7).any(|w| w == b"\"hello\"")
        {
            return (Outcome::Hello(started.elapsed()), Some(tcp));
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args = Args::parse();
    let started = Instant::now();
    let limit = Duration::from_secs(args.timeout_s);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..args.clients {
        let addr = args.addr;
        tasks.spawn(async move {
            tokio::time::timeout(limit, client(addr, started))
                .await
                .unwrap_or((Outcome::Failed("no hello in time".into()), None))
        });
    }
    let mut times = Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).unwrap();
    let (mut refused, mut failed) = (0usize, Vec::new());
    let mut open = Vec::with_capacity(args.clients);
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok((Outcome::Hello(at), tcp)) => {
                times.saturating_record(u64::try_from(at.as_micros()).unwrap_or(u64::MAX));
                open.extend(tcp);
            }
            Ok((Outcome::Refused, _)) => refused += 1,
            Ok((Outcome::Failed(why), _)) => failed.push(why),
            Err(e) => failed.push(format!("task: {e}")),
        }
    }
    let ms = |us: u64| us as f64 / 1000.0;
    println!("clients            {}", args.clients);
    println!("hello              {}", times.len());
    println!("refused (503)      {refused}");
    println!("failed             {}", failed.len());
    for why in failed.iter().take(5) {
        println!("  {why}");
    }
    if !times.is_empty() {
        println!(
            "time to hello      p50 {:.1} ms, p99 {:.1} ms, last {:.1} ms",
            ms(times.value_at_quantile(0.5)),
            ms(times.value_at_quantile(0.99)),
            ms(times.max()),
        );
    }
    drop(open);
}
