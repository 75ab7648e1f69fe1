//! Encode and decode cost of Tickwire's real messages with both JSON back ends.
//!
//! `cargo bench -p protocol --bench codec`

use std::hint::black_box;
use std::str::FromStr;

use criterion::{Criterion, criterion_group, criterion_main};
use protocol::codec::Backend;
use protocol::{
    ClientMessage, Decimal, Decoder, Order, Quote, ServerMessage, Side, encode_batch,
    encode_client, encode_server,
};

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap_or_default()
}

fn quote(i: u64) -> ServerMessage {
    ServerMessage::Quote(Quote {
        symbol: "AAPL".into(),
        seq: 1_000_000 + i,
        bid: dec("187.25"),
        bid_size: dec("300"),
        ask: dec("187.26"),
        ask_size: dec("1200"),
        ts_ns: 1_732_400_000_123_456_789 + i,
    })
}

fn order() -> ClientMessage {
    ClientMessage::Order(Order {
        id: "c-1".into(),
        symbol: "AAPL".into(),
        side: Side::Buy,
        qty: dec("100"),
        price: Some(dec("187.25")),
        sent_ns: Some(1_732_400_000_000_000_000),
    })
}

fn bench(c: &mut Criterion) {
    let q = quote(0);
    let o = order();
    let quote_text = encode_server(&q);
    let parts: Vec<String> = (0..32).map(|i| encode_server(&quote(i))).collect();
    let batch_text = encode_batch(parts.iter().map(String::as_str));
    let order_text = encode_client(&o);

    let mut g = c.benchmark_group("encode");
    g.bench_function("quote", |b| b.iter(|| encode_server(black_box(&q))));
    g.bench_function("batch32_join", |b| {
        b.iter(|| encode_batch(black_box(&parts).iter().map(String::as_str)));
    });
    g.bench_function("order", |b| b.iter(|| encode_client(black_box(&o))));
    g.finish();

    for (name, backend) in [
        ("serde_json", Backend::Serde),
        ("simd_json", Backend::Simd),
        ("auto", Backend::Auto),
    ] {
        let mut g = c.benchmark_group(format!("decode/{name}"));
        let mut d = Decoder::with_backend(backend);
        let mut out = Vec::with_capacity(32);
        g.bench_function("quote", |b| {
            b.iter(|| {
                out.clear();
                d.server_frame(black_box(quote_text.as_bytes()), &mut out)
                    .ok();
            });
        });
        g.bench_function("batch32", |b| {
            b.iter(|| {
                out.clear();
                d.server_frame(black_box(batch_text.as_bytes()), &mut out)
                    .ok();
            });
        });
        g.bench_function("order", |b| {
            b.iter(|| d.client(black_box(order_text.as_bytes())).ok());
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
