//! The terminal completes the close handshake when the server closes (RFC 6455 section 5.5.1).
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use terminal::net::NetEvent;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;

#[tokio::test]
async fn a_server_close_is_answered_with_a_close_frame() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/ws", listener.local_addr().unwrap());
    // A server that closes at once and reports what came back.
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let select = |_: &Request, mut response: Response| {
            response.headers_mut().insert(
                "sec-websocket-protocol",
                HeaderValue::from_static(protocol::SUBPROTOCOL_JSON),
            );
            Ok(response)
        };
        let mut ws = tokio_tungstenite::accept_hdr_async(tcp, select)
            .await
            .unwrap();
        ws.send(Message::Close(Some(CloseFrame {
            code: 1001u16.into(),
            reason: "going away".into(),
        })))
        .await
        .unwrap();
        loop {
            match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
                Ok(Some(Ok(Message::Close(reply)))) => return Ok(reply),
                Ok(Some(Ok(_))) => {}
                other => return Err(format!("{other:?}")),
            }
        }
    });
    let (_commands, commands_rx) = mpsc::channel(8);
    let (events_tx, mut events) = mpsc::channel(64);
    tokio::spawn(terminal::net::run(
        vec![url],
        protocol::Encoding::Json,
        commands_rx,
        events_tx,
    ));
    let reply = server.await.unwrap().expect("a Close frame in reply");
    assert_eq!(reply.map(|f| u16::from(f.code)), Some(1001));
    loop {
        if let NetEvent::Disconnected { code, reason, .. } = events.recv().await.unwrap() {
            assert_eq!((code, reason.as_str()), (Some(1001), "going away"));
            break;
        }
    }
}
