//! wss:// end to end: a feed server with a certificate, and the terminal's connection (as
//! `terminal record` and the TUI use it) refusing it until told to trust it with `--ca-cert`,
//! then recording a fast feed through TLS without a gap.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use terminal::record::{RecordArgs, record};
use terminal::tls::TlsArgs;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_server_is_refused_until_its_certificate_is_trusted() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = feed_server::write_test_identity(dir.path()).unwrap();
    let server = feed_server::spawn(feed_server::Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        synth: feed_server::SynthArgs {
            rate: 20_000,
            ..feed_server::SynthArgs::default()
        },
        tls_cert: Some(cert.clone()),
        tls_key: Some(key),
        ..feed_server::Config::default()
    })
    .await
    .unwrap();
    let url = format!("wss://localhost:{}/ws", server.addr.port());
    let args = |out: &str| RecordArgs {
        url: url.clone(),
        symbols: "*".to_owned(),
        duration: Some(Duration::from_secs(1)),
        out: dir.path().join(out),
        encoding: protocol::Encoding::Bin,
        channels: "quotes".parse().unwrap(),
        depth: 10,
        tls: TlsArgs::default(),
    };

    // The system's roots do not know this certificate: the error says so and how to fix it.
    terminal::tls::trust(&TlsArgs::default()).unwrap();
    let refused = record(&args("refused.jsonl"), std::future::pending(), |_| {})
        .await
        .unwrap_err()
        .to_string();
    assert!(refused.contains("not trusted"), "{refused}");
    assert!(refused.contains("--ca-cert"), "{refused}");

    terminal::tls::trust(&TlsArgs {
        ca_cert: Some(cert),
    })
    .unwrap();
    let summary = record(&args("live.jsonl"), std::future::pending(), |_| {})
        .await
        .unwrap();
    // 20,000 events/s for a second, every one through the hub's TLS writes, none missing.
    assert!(summary.events > 10_000, "{summary:?}");
    assert!(summary.gaps.is_empty(), "{summary:?}");
    assert_eq!(summary.resyncs, 0, "{summary:?}");

    // A ws:// URL to the TLS port fails with a hint, not a mystery.
    let plain = format!("ws://localhost:{}/ws", server.addr.port());
    let refused = record(
        &RecordArgs {
            url: plain,
            ..args("plain.jsonl")
        },
        std::future::pending(),
        |_| {},
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(refused.contains("wss://"), "{refused}");
    server.stop().await;
}
