//! What an event costs on the bus as its fixed binary body, beside the protocol's JSON and binary
//! messages: bytes, and nanoseconds to encode and to read back (median of 15 rounds of 200,000).
//!
//! `cargo run --release -p feed-server --features testing --example bus_bodies`
#![allow(clippy::unwrap_used)]

use std::hint::black_box;
use std::time::Instant;

use feed_server::bus_bodies::{decode, encode, ids, sample_quote};
use protocol::{Decoder, binary, encode_server};

const N: u64 = 200_000;
const ROUNDS: usize = 15;

/// The median over rounds of the time per operation, in ns.
fn median_ns(mut round: impl FnMut() -> f64) -> f64 {
    let mut times: Vec<f64> = (0..ROUNDS).map(|_| round()).collect();
    times.sort_by(f64::total_cmp);
    times[ROUNDS / 2]
}

fn per_op(start: Instant) -> f64 {
    start.elapsed().as_nanos() as f64 / N as f64
}

fn main() {
    let ids = ids();
    let (event, message) = sample_quote(41);
    let mut body = Vec::new();
    encode(&event, &mut body);
    let json = encode_server(&message);
    let mut bin = Vec::new();
    binary::encode_server(&message, &ids, &mut bin).unwrap();

    let bus_encode = median_ns(|| {
        let start = Instant::now();
        let mut out = Vec::with_capacity(64);
        for seq in 0..N {
            out.clear();
            let mut e = event;
            e.seq = seq;
            encode(black_box(&e), &mut out);
            black_box(&out);
        }
        per_op(start)
    });
    let bus_decode = median_ns(|| {
        let start = Instant::now();
        for _ in 0..N {
            black_box(decode(black_box(&body)));
        }
        per_op(start)
    });
    let json_encode = median_ns(|| {
        let start = Instant::now();
        for _ in 0..N {
            black_box(encode_server(black_box(&message)));
        }
        per_op(start)
    });
    let mut decoder = Decoder::new();
    let json_decode = median_ns(|| {
        let start = Instant::now();
        for _ in 0..N {
            black_box(decoder.server(black_box(json.as_bytes())).unwrap());
        }
        per_op(start)
    });
    let bin_encode = median_ns(|| {
        let start = Instant::now();
        let mut out = Vec::with_capacity(64);
        for _ in 0..N {
            out.clear();
            binary::encode_server(black_box(&message), &ids, &mut out).unwrap();
            black_box(&out);
        }
        per_op(start)
    });
    println!("an AAPL quote, {N} per round, median of {ROUNDS} rounds:");
    println!(
        "  bus body          {:>4} bytes, encode {bus_encode:>6.1} ns, read {bus_decode:>6.1} ns",
        body.len()
    );
    println!(
        "  protocol JSON     {:>4} bytes, encode {json_encode:>6.1} ns, read {json_decode:>6.1} ns",
        json.len()
    );
    println!(
        "  protocol binary   {:>4} bytes, encode {bin_encode:>6.1} ns",
        bin.len()
    );
}
