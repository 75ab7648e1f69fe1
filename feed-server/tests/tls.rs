//! The feed over TLS, where the hub encrypts each client's frames in its outbox: a fast client
//! misses nothing at 50,000 events/s, a slow one is conflated and caught up, one that stops
//! reading is closed with 1008, and a plain client on the TLS port is refused.
#![allow(clippy::unwrap_used)]

mod support;

use std::sync::Arc;
use std::time::Duration;

use protocol::{ClientMessage, ServerMessage, Subscribe};
use support::{Client, End, Seqs, WAIT, config, start};
use tokio::net::TcpSocket;
use tokio_tungstenite::Connector;

/// Connects over TLS, trusting `cert`, with a socket receive buffer of `recv_buffer` bytes.
async fn tls_client(
    server: &feed_server::ServerHandle,
    cert: &std::path::Path,
    recv_buffer: Option<u32>,
) -> Client {
    let mut roots = rustls::RootCertStore::empty();
    for c in feed_server::tls::load_certs(cert).unwrap() {
        roots.add(c).unwrap();
    }
    let tls = rustls::ClientConfig::builder_with_provider(feed_server::tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let socket = TcpSocket::new_v4().unwrap();
    if let Some(size) = recv_buffer {
        socket.set_recv_buffer_size(size).unwrap();
    }
    let tcp = socket.connect(server.addr).await.unwrap();
    let url = format!("wss://localhost:{}/ws", server.addr.port());
    let (ws, _) = tokio::time::timeout(
        WAIT,
        tokio_tungstenite::client_async_tls_with_config(
            url,
            tcp,
            None,
            Some(Connector::Rustls(Arc::new(tls))),
        ),
    )
    .await
    .unwrap()
    .unwrap();
    Client::from_ws(ws)
}

fn all() -> ClientMessage {
    ClientMessage::Subscribe(Subscribe {
        symbols: vec!["*".into()],
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_a_fast_client_misses_nothing_and_a_slow_one_is_conflated_then_closed() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = feed_server::tls::write_test_identity(dir.path()).unwrap();
    let server = start(feed_server::Config {
        rate: 50_000,
        queue_frames: 256,
        batch_us: Some(1_000),
        stall_timeout_ms: 2_000,
        tls_cert: Some(cert.clone()),
        tls_key: Some(key),
        ..config()
    })
    .await;

    let mut fast = tls_client(&server, &cert, None).await;
    fast.send(&all()).await;
    let fast = tokio::spawn(async move {
        let mut seqs = Seqs::default();
        let mut events = 0u64;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(6);
        while tokio::time::Instant::now() < deadline {
            let m = fast.next().await;
            if let Some(skipped) = seqs.observe(&m) {
                assert_eq!(skipped, 0, "the fast TLS client missed events before {m:?}");
                events += 1;
            }
        }
        events
    });

    let mut slow = tls_client(&server, &cert, Some(4_096)).await;
    slow.send(&all()).await;
    let mut seen = Vec::new();
    let phase = |ms| tokio::time::Instant::now() + Duration::from_millis(ms);
    let until = phase(100);
    while tokio::time::Instant::now() < until {
        seen.push(slow.next().await);
    }
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let until = phase(1_500);
    while tokio::time::Instant::now() < until {
        seen.push(slow.next().await);
    }
    let mut seqs = Seqs::default();
    let jumps = seen
        .iter()
        .filter(|m| seqs.observe(m).is_some_and(|skipped| skipped > 0))
        .count();
    assert!(jumps > 0, "falling behind must show as seq jumps");
    assert!(
        seen.iter()
            .skip(20)
            .any(|m| matches!(m, ServerMessage::Snapshot(_))),
        "catching up comes with fresh snapshots"
    );
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    let (end, _) = slow.drain().await;
    assert!(
        matches!(&end, End::Closed(1008, reason) if reason.contains("not reading")),
        "{end:?}"
    );

    let events = fast.await.unwrap();
    assert!(
        events > 50_000,
        "the fast TLS client got only {events} events in 6 s"
    );

    // A plain WebSocket client on the TLS port gets no WebSocket.
    let plain = tokio_tungstenite::connect_async(server.url()).await;
    assert!(plain.is_err(), "a plain client was served on the TLS port");
    server.stop().await;
}

#[tokio::test]
async fn the_binary_names_its_self_signed_certificate_and_serves_wss_with_it() {
    use tokio::io::AsyncBufReadExt;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_feed-server"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--tls-self-signed",
            "--rate",
            "100",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let line = tokio::time::timeout(WAIT, lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    // `listening on URL (self-signed certificate: FILE; ...)`: the URL is the third word.
    let url = line.split(' ').nth(2).unwrap().to_owned();
    assert!(url.starts_with("wss://127.0.0.1:"), "{line}");
    let cert = line
        .split_once("self-signed certificate: ")
        .and_then(|(_, rest)| rest.split_once(';'))
        .map(|(file, _)| std::path::PathBuf::from(file))
        .unwrap();
    let addr: std::net::SocketAddr = url
        .trim_start_matches("wss://")
        .trim_end_matches("/ws")
        .parse()
        .unwrap();
    // The certificate is good for 127.0.0.1 as well as localhost.
    let mut roots = rustls::RootCertStore::empty();
    for c in feed_server::tls::load_certs(&cert).unwrap() {
        roots.add(c).unwrap();
    }
    let tls = rustls::ClientConfig::builder_with_provider(feed_server::tls::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (ws, _) = tokio_tungstenite::client_async_tls_with_config(
        url.as_str(),
        tcp,
        None,
        Some(Connector::Rustls(Arc::new(tls))),
    )
    .await
    .unwrap();
    let mut client = Client::from_ws(ws);
    assert!(matches!(client.next().await, ServerMessage::Hello(_)));
    child.kill().await.unwrap();
    let _ = std::fs::remove_file(cert);
}
