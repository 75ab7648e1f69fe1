//! Plain HTTP on the feed port: the browser client's files, `/healthz` and `/metrics`, each over
//! a real socket of a running server.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use protocol::{ClientMessage, Order, ServerMessage, Side, Subscribe};
use support::raw::http;
use support::{Client, WAIT, config, start};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn get(path: &str, extra: &str) -> Vec<u8> {
    format!("GET {path} HTTP/1.1\r\nHost: t\r\n{extra}\r\n").into_bytes()
}

/// The value of a header in a raw answer, lowercased name.
fn header<'a>(answer: &'a str, name: &str) -> Option<&'a str> {
    let head = answer.split("\r\n\r\n").next()?;
    head.lines().find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[tokio::test]
async fn the_page_and_its_files_are_served_with_types_and_revalidation() {
    let server = start(config()).await;
    let (status, page) = http(server.addr, &get("/", "")).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        header(&page, "content-type"),
        Some("text/html; charset=utf-8")
    );
    assert_eq!(header(&page, "cache-control"), Some("no-cache"));
    assert!(page.contains(r#"<script type="module" src="app.js">"#));
    for (path, kind) in [
        ("/app.js", "text/javascript; charset=utf-8"),
        ("/feed.js", "text/javascript; charset=utf-8"),
        ("/chart.js", "text/javascript; charset=utf-8"),
        ("/style.css", "text/css; charset=utf-8"),
        ("/favicon.svg", "image/svg+xml"),
    ] {
        let (status, answer) = http(server.addr, &get(path, "")).await;
        assert_eq!(status, 200, "{path}");
        assert_eq!(header(&answer, "content-type"), Some(kind), "{path}");
        assert_eq!(header(&answer, "x-content-type-options"), Some("nosniff"));
    }
    // A browser that has the file revalidates it with its ETag and gets 304 with no body.
    let etag = header(&page, "etag").unwrap().to_owned();
    let (status, answer) = http(
        server.addr,
        &get("/index.html", &format!("If-None-Match: {etag}\r\n")),
    )
    .await;
    assert_eq!(status, 304, "{answer}");
    assert!(answer.ends_with("\r\n\r\n"), "{answer}");
    // HEAD has the headers and no body; other methods are refused with Allow.
    let (status, answer) = http(server.addr, b"HEAD /app.js HTTP/1.1\r\nHost: t\r\n\r\n").await;
    assert_eq!(status, 200);
    assert!(answer.ends_with("\r\n\r\n"), "{answer}");
    let (status, answer) = http(
        server.addr,
        b"POST /healthz HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n",
    )
    .await;
    assert_eq!(status, 405);
    assert_eq!(header(&answer, "allow"), Some("GET, HEAD"));
    let (status, answer) = http(server.addr, &get("/nothing-here", "")).await;
    assert_eq!(status, 404);
    assert!(answer.contains("the page is at /"), "{answer}");
    server.stop().await;
}

#[tokio::test]
async fn healthz_reports_the_source_and_connections() {
    let server = start(config()).await;
    let _client = Client::connect(&server).await;
    let (status, answer) = http(server.addr, &get("/healthz", "")).await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(header(&answer, "content-type"), Some("application/json"));
    let body = answer.split("\r\n\r\n").nth(1).unwrap();
    let health: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(health["status"], "ok");
    assert_eq!(health["source"]["kind"], "synthetic");
    assert_eq!(health["connections"], 1);
    assert!(health["uptime_s"].as_f64().unwrap() >= 0.0);
    server.stop().await;
}

#[tokio::test]
async fn healthz_says_503_while_the_server_shuts_down() {
    let server = start(config()).await;
    // A client that never answers the Close keeps the server draining for a while.
    let mut silent = TcpStream::connect(server.addr).await.unwrap();
    silent
        .write_all(support::raw::upgrade_request("/ws").as_bytes())
        .await
        .unwrap();
    let mut head = [0u8; 512];
    let n = silent.read(&mut head).await.unwrap();
    assert!(head[..n].starts_with(b"HTTP/1.1 101"));
    server.shutdown.cancel();
    // The listener is still open while connections close: ask until the answer changes.
    let deadline = tokio::time::Instant::now() + WAIT;
    let answer = loop {
        let (status, answer) = http(server.addr, &get("/healthz", "")).await;
        if status == 503 || tokio::time::Instant::now() > deadline {
            break answer;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(answer.contains(r#""status":"shutting_down""#), "{answer}");
    // A handshake in the same window is refused the same way, not left hanging.
    let (status, _) = http(server.addr, support::raw::upgrade_request("/ws").as_bytes()).await;
    assert_eq!(status, 503);
    drop(silent);
    let _ = tokio::time::timeout(WAIT, server.task).await;
}

/// The value of an unlabelled or labelled sample in an exposition.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
}

#[tokio::test]
async fn metrics_count_what_the_server_did() {
    let server = start(config()).await;
    let mut client = Client::connect(&server).await;
    client
        .send(&ClientMessage::Subscribe(Subscribe::to(vec!["*".into()])))
        .await;
    // Some live events, then one market order (acked and filled) and one bad one (rejected).
    let mut live = 0;
    while live < 50 {
        if matches!(
            client.next().await,
            ServerMessage::Quote(_) | ServerMessage::Trade(_)
        ) {
            live += 1;
        }
    }
    for (id, qty) in [("m1", "10"), ("m2", "0")] {
        client
            .send(&ClientMessage::Order(Order {
                id: id.into(),
                symbol: "AAPL".into(),
                side: Side::Buy,
                qty: qty.parse().unwrap(),
                price: None,
                sent_ns: None,
            }))
            .await;
    }
    client
        .until(|m| matches!(m, ServerMessage::Reject(r) if r.id == "m2").then_some(()))
        .await;
    let (status, answer) = http(server.addr, &get("/metrics", "")).await;
    assert_eq!(status, 200);
    assert!(
        header(&answer, "content-type")
            .unwrap()
            .starts_with("application/openmetrics-text"),
        "{answer}"
    );
    let text = answer.split("\r\n\r\n").nth(1).unwrap();
    assert!(text.trim_end().ends_with("# EOF"), "{text}");
    assert_eq!(sample(text, "tickwire_connections"), Some(1.0), "{text}");
    assert_eq!(
        sample(text, "tickwire_connections_accepted_total"),
        Some(1.0)
    );
    assert!(sample(text, "tickwire_deliveries_total").unwrap() >= 50.0);
    assert!(sample(text, "tickwire_frames_sent_total{kind=\"data\"}").unwrap() >= 1.0);
    assert!(sample(text, "tickwire_sent_bytes_total{kind=\"reply\"}").unwrap() > 0.0);
    assert_eq!(sample(text, "tickwire_orders_total"), Some(2.0), "{text}");
    assert_eq!(sample(text, "tickwire_acks_total"), Some(1.0));
    assert_eq!(sample(text, "tickwire_fills_total"), Some(1.0));
    assert_eq!(
        sample(text, "tickwire_rejects_total{code=\"bad_quantity\"}"),
        Some(1.0),
        "{text}"
    );
    assert!(sample(text, "tickwire_hub_pass_duration_seconds_count").unwrap() >= 1.0);
    assert!(sample(text, "tickwire_pacing_lateness_seconds_count").unwrap() >= 50.0);
    // A plain GET of the feed's path was refused and counted.
    let (status, _) = http(server.addr, &get("/ws", "")).await;
    assert_eq!(status, 426);
    drop(client);
    let deadline = tokio::time::Instant::now() + WAIT;
    let text = loop {
        let (_, answer) = http(server.addr, &get("/metrics", "")).await;
        if answer.contains("tickwire_clients_closed_total{reason=\"transport\"} 1")
            || tokio::time::Instant::now() > deadline
        {
            break answer;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert!(
        text.contains("tickwire_connections_refused_total{reason=\"not_websocket\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("tickwire_clients_closed_total{reason=\"transport\"} 1"),
        "{text}"
    );
    assert_eq!(sample(&text, "tickwire_connections"), Some(0.0));
    server.stop().await;
}
