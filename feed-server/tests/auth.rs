//! Order-entry auth (`--order-token`): quotes stay public; orders and cancels need an `auth`
//! message with the token first; wrong tokens are answered, and the fifth closes with 1008.
#![allow(clippy::unwrap_used)]

mod support;

use protocol::{
    Auth, Cancel, ClientMessage, ErrorCode, Order, RejectCode, ServerMessage, Side, Subscribe,
    close_code,
};
use support::{Client, End, config, start};

fn order(id: &str) -> ClientMessage {
    ClientMessage::Order(Order {
        id: id.into(),
        symbol: "AAPL".into(),
        side: Side::Buy,
        qty: "1".parse().unwrap(),
        price: None,
        sent_ns: Some(7),
    })
}

fn auth(token: &str) -> ClientMessage {
    ClientMessage::Auth(Auth {
        token: token.to_owned(),
    })
}

fn guarded() -> feed_server::Config {
    feed_server::Config {
        order_token: Some("open-sesame".parse().unwrap()),
        ..config()
    }
}

#[tokio::test]
async fn orders_wait_for_the_token_and_quotes_do_not() {
    let server = start(guarded()).await;
    let mut client = Client::connect(&server).await;
    let ServerMessage::Hello(hello) = client.next().await else {
        panic!("no hello first");
    };
    assert!(hello.auth_required);
    client
        .send(&ClientMessage::Subscribe(Subscribe::to(vec![
            "AAPL".into(),
        ])))
        .await;
    client
        .until(|m| matches!(m, ServerMessage::Snapshot(_)).then_some(()))
        .await;
    client.send(&order("o1")).await;
    client
        .send(&ClientMessage::Cancel(Cancel {
            id: "o1".into(),
            sent_ns: None,
        }))
        .await;
    for _ in 0..2 {
        let reject = client
            .until(|m| match m {
                ServerMessage::Reject(r) => Some(r),
                _ => None,
            })
            .await;
        assert_eq!(reject.code, RejectCode::Unauthorized);
        assert_eq!(reject.id, "o1");
    }
    client.send(&auth("open-sesame")).await;
    client
        .until(|m| matches!(m, ServerMessage::Authorized(_)).then_some(()))
        .await;
    client.send(&order("o2")).await;
    let ack = client
        .until(|m| match m {
            ServerMessage::Ack(a) => Some(a),
            ServerMessage::Reject(r) => panic!("rejected after auth: {r:?}"),
            _ => None,
        })
        .await;
    assert_eq!(ack.id, "o2");
    // Refused orders count as received, and their rejects by code.
    let (_, metrics) =
        support::raw::http(server.addr, b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n").await;
    for line in [
        "tickwire_orders_total 2",
        "tickwire_cancels_total 1",
        "tickwire_rejects_total{code=\"unauthorized\"} 2",
        "tickwire_acks_total 1",
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "no `{line}` in {metrics}"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn wrong_tokens_are_answered_and_the_fifth_closes_the_connection() {
    let server = start(guarded()).await;
    let mut client = Client::connect(&server).await;
    for n in 1..=4 {
        client.send(&auth("guess")).await;
        let error = client
            .until(|m| match m {
                ServerMessage::Error(e) => Some(e),
                _ => None,
            })
            .await;
        assert_eq!(error.code, ErrorCode::BadToken);
        assert!(error.message.contains(&format!("{n} of 5")), "{error:?}");
        assert!(!error.message.contains("guess"));
    }
    // Even the right token no longer helps after the fifth wrong one.
    client.send(&auth("guess")).await;
    client.send(&auth("open-sesame")).await;
    let (end, seen) = client.drain().await;
    assert_eq!(
        end,
        End::Closed(close_code::POLICY, "5 wrong tokens".to_owned())
    );
    assert!(
        !seen
            .iter()
            .any(|m| matches!(m, ServerMessage::Authorized(_))),
        "{seen:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn without_a_token_configured_orders_are_open_and_auth_is_answered() {
    let server = start(config()).await;
    let mut client = Client::connect(&server).await;
    let ServerMessage::Hello(hello) = client.next().await else {
        panic!("no hello first");
    };
    assert!(!hello.auth_required);
    client.send(&order("o1")).await;
    client
        .until(|m| matches!(m, ServerMessage::Ack(_)).then_some(()))
        .await;
    client.send(&auth("anything")).await;
    client
        .until(|m| matches!(m, ServerMessage::Authorized(_)).then_some(()))
        .await;
    server.stop().await;
}

#[tokio::test]
async fn the_token_can_come_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("token");
    std::fs::write(&path, "from-a-file\n").unwrap();
    let server = start(feed_server::Config {
        order_token_file: Some(path),
        ..config()
    })
    .await;
    let mut client = Client::connect(&server).await;
    client.send(&auth("from-a-file")).await;
    client
        .until(|m| matches!(m, ServerMessage::Authorized(_)).then_some(()))
        .await;
    server.stop().await;
    // A missing file stops the server at once, saying which file.
    let failed = feed_server::spawn(feed_server::Config {
        order_token_file: Some(dir.path().join("missing")),
        ..config()
    })
    .await
    .unwrap();
    let ended = failed.task.await.unwrap();
    assert!(
        matches!(&ended, Err(feed_server::ServerError::Config(why)) if why.contains("missing")),
        "{ended:?}"
    );
}
