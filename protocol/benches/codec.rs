//! Encode and decode cost of Tickwire's real messages with both JSON back ends and the binary
//! codec (`tickwire.v1.bin`), on the same messages.
//!
//! `cargo bench -p protocol --bench codec`

use std::hint::black_box;
use std::str::FromStr;

use criterion::{Criterion, criterion_group, criterion_main};
use protocol::binary::{self, ServerDecoder, SymbolIds};
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
        exch_ts_ns: None,
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

    // The binary codec on the same messages; ids as a hello listing AAPL would give.
    let symbols = vec![protocol::Symbol::from("AAPL")];
    let ids = SymbolIds::new(&symbols);
    let mut quote_bin = Vec::new();
    binary::encode_server(&q, &ids, &mut quote_bin).ok();
    let mut batch_bin = Vec::new();
    for i in 0..32 {
        binary::encode_server(&quote(i), &ids, &mut batch_bin).ok();
    }
    let order_bin = binary::encode_client(&o, &ids).unwrap_or_default();
    let mut g = c.benchmark_group("encode/bin");
    let mut buf = Vec::with_capacity(64);
    g.bench_function("quote", |b| {
        b.iter(|| {
            buf.clear();
            binary::encode_server(black_box(&q), &ids, &mut buf).ok();
        });
    });
    g.finish();
    let mut g = c.benchmark_group("decode/bin");
    let mut d = ServerDecoder::new();
    d.frame(
        &{
            let mut hello = Vec::new();
            binary::encode_server(
                &ServerMessage::Hello(protocol::Hello {
                    protocol: protocol::SUBPROTOCOL_BIN.into(),
                    server: protocol::ServerInfo {
                        name: "n".into(),
                        version: "v".into(),
                    },
                    symbols: symbols.clone(),
                    heartbeat_ms: 1,
                    ts_ns: 1,
                    source: None,
                    auth_required: false,
                    epoch: None,
                }),
                &ids,
                &mut hello,
            )
            .ok();
            hello
        },
        &mut Vec::new(),
    )
    .ok();
    let mut out = Vec::with_capacity(32);
    g.bench_function("quote", |b| {
        b.iter(|| {
            out.clear();
            d.frame(black_box(&quote_bin), &mut out).ok();
        });
    });
    g.bench_function("batch32", |b| {
        b.iter(|| {
            out.clear();
            d.frame(black_box(&batch_bin), &mut out).ok();
        });
    });
    g.bench_function("order", |b| {
        b.iter(|| binary::decode_client(black_box(&order_bin), &symbols).ok());
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
