//! The hub under arbitrary client behaviour: the driver behind the `hub` fuzz target and the
//! seeded random test below. Built for tests and with the `testing` feature (the fuzz crate's),
//! never into the server.
//!
//! Input bytes are a script, one step per line: the first byte picks a connection and an action
//! (connect, disconnect, a client message as JSON, a pass of the clock, draining a queue), the
//! rest is the action's payload. Client messages go through the real message handler, as a
//! connection's would; what it forwards goes to the hub. Each connection is a real loopback socket with small buffers, so
//! that one whose script does not read soon fills its outbox. The hub must never panic, and what
//! it sends must decode, with
//! each order answered by exactly one `ack` or `reject` before anything else about it, and every
//! symbol's `seq` moving forward only.

use std::collections::HashMap;
use std::io::Read;
use std::sync::Arc;
use std::task::Poll;

use protocol::{Decoder, Encoding, Sequence, ServerMessage, Step, Symbol};

use tokio_tungstenite::tungstenite::Message;

use crate::config::Config;
use crate::edge::Command;
use crate::edge::handler::{Context, Handler};
use crate::edge::handshake::Endpoint;
use crate::edge::outbox::{Limits, Outbox, Outlet};
use crate::feed::SymbolChoice;
use crate::feed::universe::Universe;
use crate::feed::walk::Synthesizer;
use crate::hub::Hub;

/// Connections a script can name.
const CONNECTIONS: u8 = 4;

/// What the script's client sees on one connection.
#[derive(Default)]
struct Seen {
    peer: Option<Peer>,
    seqs: HashMap<Symbol, Sequence>,
    /// Orders (`true`) and cancels sent and not yet answered, in the order sent: the hub answers
    /// requests in that order.
    pending: std::collections::VecDeque<(bool, protocol::OrderId)>,
    /// Order ids acked so far.
    acked: std::collections::HashSet<protocol::OrderId>,
}

/// Runs one script against a fresh hub; panics if an invariant breaks.
pub fn drive_hub(script: &[u8]) {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
    else {
        return;
    };
    let _entered = runtime.enter();
    let config = Config {
        queue_frames: 4,
        queue_bytes: 65_536,
        max_open_orders: 8,
        max_order_rate: 50,
        ..Config::default()
    };
    let universe = Arc::new(Universe::new(&SymbolChoice::Generated(5), 7));
    let mut hub = Hub::new(universe.clone(), config.core(), Arc::default());
    let source = protocol::SourceInfo {
        kind: "synthetic".to_owned(),
        rate: Some(20_000),
        seed: Some(7),
        file: None,
        speed: None,
        looping: None,
        recording_start_ns: None,
        replay_start_ns: None,
        venues: None,
    };
    let epoch = hub.epoch().to_owned();
    let context: Context = config.context(universe.clone(), source, epoch, None, Arc::default());
    let mut handlers: Vec<Handler<'_>> = (0..CONNECTIONS)
        .map(|conn| Handler::new(&context, u64::from(conn), Endpoint::Feed, Encoding::Json))
        .collect();
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
            0 if client.peer.is_none() => {
                let limits = Limits {
                    replies: 8,
                    ..config.edge().outbox
                };
                let Ok((outbox, peer)) = pair(limits) else {
                    continue;
                };
                *client = Seen {
                    peer: Some(peer),
                    ..Seen::default()
                };
                hub.handle(Command::Connect {
                    id,
                    outlet: Outlet::new(outbox),
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
            3 => drain(client, &mut decoder, &runtime),
            _ if client.peer.is_some() => {
                let Ok(text) = std::str::from_utf8(payload) else {
                    continue;
                };
                // Answers the handler makes itself go straight back on a real connection; only
                // what it forwards reaches the hub.
                let mut local = Vec::new();
                let inbound = Some(Ok(Message::text(text)));
                if let Ok(Some(command)) = handlers[conn].on_inbound(inbound, &mut local) {
                    expect(client, &command);
                    hub.handle(command);
                }
            }
            _ => {}
        }
    }
    for client in &mut seen {
        drain(client, &mut decoder, &runtime);
    }
}

/// Notes the orders and cancels forwarded to the hub, which must answer them in turn.
fn expect(client: &mut Seen, command: &Command) {
    match command {
        Command::Order { order, .. } => client.pending.push_back((true, order.id.clone())),
        Command::Cancel { cancel, .. } => client.pending.push_back((false, cancel.id.clone())),
        _ => {}
    }
}

/// Reads what the hub wrote to a client and checks it.
fn drain(client: &mut Seen, decoder: &mut Decoder, runtime: &tokio::runtime::Runtime) {
    let Some(peer) = client.peer.as_mut() else {
        return;
    };
    let frames = runtime.block_on(peer.collect());
    for frame in frames {
        let messages = decoder.server(&frame).unwrap_or_else(|e| {
            panic!(
                "the hub sent an undecodable frame ({e}): {}",
                String::from_utf8_lossy(&frame)
            )
        });
        for message in messages {
            check(client, &message);
        }
    }
}

/// The client end of a loopback socket whose server end is an [`Outbox`]: what the hub wrote
/// to one client, for tests that drive the hub without connection tasks.
#[derive(Debug)]
pub struct Peer {
    pub outbox: Arc<Outbox>,
    socket: std::net::TcpStream,
    buf: Vec<u8>,
}

/// A connected loopback pair: the server end as an outbox with `limits`, and the client end.
/// Both socket buffers are small, so that a client that does not read fills its outbox soon.
/// Call it inside a tokio runtime with I/O: the server end registers with its reactor.
pub fn pair(limits: Limits) -> std::io::Result<(Arc<Outbox>, Peer)> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let client = std::net::TcpStream::connect(listener.local_addr()?)?;
    let (server, _) = listener.accept()?;
    socket2::SockRef::from(&server).set_send_buffer_size(16_384)?;
    socket2::SockRef::from(&client).set_recv_buffer_size(16_384)?;
    server.set_nonblocking(true)?;
    client.set_nonblocking(true)?;
    let outbox = Outbox::new(tokio::net::TcpStream::from_std(server)?, limits);
    let peer = Peer {
        outbox: outbox.clone(),
        socket: client,
        buf: Vec::new(),
    };
    Ok((outbox, peer))
}

impl Peer {
    /// Reads until the outbox is empty and nothing more arrives: the payloads of every frame the
    /// hub wrote. Reading makes room, and the outbox then writes what waited, as the connection's
    /// task would, once the runtime has seen the socket become writable again.
    pub async fn collect(&mut self) -> Vec<Vec<u8>> {
        let mut frames = Vec::new();
        for _ in 0..100_000 {
            let read = self.read();
            frames.extend(self.whole_frames());
            tokio::task::yield_now().await;
            let outbox = &self.outbox;
            let _ = std::future::poll_fn(|cx| Poll::Ready(outbox.poll_drain(cx))).await;
            if read == 0 && !self.outbox.pending() && self.read() == 0 {
                break;
            }
        }
        frames.extend(self.whole_frames());
        frames
    }

    /// Reads what has arrived; how many bytes.
    fn read(&mut self) -> usize {
        let mut chunk = [0u8; 16_384];
        let mut total = 0;
        while let Ok(n @ 1..) = self.socket.read(&mut chunk) {
            self.buf.extend_from_slice(&chunk[..n]);
            total += n;
        }
        total
    }

    /// The payloads of the whole frames that arrived since the last call.
    pub fn frames(&mut self) -> Vec<Vec<u8>> {
        self.read();
        self.whole_frames()
    }

    fn whole_frames(&mut self) -> Vec<Vec<u8>> {
        let mut frames = Vec::new();
        let mut rest = &self.buf[..];
        while let Some((_, payload, tail)) = protocol::frame::split_frame(rest) {
            frames.push(payload.to_vec());
            rest = tail;
        }
        let used = self.buf.len() - rest.len();
        self.buf.drain(..used);
        frames
    }
}

fn check(client: &mut Seen, message: &ServerMessage) {
    match message {
        ServerMessage::Snapshot(_) | ServerMessage::Quote(_) | ServerMessage::Trade(_) => {
            let Some((symbol, seq)) = message.market_seq() else {
                return;
            };
            let stream = client
                .seqs
                .entry(symbol.into())
                .or_insert_with(Sequence::awaiting_snapshot);
            let step = if matches!(message, ServerMessage::Snapshot(_)) {
                stream.snapshot(seq)
            } else {
                stream.event(seq)
            };
            assert!(
                step != Step::Unsynced,
                "a live {symbol} event before its snapshot"
            );
            assert!(step != Step::Stale, "{symbol} went back in seq to {seq}");
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
