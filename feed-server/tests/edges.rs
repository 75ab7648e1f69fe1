//! `--edges 2`: two edges in one process, each on its own thread with its own connections, fed by
//! one market core. Clients on either edge get every event with no gap, their orders answered,
//! and the fills of their resting orders.
#![allow(clippy::unwrap_used)]

mod support;

use std::time::Duration;

use protocol::{ClientMessage, Decimal, Order, ServerMessage, Side};
use support::{Client, Seqs, config, start};
use tokio::time::Instant;

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

fn order(id: String, price: Option<Decimal>) -> ClientMessage {
    ClientMessage::Order(Order {
        id: id.into(),
        symbol: "AAPL".into(),
        side: Side::Buy,
        qty: Decimal::from(100),
        price,
        sent_ns: None,
    })
}

/// What one client saw: live events, and whether each of its orders was acked and filled.
#[derive(Debug, Default)]
struct Seen {
    events: u64,
    acked: Vec<String>,
    filled: Vec<String>,
}

/// Reads until `done`, checking every `seq`; a fill or ack of another client's order fails.
async fn read_until(
    client: &mut Client,
    seqs: &mut Seqs,
    seen: &mut Seen,
    mine: &str,
    bid: &mut Option<Decimal>,
    mut done: impl FnMut(&Seen) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done(seen) {
        assert!(Instant::now() < deadline, "not done in time: {seen:?}");
        let message = client.next().await;
        if let Some(skipped) = seqs.observe(&message) {
            assert_eq!(skipped, 0, "a gap before {message:?}");
            seen.events += 1;
        }
        match message {
            ServerMessage::Snapshot(s) if s.symbol == "AAPL" => *bid = Some(s.bid),
            ServerMessage::Quote(q) if q.symbol == "AAPL" => *bid = Some(q.bid),
            ServerMessage::Ack(a) => {
                assert!(a.id.starts_with(mine), "{mine} got {a:?}");
                seen.acked.push(a.id.to_string());
            }
            ServerMessage::Fill(f) => {
                assert!(f.id.starts_with(mine), "{mine} got {f:?}");
                if f.leaves.is_zero() {
                    seen.filled.push(f.id.to_string());
                }
            }
            ServerMessage::Reject(r) => panic!("{mine}: {r:?}"),
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_on_two_edges_get_every_event_and_their_orders_and_fills() {
    let server = start(feed_server::Config {
        edges: 2,
        ..config()
    })
    .await;
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let mut client = Client::connect(&server).await;
        client
            .send(&ClientMessage::Subscribe(protocol::Subscribe::to(vec![
                "*".into(),
            ])))
            .await;
        clients.push(client);
    }
    // The kernel spread the connections over both edges' listeners.
    let counts = per_edge(server.addr, 2).await;
    assert_eq!(counts.iter().sum::<u64>(), CLIENTS as u64, "{counts:?}");
    assert!(counts.iter().all(|&n| n > 0), "{counts:?}");

    let runs = clients
        .into_iter()
        .enumerate()
        .map(|(i, mut client)| async move {
            let mine = format!("c{i}-");
            let (mut seqs, mut seen, mut bid) = (Seqs::default(), Seen::default(), None);
            // A second of events, with the quote to place a resting order at.
            let until = Instant::now() + Duration::from_secs(1);
            read_until(&mut client, &mut seqs, &mut seen, &mine, &mut bid, |_| {
                Instant::now() >= until
            })
            .await;
            assert!(seen.events > 0);
            // A market order fills at once; a buy at the bid rests until the ask comes down to it.
            client.send(&order(format!("{mine}m"), None)).await;
            client.send(&order(format!("{mine}r"), bid)).await;
            read_until(&mut client, &mut seqs, &mut seen, &mine, &mut bid, |s| {
                s.filled.len() == 2
            })
            .await;
            seen.acked.sort();
            seen.filled.sort();
            assert_eq!(seen.acked, [format!("{mine}m"), format!("{mine}r")]);
            assert_eq!(seen.filled, [format!("{mine}m"), format!("{mine}r")]);
            seen.events
        });
    let events = futures_util::future::join_all(runs).await;
    assert!(events.iter().all(|&n| n > 0));
    server.stop().await;
}
