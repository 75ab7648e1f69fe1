//! The hub under arbitrary client behaviour: the driver behind the `hub` fuzz target and the
//! seeded random test below.
//!
//! Input bytes are a script, one step per line: the first byte picks a connection and an action
//! (connect, disconnect, a client message as JSON, a pass of the clock, draining a queue), the
//! rest is the action's payload. The hub must never panic, and what it sends must decode, with
//! each order answered by exactly one `ack` or `reject` before anything else about it, and every
//! symbol's `seq` moving forward only.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use protocol::{ClientMessage, Decoder, ServerMessage, Symbol};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Utf8Bytes;

use crate::config::{Config, SymbolChoice};
use crate::hub::{Command, Hub, Queues};
use crate::synth::Synthesizer;
use crate::universe::Universe;

/// Connections a script can name.
const CONNECTIONS: u8 = 4;

/// What the script's client sees on one connection.
#[derive(Default)]
struct Seen {
    data: Option<mpsc::Receiver<Utf8Bytes>>,
    ctrl: Option<mpsc::Receiver<Utf8Bytes>>,
    queued: Arc<AtomicUsize>,
    seqs: HashMap<Symbol, u64>,
    /// Orders (`true`) and cancels sent and not yet answered, in the order sent: the hub answers
    /// requests in that order.
    pending: std::collections::VecDeque<(bool, protocol::OrderId)>,
    /// Order ids acked so far.
    acked: std::collections::HashSet<protocol::OrderId>,
}

/// Runs one script against a fresh hub; panics if an invariant breaks.
pub fn drive_hub(script: &[u8]) {
    let config = Config {
        rate: 20_000,
        queue_frames: 4,
        queue_bytes: 65_536,
        max_open_orders: 8,
        max_order_rate: 50,
        ..Config::default()
    };
    let universe = Arc::new(Universe::new(&SymbolChoice::Generated(5), 7));
    let mut hub = Hub::new(universe.clone(), &config);
    let mut synth = Synthesizer::new(&universe, 7);
    let mut decoder = Decoder::new();
    let mut seen: Vec<Seen> = (0..CONNECTIONS).map(|_| Seen::default()).collect();
    let mut now = protocol::now_ns();
    for step in script.split(|&b| b == b'\n') {
        let Some((&op, payload)) = step.split_first() else {
            continue;
        };
        let conn = usize::from(op % CONNECTIONS);
        let id = conn as u64;
        let client = &mut seen[conn];
        match (op / CONNECTIONS) % 6 {
            0 if client.data.is_none() => {
                let (data, data_rx) = mpsc::channel(4);
                let (ctrl, ctrl_rx) = mpsc::channel(8);
                *client = Seen {
                    data: Some(data_rx),
                    ctrl: Some(ctrl_rx),
                    ..Seen::default()
                };
                let queued_bytes = client.queued.clone();
                hub.handle(Command::Connect {
                    id,
                    queues: Queues {
                        data,
                        ctrl,
                        queued_bytes,
                    },
                });
            }
            1 => {
                hub.handle(Command::Disconnect { id });
                *client = Seen::default();
            }
            2 => {
                // 100 us of the clock per payload byte, at 20,000 events/s.
                now += 100_000 * (payload.len() as u64 + 1);
                hub.on_events(&synth.burst(2 * (payload.len() + 1), now), now);
                hub.pass();
            }
            3 => drain(client, &mut decoder),
            _ if client.data.is_some() => {
                let Ok(message) = decoder.client(payload) else {
                    continue;
                };
                if let Some(command) = command(id, message, &universe, client) {
                    hub.handle(command);
                }
            }
            _ => {}
        }
    }
    for client in &mut seen {
        drain(client, &mut decoder);
    }
}

/// The hub command for a client message, as a connection would make it.
fn command(
    id: u64,
    message: ClientMessage,
    universe: &Universe,
    client: &mut Seen,
) -> Option<Command> {
    let symbols = |names: &[Symbol]| {
        let known = universe.select(names, 0).known;
        (!known.is_empty()).then_some(known)
    };
    match message {
        ClientMessage::Subscribe(s) => {
            symbols(&s.symbols).map(|symbols| Command::Subscribe { id, symbols })
        }
        ClientMessage::Unsubscribe(s) => {
            symbols(&s.symbols).map(|symbols| Command::Unsubscribe { id, symbols })
        }
        ClientMessage::Order(order) => {
            client.pending.push_back((true, order.id.clone()));
            Some(Command::Order { id, order })
        }
        ClientMessage::Cancel(cancel) => {
            client.pending.push_back((false, cancel.id.clone()));
            Some(Command::Cancel { id, cancel })
        }
        ClientMessage::Ping(_) => None,
    }
}

/// Reads what is queued for a client and checks it, as its connection would write it.
fn drain(client: &mut Seen, decoder: &mut Decoder) {
    let mut frames = Vec::new();
    for queue in [client.ctrl.as_mut(), client.data.as_mut()]
        .into_iter()
        .flatten()
    {
        while let Ok(frame) = queue.try_recv() {
            frames.push(frame);
        }
    }
    for frame in frames {
        client
            .queued
            .fetch_sub(frame.as_str().len(), Ordering::Relaxed);
        let messages = decoder.server(frame.as_bytes()).unwrap_or_else(|e| {
            panic!(
                "the hub sent an undecodable frame ({e}): {}",
                frame.as_str()
            )
        });
        for message in messages {
            check(client, &message);
        }
    }
}

fn check(client: &mut Seen, message: &ServerMessage) {
    match message {
        ServerMessage::Snapshot(s) => {
            let last = client.seqs.entry(s.symbol.clone()).or_insert(s.seq);
            assert!(
                s.seq >= *last,
                "a snapshot went back in seq for {}",
                s.symbol
            );
            *last = s.seq;
        }
        ServerMessage::Quote(_) | ServerMessage::Trade(_) => {
            if let Some((symbol, seq)) = message.market_seq() {
                let last = client
                    .seqs
                    .get_mut(symbol)
                    .unwrap_or_else(|| panic!("a live {symbol} event before its snapshot"));
                assert!(seq > *last, "{symbol} seq {seq} after {last}");
                *last = seq;
            }
        }
        ServerMessage::Ack(a) => {
            let head = client.pending.pop_front();
            assert_eq!(head, Some((true, a.id.clone())), "an ack out of turn");
            client.acked.insert(a.id.clone());
        }
        ServerMessage::Reject(r) => {
            let head = client.pending.pop_front();
            assert_eq!(
                head.map(|(_, id)| id),
                Some(r.id.clone()),
                "a reject out of turn"
            );
        }
        // The answer to a cancel; otherwise the unfilled rest of a market order after its ack.
        ServerMessage::Canceled(c) if client.pending.front() == Some(&(false, c.id.clone())) => {
            client.pending.pop_front();
        }
        ServerMessage::Fill(f) => assert!(
            client.acked.contains(&f.id),
            "a fill for {} before its ack",
            f.id
        ),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    const MESSAGES: &[&str] = &[
        r#"{"type":"subscribe","symbols":["*"]}"#,
        r#"{"type":"subscribe","symbols":["S0001","S0003","S0003"]}"#,
        r#"{"type":"unsubscribe","symbols":["S0001"]}"#,
        r#"{"type":"order","id":"a","symbol":"S0002","side":"buy","qty":"100"}"#,
        r#"{"type":"order","id":"b","symbol":"S0002","side":"sell","qty":"5000","price":"0.01"}"#,
        r#"{"type":"order","id":"c","symbol":"S0004","side":"buy","qty":"1","price":"79228162514264337593543950335"}"#,
        r#"{"type":"order","id":"d","symbol":"S0004","side":"buy","qty":"100","price":"600.00"}"#,
        r#"{"type":"cancel","id":"d"}"#,
        r#"{"type":"order","id":"e","symbol":"S0005","side":"sell","qty":"1000000","price":"0.0000000000000000000000000001"}"#,
    ];

    /// Random scripts made of plausible steps, so the checks are reached often.
    #[test]
    fn random_client_scripts_never_break_the_hub() {
        let mut rng = SmallRng::seed_from_u64(11);
        for _ in 0..300 {
            let mut script = Vec::new();
            for _ in 0..rng.random_range(1..80) {
                let op: u8 = rng.random();
                script.push(op);
                if (op / CONNECTIONS) % 6 >= 4 {
                    let message = MESSAGES[rng.random_range(0..MESSAGES.len())];
                    script.extend_from_slice(message.as_bytes());
                } else {
                    script.extend(std::iter::repeat_n(b'.', rng.random_range(0..20)));
                }
                script.push(b'\n');
            }
            drive_hub(&script);
        }
    }
}
