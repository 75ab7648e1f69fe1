//! `--edges 2`: two edges in one process, each on its own thread with its own connections, fed by
//! one market core. Clients on either edge get every event with no gap, their orders answered,
//! and the fills of their resting orders.
#![allow(clippy::unwrap_used)]

mod support;

use feed_server::AcceptMode;
use support::trading::{subscribe_all, trade_twice};
use support::{Client, config, start};

const CLIENTS: usize = 40;

/// Connections open on each edge, from `/metrics`.
async fn per_edge(addr: std::net::SocketAddr, edges: u64) -> Vec<u64> {
    let (_, body) = support::raw::http(addr, b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n").await;
    (0..edges)
        .map(|edge| {
            let series = format!("tickwire_edge_connections{{edge=\"{edge}\"}} ");
            body.lines()
                .find_map(|l| l.strip_prefix(series.as_str()))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_on_two_edges_get_every_event_and_their_orders_and_fills() {
    two_edges(AcceptMode::ReusePort).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_dealt_round_robin_to_two_edges_get_every_event_and_their_orders_and_fills() {
    two_edges(AcceptMode::RoundRobin).await;
}

async fn two_edges(accept: AcceptMode) {
    let server = start(feed_server::Config {
        edges: 2,
        accept,
        ..config()
    })
    .await;
    // Connected first, subscribed only when they start reading: a client that is sent events
    // while the others connect and are counted (slow on a busy machine) would be conflated.
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        clients.push(Client::connect(&server).await);
    }
    // The connections are spread over both edges. An edge counts a
    // connection once it has taken it from its handshake, which can trail the client's view.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut counts = per_edge(server.addr, 2).await;
    while counts.iter().sum::<u64>() < CLIENTS as u64 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        counts = per_edge(server.addr, 2).await;
    }
    assert_eq!(counts.iter().sum::<u64>(), CLIENTS as u64, "{counts:?}");
    match accept {
        // The kernel's hash of each connection picks a listener.
        AcceptMode::ReusePort => assert!(counts.iter().all(|&n| n > 0), "{counts:?}"),
        // One after another, every other connection goes to the other edge.
        AcceptMode::RoundRobin => assert_eq!(counts, [20, 20]),
    }

    // Each client on its own task, so both of the runtime's threads read (40 clients of every
    // symbol are more than one debug thread decodes in time).
    let runs = clients.into_iter().enumerate().map(|(i, mut client)| {
        tokio::spawn(async move {
            client.send(&subscribe_all()).await;
            trade_twice(&mut client, &format!("c{i}-")).await
        })
    });
    let events = futures_util::future::join_all(runs).await;
    assert!(events.into_iter().all(|n| n.unwrap() > 0));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn books_on_two_edges_stay_in_sync_with_every_checksum() {
    let server = start(feed_server::Config {
        edges: 2,
        synth: feed_server::SynthArgs {
            rate: 5_000,
            book_rate: 5_000,
            ..feed_server::SynthArgs::default()
        },
        ..config()
    })
    .await;
    let mut clients = Vec::new();
    for _ in 0..4 {
        let mut client = Client::connect(&server).await;
        client
            .send(&support::books::books(&["AAPL", "NVDA"], Some(10), false))
            .await;
        clients.push(client);
    }
    let runs = clients.iter_mut().map(|client| async move {
        let (books, _) = support::books::follow(client, 10, 1_000).await;
        books.len()
    });
    let followed = futures_util::future::join_all(runs).await;
    assert!(followed.iter().all(|&n| n == 2), "{followed:?}");
    server.stop().await;
}
