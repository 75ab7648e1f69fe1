//! Limits and refusals over real sockets: handshake rules, slow consumers, stuck clients.
#![allow(clippy::unwrap_used)] // Helpers fail the test loudly, which is what a test wants.

mod support;

use std::time::Duration;

use protocol::*;
use support::{Client, Seqs, WAIT, config, jumps, start};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

/// Attempts a handshake with extra headers; returns the HTTP status and body of a refusal, or the
/// selected subprotocol of an accepted one.
async fn handshake(url: &str, headers: &[(&str, &str)]) -> Result<Option<String>, (u16, String)> {
    let mut request = url.into_client_request().unwrap();
    for &(k, v) in headers {
        let name =
            tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(k.as_bytes()).unwrap();
        request
            .headers_mut()
            .insert(name, HeaderValue::from_str(v).unwrap());
    }
    match tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(request))
        .await
        .unwrap()
    {
        Ok((_, response)) => Ok(response
            .headers()
            .get("sec-websocket-protocol")
            .map(|v| v.to_str().unwrap().to_owned())),
        Err(WsError::Http(response)) => {
            let body = response
                .body()
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .unwrap_or_default();
            Err((response.status().as_u16(), body))
        }
        Err(e) => panic!("unexpected handshake error {e}"),
    }
}

#[tokio::test]
async fn the_first_of_our_subprotocols_offered_is_selected_and_json_is_spoken_when_none_is() {
    let server = start(config()).await;
    let url = server.url();
    assert_eq!(
        handshake(&url, &[("sec-websocket-protocol", "tickwire.v1.json")]).await,
        Ok(Some("tickwire.v1.json".into()))
    );
    assert_eq!(
        handshake(
            &url,
            &[("sec-websocket-protocol", "other, tickwire.v1.json")]
        )
        .await,
        Ok(Some("tickwire.v1.json".into()))
    );
    assert_eq!(handshake(&url, &[]).await, Ok(None));
    // The first of ours in the client's order.
    for (offered, chosen) in [
        ("tickwire.v1.bin, mqtt", "tickwire.v1.bin"),
        ("tickwire.v1.bin, tickwire.v1.json", "tickwire.v1.bin"),
        ("tickwire.v1.json, tickwire.v1.bin", "tickwire.v1.json"),
    ] {
        assert_eq!(
            handshake(&url, &[("sec-websocket-protocol", offered)]).await,
            Ok(Some(chosen.into())),
            "{offered}"
        );
    }
    let (status, body) = handshake(&url, &[("sec-websocket-protocol", "mqtt, xmpp")])
        .await
        .unwrap_err();
    assert_eq!(status, 400);
    assert!(
        body.contains("tickwire.v1.json")
            && body.contains("tickwire.v1.bin")
            && body.contains("mqtt"),
        "{body}"
    );
    server.stop().await;
}

#[tokio::test]
async fn other_paths_are_not_found() {
    let server = start(config()).await;
    let url = format!("ws://{}/feed", server.addr);
    assert_eq!(handshake(&url, &[]).await.unwrap_err().0, 404);
    server.stop().await;
}

#[tokio::test]
async fn with_allow_origin_other_browser_origins_are_refused_with_403() {
    let server = start(feed_server::Config {
        allow_origin: vec!["https://desk.example".into()],
        ..config()
    })
    .await;
    let url = server.url();
    assert!(
        handshake(&url, &[("origin", "https://desk.example")])
            .await
            .is_ok()
    );
    assert!(
        handshake(&url, &[]).await.is_ok(),
        "non-browser clients send no Origin"
    );
    let (status, body) = handshake(&url, &[("origin", "https://evil.example")])
        .await
        .unwrap_err();
    assert_eq!(status, 403);
    assert!(body.contains("evil.example"));
    server.stop().await;
}

#[tokio::test]
async fn past_the_connection_cap_handshakes_are_refused_with_503() {
    let server = start(feed_server::Config {
        max_connections: 2,
        ..config()
    })
    .await;
    let mut a = Client::connect(&server).await;
    let _b = Client::connect(&server).await;
    a.next().await;
    let (status, body) = handshake(&server.url(), &[]).await.unwrap_err();
    assert_eq!(status, 503);
    assert!(body.contains("limit"));
    // A slot frees when a client leaves.
    a.ws.close(None).await.unwrap();
    let _ = a.drain().await;
    let mut admitted = false;
    for _ in 0..100 {
        if handshake(&server.url(), &[]).await.is_ok() {
            admitted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(admitted, "a freed slot is reused");
    server.stop().await;
}

#[tokio::test]
async fn a_client_that_never_finishes_the_handshake_is_dropped() {
    let server = start(feed_server::Config {
        handshake_timeout_ms: 200,
        ..config()
    })
    .await;
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    let mut buf = [0u8; 64];
    // The server must hang up on its own: read returns end of stream well before our wait ends.
    let read = tokio::time::timeout(WAIT, tcp.read(&mut buf))
        .await
        .expect("server hangs up");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    server.stop().await;
}

/// A client whose socket receive buffer is tiny and that stops reading.
async fn stalled_client(server: &feed_server::ServerHandle) -> Client {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let tcp = socket.connect(server.addr).await.unwrap();
    let (ws, _) = tokio_tungstenite::client_async(
        server.url(),
        tokio_tungstenite::MaybeTlsStream::Plain(tcp),
    )
    .await
    .unwrap();
    Client::from_ws(ws)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_client_is_conflated_then_closed_while_a_fast_one_misses_nothing() {
    let server = start(support::drill_config()).await;
    let fast = Client::connect(&server).await;
    let slow = stalled_client(&server).await;
    support::conflation_drill(fast, slow).await;
    server.stop().await;
}

/// Counts `seq` jumps in raw text frames, and returns the Close frame if one came.
fn follow(
    frames: &[support::raw::Frame],
    seqs: &mut Seqs,
    jumps: &mut usize,
) -> Option<(u16, String)> {
    let mut decoder = Decoder::new();
    for frame in frames {
        if let Some(close) = frame.close() {
            return Some(close);
        }
        if let Some(text) = frame.text() {
            for m in decoder.server(text.as_bytes()).unwrap() {
                if seqs.observe(&m).is_some_and(|skipped| skipped > 0) {
                    *jumps += 1;
                }
            }
        }
    }
    None
}

#[tokio::test]
async fn a_client_that_reads_slowly_is_kept_and_one_that_stops_gets_1008() {
    let server = start(feed_server::Config {
        synth: feed_server::SynthArgs {
            rate: 10_000,
            ..feed_server::SynthArgs::default()
        },
        stall_timeout_ms: 2_500,
        ..config()
    })
    .await;
    let mut raw = support::raw::Raw::connect_small(server.addr, "/ws", 4_096).await;
    raw.text(r#"{"type":"subscribe","symbols":["*"]}"#).await;
    let (mut seqs, mut jumps) = (Seqs::default(), 0);
    // About 30 KiB/s, far below the feed's 1.5 MB/s, for more than two stall timeouts. (At
    // 20,000 events/s beside this file's other tests, a debug build left the reader's task
    // unscheduled long enough to be taken for a stalled client.)
    let until = tokio::time::Instant::now() + Duration::from_secs(6);
    while tokio::time::Instant::now() < until {
        assert!(
            raw.read_some(1_024).await > 0,
            "the server closed a client that reads"
        );
        tokio::time::sleep(Duration::from_millis(33)).await;
        let frames = raw.take_frames();
        assert_eq!(
            follow(&frames, &mut seqs, &mut jumps),
            None,
            "closed while reading"
        );
    }

    // Catching up: the backlog drains and live events follow, with the jumps of conflation,
    // and no Close frame anywhere in what was queued during the slow phase.
    let until = tokio::time::Instant::now() + Duration::from_secs(2);
    while tokio::time::Instant::now() < until {
        assert!(raw.read_some(65_536).await > 0, "closed while catching up");
        let frames = raw.take_frames();
        assert_eq!(
            follow(&frames, &mut seqs, &mut jumps),
            None,
            "closed while reading"
        );
    }
    assert!(
        jumps > 0,
        "a slow reader is conflated, which shows as seq jumps"
    );

    // Now it stops reading for more than the stall timeout, then reads what is left.
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    let close = loop {
        if raw.read_some(65_536).await == 0 {
            break None;
        }
        let frames = raw.take_frames();
        if let Some(close) = follow(&frames, &mut seqs, &mut jumps) {
            break Some(close);
        }
    };
    let (code, reason) = close.expect("a Close frame, not a bare TCP close");
    assert_eq!(code, 1008);
    assert!(reason.contains("not reading"), "{reason}");
    server.stop().await;
}

#[tokio::test]
async fn queues_are_bounded_in_bytes_as_well_as_frames() {
    // 10,000 events/s fill 64 KiB within the stall many times over; 50,000 in a debug build
    // beside this file's other tests left the server too busy to serve the reader in time.
    let server = start(feed_server::Config {
        synth: feed_server::SynthArgs {
            rate: 10_000,
            ..feed_server::SynthArgs::default()
        },
        queue_frames: 1_000_000,
        queue_bytes: 65_536,
        ..config()
    })
    .await;
    let mut slow = stalled_client(&server).await;
    slow.send(&ClientMessage::Subscribe(Subscribe::to(vec!["*".into()])))
        .await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let mut seen = Vec::new();
    let until = tokio::time::Instant::now() + Duration::from_millis(1_500);
    while tokio::time::Instant::now() < until {
        seen.push(slow.next().await);
    }
    assert!(
        jumps(&seen) > 0,
        "with a million frames allowed, only the byte budget conflates this client"
    );
    server.stop().await;
}
