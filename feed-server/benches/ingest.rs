//! What normalizing a venue's messages costs on one core: each venue's adapter fed a real
//! capture from `../shared/realdata/exchanges/` start to end (its books kept exactly, level
//! events and quotes made for the server), as messages per second and ns per message.
//!
//! The `parse` group reads the same messages with serde_json (what the adapters use, borrowing
//! from the message's text) and with simd-json (which needs its own mutable copy of each
//! message: a WebSocket message arrives shared and immutable), each into `IgnoredAny` (the
//! JSON tokenizing alone) and each into its own document tree (`Value`, `BorrowedValue`).
//!
//! `cargo bench -p feed-server --bench ingest`

#![allow(clippy::unwrap_used)]

#[path = "../tests/support/realdata.rs"]
mod realdata;

#[path = "../tests/support/captures.rs"]
#[allow(dead_code)]
mod captures;

use std::hint::black_box;
use std::io::{BufRead, BufReader};
use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use feed_server::ingest::adapter::{Adapter, Fetch, Out};
use feed_server::ingest::binance::Binance;
use feed_server::ingest::coinbase::Coinbase;
use feed_server::ingest::kraken_feed::Kraken;
use feed_server::ingest::{Grid, Meta};

fn sample(relative: &str) -> Option<PathBuf> {
    realdata::sample(&format!("exchanges/{relative}"))
}

fn meta(index: usize, symbol: &str, tick: &str, lot: &str) -> Meta {
    Meta {
        index,
        venue_symbol: symbol.to_owned(),
        grid: Grid {
            tick: tick.parse().unwrap(),
            lot: lot.parse().unwrap(),
        },
        opening: (1, 2, 100),
    }
}

fn run(adapter: &mut dyn Adapter, messages: &[String], out: &mut Out) {
    for message in messages {
        let _ = adapter.on_text(black_box(message), 0, out);
        black_box(&out.events);
        out.clear();
    }
}

fn binance(c: &mut Criterion) {
    let Some(dir) = sample("binance/spot_btcusdt_2024-08-08_hftbacktest") else {
        return;
    };
    let raw = flate2::read::GzDecoder::new(
        std::fs::File::open(dir.join("raw_window.hftbacktest.txt.gz")).unwrap(),
    );
    let lines: Vec<String> = BufReader::new(raw)
        .lines()
        .map(|l| l.unwrap().split_once(' ').unwrap().1.to_owned())
        .collect();
    let at = lines
        .iter()
        .position(|l| !l.starts_with("{\"stream\""))
        .unwrap();
    let snapshot = lines[at].clone().into_bytes();
    let (before, after) = (lines[..at].to_vec(), lines[at + 1..].to_vec());
    let mut group = c.benchmark_group("ingest");
    group.throughput(Throughput::Elements((before.len() + after.len()) as u64));
    group.bench_function("binance/spot BTCUSDT depth+bookTicker+trade", |b| {
        b.iter(|| {
            let mut adapter = Binance::new(
                "ws://v",
                "http://v",
                vec![meta(0, "BTCUSDT", "0.01", "0.00000001")],
                50,
            );
            let mut out = Out::default();
            adapter.on_connected(&mut out);
            out.clear();
            run(&mut adapter, &before, &mut out);
            let fetch = Fetch {
                symbol: 0,
                url: String::new(),
            };
            adapter.on_fetched(&fetch, Ok(snapshot.clone()), &mut out);
            out.clear();
            run(&mut adapter, &after, &mut out);
        });
    });
    group.finish();
}

fn kraken(c: &mut Criterion) {
    let Some(path) = sample("kraken/v1_2021-04-17_cryptofeed/book.jsonl") else {
        return;
    };
    let text = std::fs::read_to_string(path).unwrap();
    let messages: Vec<String> = text
        .lines()
        .filter_map(captures::KrakenV1::parse)
        .filter(|m| m.pair == "XMR/USD")
        .map(|m| m.v2("XMR/USD"))
        .collect();
    let mut group = c.benchmark_group("ingest");
    group.throughput(Throughput::Elements(messages.len() as u64));
    group.bench_function("kraken/v2 book XMR/USD with checksums", |b| {
        b.iter(|| {
            // The capture is Kraken's depth-1000 book; the server keeps the top 50.
            let mut adapter = Kraken::new(
                "ws://v",
                vec![meta(0, "XMR/USD", "0.00000001", "0.00000001")],
                50,
            )
            .with_venue_depth(1_000);
            let mut out = Out::default();
            adapter.on_connected(&mut out);
            out.clear();
            run(&mut adapter, &messages, &mut out);
        });
    });
    group.finish();
}

fn coinbase(c: &mut Criterion) {
    let Some(dir) = sample("coinbase/exchange_2021-04-17_cryptofeed") else {
        return;
    };
    let messages: Vec<String> = ["level2.jsonl", "matches.jsonl"]
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(dir.join(f))
                .unwrap()
                .lines()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect();
    let mut products: Vec<String> = Vec::new();
    for m in &messages {
        let v: serde_json::Value = serde_json::from_str(m).unwrap();
        if let Some(p) = v["product_id"].as_str()
            && !products.iter().any(|q| q == p)
        {
            products.push(p.to_owned());
        }
    }
    let metas: Vec<Meta> = products
        .iter()
        .enumerate()
        .map(|(i, p)| meta(i, p, "0.0000001", "0.00000001"))
        .collect();
    let mut group = c.benchmark_group("ingest");
    group.throughput(Throughput::Elements(messages.len() as u64));
    group.bench_function("coinbase/level2+matches 10 products", |b| {
        b.iter(|| {
            let mut adapter = Coinbase::new("ws://v", metas.clone(), 50);
            let mut out = Out::default();
            adapter.on_connected(&mut out);
            out.clear();
            run(&mut adapter, &messages, &mut out);
        });
    });
    group.finish();
}

/// Every venue's captured messages, for the parse comparison.
fn all_messages() -> Vec<(&'static str, Vec<String>)> {
    let mut out = Vec::new();
    if let Some(dir) = sample("binance/spot_btcusdt_2024-08-08_hftbacktest") {
        let raw = flate2::read::GzDecoder::new(
            std::fs::File::open(dir.join("raw_window.hftbacktest.txt.gz")).unwrap(),
        );
        let lines = BufReader::new(raw)
            .lines()
            .map(|l| l.unwrap().split_once(' ').unwrap().1.to_owned())
            .filter(|l| l.starts_with("{\"stream\""))
            .collect();
        out.push(("binance", lines));
    }
    if let Some(path) = sample("kraken/v1_2021-04-17_cryptofeed/book.jsonl") {
        let text = std::fs::read_to_string(path).unwrap();
        let lines = text
            .lines()
            .filter_map(captures::KrakenV1::parse)
            .map(|m| m.v2(&m.pair))
            .collect();
        out.push(("kraken", lines));
    }
    if let Some(dir) = sample("coinbase/exchange_2021-04-17_cryptofeed") {
        let lines = std::fs::read_to_string(dir.join("level2.jsonl"))
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect();
        out.push(("coinbase", lines));
    }
    out
}

fn parse(c: &mut Criterion) {
    use serde::de::IgnoredAny;
    let mut group = c.benchmark_group("parse");
    for (venue, messages) in all_messages() {
        let bytes: u64 = messages.iter().map(|m| m.len() as u64).sum();
        group.throughput(Throughput::Bytes(bytes));
        group.bench_function(format!("{venue}/serde_json"), |b| {
            b.iter(|| {
                for m in &messages {
                    let v: IgnoredAny = serde_json::from_str(black_box(m)).unwrap();
                    black_box(v);
                }
            });
        });
        let mut buffer = Vec::new();
        group.bench_function(format!("{venue}/simd-json"), |b| {
            b.iter(|| {
                for m in &messages {
                    buffer.clear();
                    buffer.extend_from_slice(black_box(m).as_bytes());
                    let v: IgnoredAny = simd_json::serde::from_slice(&mut buffer).unwrap();
                    black_box(v);
                }
            });
        });
        group.bench_function(format!("{venue}/serde_json Value"), |b| {
            b.iter(|| {
                for m in &messages {
                    let v: serde_json::Value = serde_json::from_str(black_box(m)).unwrap();
                    black_box(v);
                }
            });
        });
        group.bench_function(format!("{venue}/simd-json BorrowedValue"), |b| {
            b.iter(|| {
                for m in &messages {
                    buffer.clear();
                    buffer.extend_from_slice(black_box(m).as_bytes());
                    let v = simd_json::to_borrowed_value(&mut buffer).unwrap();
                    black_box(v);
                }
            });
        });
    }
    group.finish();
}

criterion_group!(benches, binance, kraken, coinbase, parse);
criterion_main!(benches);
