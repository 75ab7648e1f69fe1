//! A stand-in Binance on loopback playing a real capture at its own pace, for measuring what an
//! ingest adds to latency (README, "Live markets"):
//!
//! ```text
//! cargo run --release -p feed-server --example stand_in_venue -- \
//!     ../shared/realdata/exchanges/binance/spot_btcusdt_2024-08-08_hftbacktest 9500 9501
//! feed-server --ingest binance:BTCUSDT --ingest-url binance=ws://127.0.0.1:9500 \
//!     --ingest-rest-url binance=http://127.0.0.1:9501
//! ```
//!
//! It serves `/api/v3/exchangeInfo`, `/api/v3/ticker/24hr` and the capture's own depth snapshot,
//! and plays the capture's messages (38 s of BTCUSDT depth, bookTicker and trades) to the first
//! connection, spaced as they were received; then it stays connected, silent.

#![allow(clippy::unwrap_used)]

#[path = "../tests/support/venue.rs"]
mod venue;

use std::io::{BufRead, BufReader};
use std::time::Duration;

use venue::{Answer, Script, Step, Venue};

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, dir, ws_port, rest_port] = args.as_slice() else {
        eprintln!("usage: stand_in_venue CAPTURE_DIR WS_PORT REST_PORT");
        std::process::exit(2);
    };
    let dir = std::path::Path::new(dir);
    let raw = flate2::read::GzDecoder::new(
        std::fs::File::open(dir.join("raw_window.hftbacktest.txt.gz")).unwrap(),
    );
    let mut steps = Vec::new();
    let mut snapshot = String::new();
    let mut last_ns: Option<u64> = None;
    for line in BufReader::new(raw).lines() {
        let line = line.unwrap();
        let (ns, json) = line.split_once(' ').unwrap();
        if !json.starts_with("{\"stream\"") {
            json.clone_into(&mut snapshot);
            continue;
        }
        let ns: u64 = ns.parse().unwrap();
        if let Some(last) = last_ns {
            steps.push(Step::Wait(Duration::from_nanos(ns.saturating_sub(last))));
        }
        last_ns = Some(ns);
        steps.push(Step::Send(json.to_owned()));
    }
    let fixed = |body: &str| {
        vec![Answer {
            body: body.to_owned(),
            delay: Duration::ZERO,
        }]
    };
    let script = Script {
        sessions: vec![steps],
        rest: vec![
            (
                "/api/v3/exchangeInfo".to_owned(),
                fixed(
                    r#"{"symbols":[{"symbol":"BTCUSDT","status":"TRADING","filters":[{"filterType":"PRICE_FILTER","tickSize":"0.01000000"},{"filterType":"LOT_SIZE","stepSize":"0.00001000"}]}]}"#,
                ),
            ),
            (
                "/api/v3/ticker/24hr".to_owned(),
                fixed(r#"[{"symbol":"BTCUSDT","openPrice":"61000.00000000"}]"#),
            ),
            ("/api/v3/depth".to_owned(), fixed(&snapshot)),
        ],
    };
    let venue = Venue::start_on(
        script,
        format!("127.0.0.1:{ws_port}").parse().unwrap(),
        format!("127.0.0.1:{rest_port}").parse().unwrap(),
    )
    .await;
    println!(
        "stand-in Binance: ws://{} and http://{}",
        venue.ws, venue.rest
    );
    let _ = tokio::signal::ctrl_c().await;
}
