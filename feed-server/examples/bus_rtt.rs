//! The floor under the cluster's order round trip: a bare NATS request and reply between two
//! async-nats clients in two processes' worth of runtimes (one current-thread runtime each, as
//! the core and an edge run), through a running nats-server, at a steady rate. Compare its
//! median with `tickwire_bus_order_round_trip_seconds` on an edge.
//!
//! `nats-server -p 4222 & target/release/examples/bus_rtt --bus nats://127.0.0.1:4222`
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Parser;
use futures_util::StreamExt;
use hdrhistogram::Histogram;

#[derive(Debug, Parser)]
struct Args {
    #[arg(long)]
    bus: String,
    /// Requests per second.
    #[arg(long, default_value_t = 500)]
    rate: u64,
    #[arg(long, default_value_t = 5)]
    seconds: u64,
}

fn main() {
    let args = Args::parse();
    let bus = args.bus.clone();
    // The answering side on its own thread and runtime, as the core would be.
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let client = async_nats::connect(bus.as_str()).await.unwrap();
            let mut requests = client.subscribe("rtt.echo").await.unwrap();
            client.flush().await.unwrap();
            ready_tx.send(()).unwrap();
            while let Some(m) = requests.next().await {
                if let Some(reply) = m.reply {
                    client.publish(reply, m.payload).await.unwrap();
                }
            }
        });
    });
    ready_rx.recv().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut rtt = Histogram::<u64>::new_with_bounds(1, 10_000_000_000, 3).unwrap();
    runtime.block_on(async {
        let client = async_nats::connect(args.bus.as_str()).await.unwrap();
        let mut tick =
            tokio::time::interval(Duration::from_secs_f64(1.0 / args.rate.max(1) as f64));
        let end = Instant::now() + Duration::from_secs(args.seconds);
        let payload = Bytes::from_static(&[0; 100]);
        while Instant::now() < end {
            tick.tick().await;
            let sent = Instant::now();
            client.request("rtt.echo", payload.clone()).await.unwrap();
            let _ = rtt.record(u64::try_from(sent.elapsed().as_nanos()).unwrap_or(u64::MAX));
        }
    });
    let us = |q: f64| rtt.value_at_quantile(q) as f64 / 1e3;
    println!(
        "bare NATS request/reply, {} at {}/s: p50 {:.0} us, p90 {:.0} us, p99 {:.0} us, max {:.0} us",
        rtt.len(),
        args.rate,
        us(0.5),
        us(0.9),
        us(0.99),
        rtt.max() as f64 / 1e3
    );
}
