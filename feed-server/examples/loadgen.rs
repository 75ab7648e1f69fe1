//! Load client for the feed server: N WebSocket clients subscribed to every symbol, counting
//! deliveries and `seq` gaps and recording tick latency (receive time minus `ts_ns`).
//!
//! ```sh
//! taskset -c 0 target/release/feed-server --listen 127.0.0.1:9100 --rate 20000 &
//! taskset -c 1 target/release/examples/loadgen --url ws://127.0.0.1:9100/ws --clients 100 \
//!     --seconds 10 --server-pid $!
//! ```
//!
//! It scans frames for `symbol`, `seq` and `ts_ns` instead of decoding them fully, so that the load
//! client is not the bottleneck; everything else it ignores. CPU figures come from /proc.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use clap::Parser;
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use tokio_tungstenite::tungstenite::Message;

#[derive(Debug, Parser)]
struct Args {
    #[arg(long, default_value = "ws://127.0.0.1:9001/ws")]
    url: String,
    #[arg(long, default_value_t = 100)]
    clients: usize,
    /// Measured seconds (after a 1 s warm-up).
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// The server's pid, to report its CPU use over the measured window.
    #[arg(long)]
    server_pid: Option<u32>,
}

#[derive(Debug, Default)]
struct Tally {
    deliveries: u64,
    gaps: u64,
    frames: u64,
    latency: Option<Histogram<u64>>,
}

fn cpu_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

fn field<'a>(text: &'a str, key: &str) -> Option<(&'a str, &'a str)> {
    let at = text.find(key)? + key.len();
    let rest = &text[at..];
    let end = rest.find([',', '}', '"']).unwrap_or(rest.len());
    Some((&rest[..end], &rest[end..]))
}

async fn client(url: String, measure_from: Instant, until: Instant) -> Tally {
    let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .unwrap();
    ws.send(Message::text(r#"{"type":"subscribe","symbols":["*"]}"#))
        .await
        .unwrap();
    let mut tally = Tally {
        latency: Some(Histogram::new_with_bounds(1, 60_000_000_000, 3).unwrap()),
        ..Tally::default()
    };
    let mut last: HashMap<String, u64> = HashMap::new();
    while let Ok(Some(Ok(message))) = tokio::time::timeout_at(until.into(), ws.next()).await {
        let Message::Text(text) = message else {
            continue;
        };
        let now = protocol::now_ns();
        let measuring = Instant::now() >= measure_from;
        tally.frames += u64::from(measuring);
        let mut rest = text.as_str();
        while let Some((symbol, after)) = field(rest, "\"symbol\":\"") {
            let Some((seq, after)) = field(after, "\"seq\":") else {
                break;
            };
            let Some((ts, after)) = field(after, "\"ts_ns\":") else {
                break;
            };
            rest = after;
            let (Ok(seq), Ok(ts)) = (seq.parse::<u64>(), ts.parse::<u64>()) else {
                continue;
            };
            let previous = last.insert(symbol.to_owned(), seq);
            if measuring {
                tally.deliveries += 1;
                if previous.is_some_and(|p| seq > p + 1) {
                    tally.gaps += 1;
                }
                if let Some(h) = tally.latency.as_mut() {
                    h.saturating_record(now.saturating_sub(ts).max(1));
                }
            }
        }
    }
    let _ = ws.close(None).await;
    tally
}

fn main() {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let start = Instant::now();
        let measure_from = start + Duration::from_secs(1);
        let until = measure_from + Duration::from_secs(args.seconds);
        let tasks: Vec<_> = (0..args.clients).map(|_| tokio::spawn(client(args.url.clone(), measure_from, until))).collect();
        tokio::time::sleep_until(measure_from.into()).await;
        let me = std::process::id().to_string();
        let server = args.server_pid.map(|p| p.to_string());
        let (c0, s0) = (cpu_ticks(&me), server.as_deref().and_then(cpu_ticks));
        let mut total = Tally { latency: Some(Histogram::new_with_bounds(1, 60_000_000_000, 3).unwrap()), ..Tally::default() };
        for t in tasks {
            let t = t.await.unwrap();
            total.deliveries += t.deliveries;
            total.gaps += t.gaps;
            total.frames += t.frames;
            if let (Some(h), Some(l)) = (total.latency.as_mut(), t.latency.as_ref()) {
                h.add(l).unwrap();
            }
        }
        let (c1, s1) = (cpu_ticks(&me), server.as_deref().and_then(cpu_ticks));
        let secs = args.seconds as f64;
        let hz = 100.0;
        let per_s = total.deliveries as f64 / secs;
        println!("clients {}  window {secs} s", args.clients);
        println!("deliveries {}  ({per_s:.0}/s)  frames {} ({:.0}/s)  gaps {}", total.deliveries, total.frames, total.frames as f64 / secs, total.gaps);
        if let Some(h) = &total.latency {
            let us = |q: f64| h.value_at_quantile(q) as f64 / 1000.0;
            println!(
                "tick latency us: p50 {:.0}  p90 {:.0}  p99 {:.0}  p99.9 {:.0}  p99.99 {:.0}  max {:.0}",
                us(0.5), us(0.9), us(0.99), us(0.999), us(0.9999), h.max() as f64 / 1000.0
            );
        }
        if let (Some(a), Some(b)) = (c0, c1) {
            println!("client cpu {:.2} cores", (b - a) as f64 / hz / secs);
        }
        if let (Some(a), Some(b)) = (s0, s1) {
            let cores = (b - a) as f64 / hz / secs;
            println!("server cpu {cores:.3} cores  = {:.2} us per delivery", cores * 1e6 / per_s.max(1.0));
        }
    });
}
