//! Connections leave nothing behind: after 500 connect/disconnect cycles, clean and abrupt, the
//! process has the file descriptors it started with and its memory is back near its start.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use futures_util::SinkExt;
use support::{Client, config, start};
use tokio_tungstenite::tungstenite::Message;

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

async fn cycle(server: &feed_server::ServerHandle, i: usize) {
    let mut client = Client::connect(server).await;
    client.next().await; // hello
    client.raw(r#"{"type":"subscribe","symbols":["*"]}"#).await;
    client.next().await;
    client
        .raw(&format!(
            r#"{{"type":"order","id":"c{i}","symbol":"AAPL","side":"buy","qty":"1","price":"1.00"}}"#
        ))
        .await;
    if i.is_multiple_of(2) {
        client.ws.send(Message::Close(None)).await.unwrap();
        let _ = client.drain().await;
    }
    // Odd cycles just drop the socket, with data in flight.
}

#[tokio::test]
async fn five_hundred_connections_leave_no_descriptor_or_memory_behind() {
    let server = start(config()).await;
    for i in 0..50 {
        cycle(&server, i).await;
    }
    let settle = || async {
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    settle().await;
    let (fds, rss) = (open_fds(), rss_bytes());
    for i in 0..500 {
        cycle(&server, i).await;
    }
    // The server finishes closing in its own time; give it a bounded wait.
    let mut now = open_fds();
    for _ in 0..50 {
        if now <= fds {
            break;
        }
        settle().await;
        now = open_fds();
    }
    assert_eq!(now, fds, "file descriptors before and after 500 cycles");
    let grown = rss_bytes().saturating_sub(rss);
    assert!(
        grown < 8 * 1024 * 1024,
        "memory grew by {grown} bytes over 500 cycles"
    );
    server.stop().await;
}
