//! The close handshake completes whichever side starts it (RFC 6455 sections 5.5.1 and 7).
#![allow(clippy::unwrap_used)]

mod support;

use support::raw::Raw;
use support::{config, start};

#[tokio::test]
async fn a_client_close_is_answered_with_a_close_frame_then_the_server_closes_the_socket() {
    let server = start(config()).await;
    let mut raw = Raw::connect(server.addr, "/ws").await;
    raw.until_text(|t| t.contains("hello").then_some(())).await;
    let mut payload = 1000u16.to_be_bytes().to_vec();
    payload.extend_from_slice(b"bye");
    raw.send(0x8, &payload).await;
    assert_eq!(raw.close_frame(false).await, Some((1000, "bye".into())));
    server.stop().await;
}
