//! The feed over TLS, where the hub encrypts each client's frames in its outbox: a fast client
//! misses nothing at 50,000 events/s, a slow one is conflated and caught up, one that stops
//! reading is closed with 1008, and a plain client on the TLS port is refused.
#![allow(clippy::unwrap_used)]

mod support;

use std::net::SocketAddr;
use std::sync::Arc;

use protocol::ServerMessage;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use support::{Client, WAIT, start};
use tokio::net::TcpSocket;
use tokio_tungstenite::Connector;

/// A connector that trusts `cert` alone.
fn trusting(cert: &std::path::Path) -> Connector {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_file_iter(cert).unwrap() {
        roots.add(c.unwrap()).unwrap();
    }
    let ring = Arc::new(rustls::crypto::ring::default_provider());
    let tls = rustls::ClientConfig::builder_with_provider(ring)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Connector::Rustls(Arc::new(tls))
}

/// Connects to `url` at `addr` over TLS, trusting `cert`, with a socket receive buffer of
/// `recv_buffer` bytes if given.
async fn tls_client(
    addr: SocketAddr,
    url: &str,
    cert: &std::path::Path,
    recv_buffer: Option<u32>,
) -> Client {
    let socket = TcpSocket::new_v4().unwrap();
    if let Some(size) = recv_buffer {
        socket.set_recv_buffer_size(size).unwrap();
    }
    let tcp = socket.connect(addr).await.unwrap();
    let (ws, _) = tokio::time::timeout(
        WAIT,
        tokio_tungstenite::client_async_tls_with_config(url, tcp, None, Some(trusting(cert))),
    )
    .await
    .unwrap()
    .unwrap();
    Client::from_ws(ws)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn over_tls_a_fast_client_misses_nothing_and_a_slow_one_is_conflated_then_closed() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = feed_server::write_test_identity(dir.path()).unwrap();
    let server = start(feed_server::Config {
        tls_cert: Some(cert.clone()),
        tls_key: Some(key),
        ..support::drill_config()
    })
    .await;
    let url = format!("wss://localhost:{}/ws", server.addr.port());
    let fast = tls_client(server.addr, &url, &cert, None).await;
    let slow = tls_client(server.addr, &url, &cert, Some(4_096)).await;
    support::conflation_drill(fast, slow).await;

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
    let mut client = tls_client(addr, &url, &cert, None).await;
    assert!(matches!(client.next().await, ServerMessage::Hello(_)));
    child.kill().await.unwrap();
    let _ = std::fs::remove_file(cert);
}
