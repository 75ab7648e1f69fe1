//! What a book checksum costs: over decimals (what the server and the clients compute for every
//! book message) and over wire text, at the full ten levels a side.
//!
//! `cargo bench -p protocol --bench checksum`

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use protocol::Decimal;
use protocol::checksum::{checksum, checksum_text};

fn ladder(from: i64, step: i64) -> Vec<(Decimal, Decimal)> {
    (0..10)
        .map(|i| {
            let price = Decimal::new(18_725 + from + step * i, 2);
            let size = Decimal::from(100 * (i + 3));
            (price, size)
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let asks = ladder(1, 1);
    let bids = ladder(0, -1);
    c.bench_function("checksum/decimals 10x10", |b| {
        b.iter(|| {
            black_box(checksum(
                black_box(&asks).iter().map(|(p, s)| (p, s)),
                black_box(&bids).iter().map(|(p, s)| (p, s)),
            ))
        });
    });
    let text = |side: &[(Decimal, Decimal)]| -> Vec<(String, String)> {
        side.iter()
            .map(|(p, s)| (p.to_string(), s.to_string()))
            .collect()
    };
    let (asks, bids) = (text(&asks), text(&bids));
    c.bench_function("checksum/text 10x10", |b| {
        b.iter(|| {
            black_box(checksum_text(
                black_box(&asks)
                    .iter()
                    .map(|(p, s)| (p.as_str(), s.as_str())),
                black_box(&bids)
                    .iter()
                    .map(|(p, s)| (p.as_str(), s.as_str())),
            ))
        });
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
