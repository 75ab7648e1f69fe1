//! A reconnect storm: thousands of clients connecting at once (what follows a server restart or
//! a network blip) all get in, without a 503, while the handshake slots bound what idle sockets
//! can hold.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::{Duration, Instant};

use support::{config, start};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Clients in the burst: a test's share of the 10,000 the storm benchmark
/// (`examples/burst.rs`) connects.
const BURST: usize = 2_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_connects_all_get_hello_without_a_503() {
    let server = start(feed_server::Config {
        max_handshakes: 64,
        ..config()
    })
    .await;
    let request = support::raw::upgrade_request("/ws");
    let started = Instant::now();
    // The lean way: connect and send the upgrade request, all at once; read later.
    let mut connecting = tokio::task::JoinSet::new();
    for _ in 0..BURST {
        let (addr, request) = (server.addr, request.clone());
        connecting.spawn(async move {
            let mut tcp = TcpStream::connect(addr).await.unwrap();
            tcp.write_all(request.as_bytes()).await.unwrap();
            tcp
        });
    }
    let mut sockets = Vec::with_capacity(BURST);
    while let Some(tcp) = connecting.join_next().await {
        sockets.push(tcp.unwrap());
    }
    // Every socket gets its 101 and then its hello.
    let mut reading = tokio::task::JoinSet::new();
    for mut tcp in sockets {
        reading.spawn(async move {
            let mut seen = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                let n = tcp.read(&mut buf).await.unwrap();
                assert!(n > 0, "closed: {}", String::from_utf8_lossy(&seen));
                seen.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&seen);
                assert!(!text.starts_with("HTTP/1.1 503"), "refused: {text}");
                if text.starts_with("HTTP/1.1 101") && text.contains("\"hello\"") {
                    return (Instant::now(), tcp);
                }
            }
        });
    }
    let mut last = started;
    let mut open = Vec::new();
    while let Some(done) = tokio::time::timeout(Duration::from_secs(10), reading.join_next())
        .await
        .unwrap()
    {
        let (at, tcp) = done.unwrap();
        last = last.max(at);
        open.push(tcp);
    }
    assert_eq!(open.len(), BURST);
    assert!(
        last.duration_since(started) < Duration::from_secs(5),
        "the last hello came after {:?}",
        last.duration_since(started)
    );
    drop(open);
    server.stop().await;
}
