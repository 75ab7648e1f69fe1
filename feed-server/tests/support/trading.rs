//! A trading client for the edge and cluster tests: reads every `seq` without a gap, places a
//! market and a resting order, and checks that only its own answers and fills come back.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use protocol::{ClientMessage, Decimal, Order, ServerMessage, Side, Subscribe};
use tokio::time::Instant;

use super::{Client, Seqs};

pub fn order(id: String, price: Option<Decimal>) -> ClientMessage {
    ClientMessage::Order(Order {
        id: id.into(),
        symbol: "AAPL".into(),
        side: Side::Buy,
        qty: Decimal::from(100),
        price,
        sent_ns: None,
    })
}

/// What one client saw.
#[derive(Debug, Default)]
pub struct Seen {
    pub events: u64,
    pub acked: Vec<String>,
    pub filled: Vec<String>,
    pub bid: Option<Decimal>,
    /// Each symbol's last `seq`, for a resume.
    pub last: BTreeMap<protocol::Symbol, u64>,
    /// Resting orders it canceled (the market stayed away).
    pub canceled: Vec<String>,
}

/// Reads until `done`, checking every `seq`; another client's answers fail the test.
pub async fn read_until(
    client: &mut Client,
    seqs: &mut Seqs,
    seen: &mut Seen,
    mine: &str,
    done: impl FnMut(&Seen) -> bool,
) {
    let done = read_within(client, seqs, seen, mine, Duration::from_secs(30), done).await;
    assert!(done, "{mine}: not done in time: {seen:?}");
}

/// Reads until `done` or `period` has passed, checking every `seq`; whether it is done.
pub async fn read_within(
    client: &mut Client,
    seqs: &mut Seqs,
    seen: &mut Seen,
    mine: &str,
    period: Duration,
    mut done: impl FnMut(&Seen) -> bool,
) -> bool {
    let deadline = Instant::now() + period;
    while !done(seen) {
        if Instant::now() >= deadline {
            return false;
        }
        let Ok(message) = tokio::time::timeout_at(deadline, client.next()).await else {
            return done(seen);
        };
        if let Some(skipped) = seqs.observe(&message) {
            assert_eq!(skipped, 0, "{mine}: a gap before {message:?}");
            seen.events += 1;
        }
        if let Some((symbol, seq)) = message.market_seq() {
            seen.last.insert(symbol.into(), seq);
        }
        match message {
            ServerMessage::Snapshot(s) => {
                seen.last.insert(s.symbol.clone(), s.seq);
                if s.symbol == "AAPL" {
                    seen.bid = Some(s.bid);
                }
            }
            ServerMessage::Quote(q) if q.symbol == "AAPL" => seen.bid = Some(q.bid),
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
            // A cancel that crossed its order's fill is refused: nothing is wrong.
            ServerMessage::Reject(r) if seen.canceled.contains(&r.id.to_string()) => {}
            ServerMessage::Reject(r) => panic!("{mine}: {r:?}"),
            _ => {}
        }
    }
    true
}

pub fn subscribe_all() -> ClientMessage {
    ClientMessage::Subscribe(Subscribe::to(vec!["*".into()]))
}

/// One client's trading: a second of events (with the AAPL bid to rest an order at), then a
/// market buy that fills at once and a buy at the bid that rests until the ask comes down to it;
/// if the market stays away for 8 s, that one is canceled and a new one rests at the new bid (at
/// most six times: the walk is seeded, and can drift away for long). The market buy and a resting
/// one are acked and filled, to this client only. Returns the live events it read.
pub async fn trade_twice(client: &mut Client, mine: &str) -> u64 {
    let (mut seqs, mut seen) = (Seqs::default(), Seen::default());
    let until = Instant::now() + Duration::from_secs(1);
    read_until(client, &mut seqs, &mut seen, mine, |_| {
        Instant::now() >= until
    })
    .await;
    assert!(seen.events > 0, "{mine}: no events");
    let market = format!("{mine}m");
    client.send(&order(market.clone(), None)).await;
    read_until(client, &mut seqs, &mut seen, mine, |s| {
        s.filled.contains(&market)
    })
    .await;
    let mut resting = None;
    for attempt in 0..6 {
        let id = format!("{mine}r{attempt}");
        client.send(&order(id.clone(), seen.bid)).await;
        let period = Duration::from_secs(8);
        let filled = read_within(client, &mut seqs, &mut seen, mine, period, |s| {
            s.filled.contains(&id)
        })
        .await;
        if filled {
            resting = Some(id);
            break;
        }
        seen.canceled.push(id.clone());
        client
            .send(&ClientMessage::Cancel(protocol::Cancel {
                id: id.clone().into(),
                sent_ns: None,
            }))
            .await;
    }
    let resting = resting.unwrap_or_else(|| panic!("{mine}: no resting order filled: {seen:?}"));
    assert!(
        seen.acked.contains(&market) && seen.acked.contains(&resting),
        "{seen:?}"
    );
    seen.events
}
