//! What a socket gets when it is not a well-formed WebSocket handshake: an HTTP answer with a
//! status that says why (RFC 6455 section 4.2), never a silent hang-up; and idle or slow sockets
//! never hold connection slots.
#![allow(clippy::unwrap_used)]

mod support;

use std::fmt::Write as _;
use std::time::Duration;

use support::raw::{Raw, http};
use support::{Client, WAIT, Witness, config, start};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const KEY: &str = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";

fn request(first: &str, extra: &str) -> Vec<u8> {
    format!("{first}\r\nHost: t\r\n{extra}\r\n").into_bytes()
}

#[tokio::test]
async fn a_message_sent_with_the_handshake_request_is_answered() {
    let server = start(config()).await;
    // The subscribe arrives in the same segment as the request, so the server's HTTP layer reads
    // it along with the head; no further byte ever comes to wake the connection.
    let subscribe = support::raw::encode(
        true,
        0,
        0x1,
        br#"{"type":"subscribe","symbols":["AAPL"]}"#,
        true,
    );
    let mut raw = Raw::connect_eager(server.addr, "/ws", &subscribe).await;
    let snapshot = raw
        .until_text(|t| t.contains(r#""type":"snapshot""#).then(|| t.to_owned()))
        .await;
    assert!(snapshot.contains(r#""symbol":"AAPL""#), "{snapshot}");
    server.stop().await;
}

#[tokio::test]
async fn every_malformed_handshake_gets_an_http_status_and_a_reason() {
    let server = start(config()).await;
    let witness = Witness::start(&server).await;
    let a = server.addr;
    let upgrade = "Upgrade: websocket\r\nConnection: Upgrade\r\n";
    let v13 = "Sec-WebSocket-Version: 13\r\n";

    let (status, _) = http(a, b"\x16\x03\x01 not http at all\r\n\r\n").await;
    assert_eq!(status, 400, "garbage");

    let (status, text) = http(a, &request("GET /nowhere HTTP/1.1", "")).await;
    assert_eq!(status, 404);
    assert!(text.contains("/ws"), "{text}");

    // A plain GET of the feed: 426, naming the upgrade it needs.
    let (status, text) = http(a, &request("GET /ws HTTP/1.1", "")).await;
    assert_eq!(status, 426);
    assert!(text.contains("Upgrade: websocket"), "{text}");
    assert!(
        text.to_ascii_lowercase().contains("upgrade: websocket\r\n"),
        "{text}"
    );

    // Upgrade without `Connection: Upgrade` is a broken handshake.
    let (status, text) = http(
        a,
        &request(
            "GET /ws HTTP/1.1",
            &format!("Upgrade: websocket\r\n{v13}{KEY}"),
        ),
    )
    .await;
    assert_eq!(status, 400);
    assert!(text.contains("Connection: Upgrade"), "{text}");

    let (status, text) = http(
        a,
        &request(
            "GET /ws HTTP/1.1",
            &format!("{upgrade}Sec-WebSocket-Version: 8\r\n{KEY}"),
        ),
    )
    .await;
    assert_eq!(status, 426);
    assert!(
        text.to_ascii_lowercase()
            .contains("sec-websocket-version: 13"),
        "{text}"
    );

    let (status, text) = http(a, &request("GET /ws HTTP/1.1", &format!("{upgrade}{v13}"))).await;
    assert_eq!(status, 400);
    assert!(text.contains("Sec-WebSocket-Key"), "{text}");

    let (status, text) = http(
        a,
        &request("GET /ws HTTP/1.0", &format!("{upgrade}{v13}{KEY}")),
    )
    .await;
    assert_eq!(status, 400);
    assert!(text.contains("HTTP/1.1"), "{text}");

    let (status, text) = http(
        a,
        &request(
            "POST /ws HTTP/1.1",
            &format!("{upgrade}{v13}{KEY}Content-Length: 0\r\n"),
        ),
    )
    .await;
    assert_eq!(status, 400);
    assert!(text.contains("GET"), "{text}");

    let big = format!("X-Big: {}\r\n", "a".repeat(64 * 1024));
    let (status, _) = http(a, &request("GET /ws HTTP/1.1", &big)).await;
    assert_eq!(status, 431, "a 64 KiB header");

    let many = (0..10_000).fold(String::new(), |mut all, i| {
        let _ = write!(all, "X-H{i}: v\r\n");
        all
    });
    let (status, _) = http(a, &request("GET /ws HTTP/1.1", &many)).await;
    assert_eq!(status, 431, "10,000 headers");

    witness.finish().await;
    server.stop().await;
}

#[tokio::test]
async fn a_slowloris_handshake_is_cut_off_at_the_handshake_timeout() {
    let server = start(feed_server::Config {
        handshake_timeout_ms: 300,
        ..config()
    })
    .await;
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    let started = tokio::time::Instant::now();
    // One byte of a header every 50 ms, for far longer than the timeout.
    let hung_up = async {
        tcp.write_all(b"GET /ws HTTP/1.1\r\nX-Slow: ")
            .await
            .unwrap();
        for _ in 0..200 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if tcp.write_all(b"a").await.is_err() {
                return;
            }
            let mut buf = [0u8; 16];
            if let Ok(Ok(0) | Err(_)) =
                tokio::time::timeout(Duration::from_millis(1), tcp.read(&mut buf)).await
            {
                return;
            }
        }
        panic!("still connected after 10 s");
    };
    tokio::time::timeout(WAIT, hung_up).await.unwrap();
    assert!(started.elapsed() < Duration::from_secs(3));
    server.stop().await;
}

#[tokio::test]
async fn idle_sockets_in_their_handshake_do_not_take_connection_slots() {
    let server = start(feed_server::Config {
        max_connections: 50,
        ..config()
    })
    .await;
    let mut idle = Vec::new();
    for _ in 0..60 {
        idle.push(TcpStream::connect(server.addr).await.unwrap());
    }
    // Real clients still get in, up to the cap.
    let mut clients = Vec::new();
    for _ in 0..50 {
        clients.push(Client::connect(&server).await);
    }
    let (status, _) = http(server.addr, support::raw::upgrade_request("/ws").as_bytes()).await;
    assert_eq!(status, 503, "the 51st completed handshake is over the cap");
    drop(idle);
    server.stop().await;
}

#[tokio::test]
async fn past_max_handshakes_new_sockets_wait_their_turn_then_are_answered_503() {
    let server = start(feed_server::Config {
        max_handshakes: 4,
        handshake_wait_ms: 300,
        ..config()
    })
    .await;
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(TcpStream::connect(server.addr).await.unwrap());
    }
    support::raw::settle().await;
    let (status, text) = http(server.addr, b"").await;
    assert_eq!(status, 503);
    assert!(text.contains("--max-handshakes"), "{text}");
    drop(idle);
    support::raw::settle().await;
    // Once they are gone, handshakes go through again.
    let mut raw = Raw::connect(server.addr, "/ws").await;
    raw.until_text(|t| t.contains("hello").then_some(())).await;
    server.stop().await;
}
