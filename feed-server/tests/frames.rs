//! Frames a WebSocket library would never send: each gets the close code RFC 6455 names, with the
//! close handshake completed, and a witness on the same server misses nothing.
#![allow(clippy::unwrap_used)]

mod support;

use support::raw::Raw;
use support::{Witness, config, start};

/// Connects raw to `/ws`, reads `hello`, lets `act` misbehave, and returns the Close it got.
async fn close_after(
    server: &feed_server::ServerHandle,
    act: impl AsyncFnOnce(&mut Raw),
) -> Option<(u16, String)> {
    let mut raw = Raw::connect(server.addr, "/ws").await;
    raw.until_text(|t| t.contains("\"hello\"").then_some(()))
        .await;
    act(&mut raw).await;
    raw.close_frame(true).await
}

fn code(close: Option<(u16, String)>) -> u16 {
    close.map_or(1006, |(c, _)| c)
}

#[tokio::test]
async fn protocol_violations_close_with_1002() {
    let server = start(config()).await;
    let witness = Witness::start(&server).await;
    let unmasked = close_after(&server, async |r| {
        r.frame(true, 0, 0x1, br#"{"type":"ping","sent_ns":1}"#, false)
            .await;
    })
    .await;
    assert_eq!(code(unmasked), 1002, "an unmasked client frame");
    let rsv = close_after(&server, async |r| {
        r.frame(true, 0b010, 0x1, b"{}", true).await;
    })
    .await;
    assert_eq!(code(rsv), 1002, "reserved bits");
    let opcode = close_after(&server, async |r| r.frame(true, 0, 0x3, b"x", true).await).await;
    assert_eq!(code(opcode), 1002, "an unknown opcode");
    let big_ping = close_after(&server, async |r| r.send(0x9, &[7u8; 126]).await).await;
    assert_eq!(code(big_ping), 1002, "a control frame over 125 bytes");
    let fragmented = close_after(&server, async |r| r.frame(false, 0, 0x9, b"p", true).await).await;
    assert_eq!(code(fragmented), 1002, "a fragmented control frame");
    let orphan = close_after(&server, async |r| r.frame(true, 0, 0x0, b"x", true).await).await;
    assert_eq!(code(orphan), 1002, "a continuation without a start");
    witness.finish().await;
    server.stop().await;
}

#[tokio::test]
async fn sizes_at_the_limit_pass_and_over_it_close_with_1009() {
    let limit = 4_096;
    let server = start(feed_server::Config {
        max_message_bytes: limit,
        ..config()
    })
    .await;
    let witness = Witness::start(&server).await;

    // Just under (exactly at) the limit: served.
    let body = r#"{"type":"ping","sent_ns":7}"#;
    let padded = format!(
        "{body}{}",
        " ".repeat(usize::try_from(limit).unwrap() - body.len())
    );
    let mut raw = Raw::connect(server.addr, "/ws").await;
    raw.text(&padded).await;
    raw.until_text(|t| t.contains("\"pong\"").then_some(()))
        .await;

    // One byte over: 1009.
    let over = close_after(&server, async |r| r.text(&format!("{padded} ")).await).await;
    let (c, reason) = over.unwrap();
    assert_eq!(c, 1009);
    assert!(reason.contains("limit"), "{reason}");

    // A frame header declaring 2^63 bytes: refused from the header, nothing allocated.
    let huge = close_after(&server, async |r| {
        let mut header = vec![0x81u8, 0x80 | 0x7f];
        header.extend_from_slice(&(1u64 << 63).to_be_bytes());
        header.extend_from_slice(&[1, 2, 3, 4]);
        r.bytes(&header).await;
    })
    .await;
    assert_eq!(code(huge), 1009, "a frame declaring 2^63 bytes");

    // 900 KiB strings, in one frame or in fragments.
    let long = close_after(&server, async |r| {
        r.text(&format!(
            r#"{{"type":"ping","x":"{}"}}"#,
            "a".repeat(900 * 1024)
        ))
        .await;
    })
    .await;
    assert_eq!(code(long), 1009, "a 900 KiB string");
    let fragments = close_after(&server, async |r| {
        r.frame(false, 0, 0x1, &[b'a'; 3_000], true).await;
        r.frame(false, 0, 0x0, &[b'a'; 3_000], true).await;
    })
    .await;
    assert_eq!(code(fragments), 1009, "fragments adding up past the limit");
    witness.finish().await;
    server.stop().await;
}

#[tokio::test]
async fn invalid_utf8_in_a_text_frame_closes_with_1007() {
    let server = start(config()).await;
    let close = close_after(&server, async |r| {
        r.send(0x1, b"{\"type\":\"\xff\xfe\"}").await;
    })
    .await;
    let (c, reason) = close.unwrap();
    assert_eq!(c, 1007);
    assert!(reason.contains("UTF-8"), "{reason}");
    server.stop().await;
}

#[tokio::test]
async fn deeply_nested_json_is_an_error_not_a_crash() {
    let server = start(feed_server::Config {
        max_message_bytes: 1_048_576,
        ..config()
    })
    .await;
    let witness = Witness::start(&server).await;
    let mut raw = Raw::connect(server.addr, "/ws").await;
    for depth in [1_000, 30_000, 100_000] {
        for open in ["[", "{\"a\":"] {
            let text = open.repeat(depth);
            raw.text(&text).await;
            let code = raw
                .until_text(|t| t.contains("\"error\"").then(|| t.to_owned()))
                .await;
            assert!(code.contains("bad_request"), "{code}");
        }
    }
    raw.text(r#"{"type":"ping","sent_ns":1}"#).await;
    raw.until_text(|t| t.contains("\"pong\"").then_some(()))
        .await;
    witness.finish().await;
    server.stop().await;
}
