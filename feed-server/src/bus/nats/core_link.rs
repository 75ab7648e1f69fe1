//! The core's side of the NATS bus: publishes every sequenced event on its symbol's subject,
//! answers edges' requests (hello, states, replays from history, orders and cancels), sends fills
//! of resting orders to the owning edge, and cancels the resting orders of an edge whose
//! heartbeat lapsed.
//!
//! To the hub the whole bus is one more edge: connections of edges over the bus get core-side ids
//! of that edge, mapped here to (edge, connection) pairs.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use async_nats::{Client, Subject};
use bytes::Bytes;
use futures_util::StreamExt;
use protocol::{ClientMessage, Decoder, ServerMessage, encode_batch, encode_server};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::hello::Hello;
use super::{
    BusSettings, EVENTS_PER_REPLAY, HEARTBEAT, MAX_REMEMBERED, MISSED_HEARTBEATS,
    REMEMBER_REQUESTS, STATES_PER_PAGE, wire,
};
use crate::bus::{ToCore, ToEdge, first_id};
use crate::feed::universe::Universe;
use crate::market::ConnId;
use crate::metrics::Metrics;

/// Connections of all edges over the bus the core keeps accounts for at most; orders of more
/// are rejected with `unavailable`.
pub const MAX_BUS_CONNECTIONS: usize = 1 << 20;
/// Edges the core keeps track of at most; heartbeats of more are ignored (and their requests
/// still answered).
pub const MAX_EDGES: usize = 4_096;

/// A request the core handled or is handling, by (edge, tag): retries get the same answers.
enum Handled {
    /// Waiting for the hub; these reply subjects get the answers.
    Waiting(Vec<Subject>),
    Answered(Bytes),
}

/// The core's state on the bus.
struct Link {
    client: Client,
    settings: BusSettings,
    to_core: mpsc::Sender<ToCore>,
    /// Each symbol's event subject, by index.
    event_subjects: Vec<Subject>,
    book_subjects: Vec<Subject>,
    symbols: usize,
    /// Connections over the bus: core-side id by (edge, connection) and back.
    ids: HashMap<(u64, u64), ConnId>,
    owners: HashMap<ConnId, (u64, u64)>,
    next_id: ConnId,
    /// Each edge heard from: when last, and its connections with accounts here.
    edges: HashMap<u64, (Instant, HashSet<u64>)>,
    /// Requests by (edge, tag), in the order they came, and the hub's tag for each.
    handled: HashMap<(u64, u64), (Instant, Handled)>,
    order: VecDeque<(Instant, (u64, u64))>,
    tags: HashMap<u64, (u64, u64)>,
    next_tag: u64,
    decoder: Decoder,
    metrics: Arc<Metrics>,
    /// Where the symbols whose source is stale are published, and the last set, once the
    /// source has said (a live ingest; never for a synthesizer or a replay).
    status: Subject,
    stale: Option<crate::bitset::BitSet>,
}

/// Serves the bus for the core until `shutdown`: `from_hub` is the hub's queue for the bus edge
/// (`edge` is its index), `to_core` the hub's queue of requests.
#[allow(clippy::too_many_arguments)] // the link's parts, each distinct
pub async fn run(
    client: Client,
    settings: BusSettings,
    hello: Hello,
    edge: usize,
    universe: Arc<Universe>,
    mut from_hub: mpsc::Receiver<ToEdge>,
    to_core: mpsc::Sender<ToCore>,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) -> Result<(), async_nats::SubscribeError> {
    let subjects = &settings.subjects;
    let hello_body = Bytes::from(serde_json::to_vec(&hello).unwrap_or_default());
    let epoch = Bytes::from(hello.epoch.clone());
    let mut hellos = client.subscribe(subjects.hello()).await?;
    let mut states = client.subscribe(subjects.state()).await?;
    let mut replays = client.subscribe(subjects.replay()).await?;
    let mut orders = client.subscribe(subjects.orders()).await?;
    let mut heartbeats = client.subscribe(subjects.edge_heartbeat()).await?;
    let core_heartbeat = Subject::from(subjects.core_heartbeat());
    let status = Subject::from(subjects.status());
    let mut link = Link {
        event_subjects: universe
            .symbols()
            .map(|s| Subject::from(subjects.events(s)))
            .collect(),
        book_subjects: universe
            .symbols()
            .map(|s| Subject::from(subjects.books(s)))
            .collect(),
        symbols: universe.len(),
        client: client.clone(),
        settings: settings.clone(),
        to_core,
        ids: HashMap::new(),
        owners: HashMap::new(),
        next_id: first_id(edge),
        edges: HashMap::new(),
        handled: HashMap::new(),
        order: VecDeque::new(),
        tags: HashMap::new(),
        next_tag: 1,
        decoder: Decoder::new(),
        metrics,
        status,
        stale: None,
    };
    let mut tick = tokio::time::interval(HEARTBEAT);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut from_hub_open = true;
    loop {
        tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            message = from_hub.recv(), if from_hub_open => match message {
                Some(message) => link.on_hub(message).await,
                None => from_hub_open = false,
            },
            Some(request) = orders.next() => link.on_request(request).await,
            Some(beat) = heartbeats.next() => link.on_heartbeat(&beat.payload),
            Some(request) = hellos.next() => {
                if let Some(reply) = request.reply {
                    let _ = client.publish(reply, hello_body.clone()).await;
                }
            }
            Some(request) = states.next() => link.on_state(request).await,
            Some(request) = replays.next() => link.on_replay(request).await,
            _ = tick.tick() => {
                let _ = client.publish(core_heartbeat.clone(), epoch.clone()).await;
                // Again with every heartbeat, for edges that joined since it changed.
                link.publish_status().await;
                link.check_edges().await;
                link.forget_old();
            }
        }
    }
    // What is in flight goes out before the process ends, if the bus is there to take it.
    let _ = tokio::time::timeout(super::FLUSH_TIMEOUT, client.flush()).await;
    Ok(())
}

impl Link {
    async fn on_hub(&mut self, message: ToEdge) {
        match message {
            ToEdge::Events(batch) => {
                // While the bus is away events are not queued for it: edges repair the gap from
                // history once it is back.
                if self.client.connection_state() != async_nats::connection::State::Connected {
                    self.metrics.bus_dropped.inc_by(batch.len() as u64);
                    return;
                }
                for delivery in batch.iter() {
                    let sequenced = &delivery.sequenced;
                    let subjects = match sequenced.event.stream() {
                        protocol::recording::Stream::Quotes => &self.event_subjects,
                        protocol::recording::Stream::Book => &self.book_subjects,
                    };
                    let Some(subject) = subjects.get(sequenced.symbol) else {
                        continue;
                    };
                    // Each body is handed to the NATS client as it is: one allocation, no copy.
                    let mut body = Vec::with_capacity(wire::QUOTE_BYTES);
                    wire::put_event(&mut body, sequenced);
                    if self
                        .client
                        .publish(subject.clone(), Bytes::from(body))
                        .await
                        .is_ok()
                    {
                        self.metrics.bus_messages.inc();
                    }
                }
            }
            ToEdge::Answers { tag, answers, .. } => {
                let Some(key) = self.tags.remove(&tag) else {
                    return;
                };
                let body = Bytes::from(answers_body(&answers));
                if let Some((_, handled)) = self.handled.get_mut(&key) {
                    let waiting = std::mem::replace(handled, Handled::Answered(body.clone()));
                    if let Handled::Waiting(replies) = waiting {
                        for reply in replies {
                            let _ = self.client.publish(reply, body.clone()).await;
                        }
                    }
                }
            }
            ToEdge::Fill { id, fill } => {
                let Some(&(edge, conn)) = self.owners.get(&id) else {
                    return;
                };
                let body = wire::put_fill(conn, encode_server(&fill).as_bytes());
                let subject = self.settings.subjects.fills(edge);
                let _ = self.client.publish(subject, Bytes::from(body)).await;
            }
            ToEdge::Restore { .. }
            | ToEdge::RestoreBook { .. }
            | ToEdge::Following { .. }
            | ToEdge::Backfill { .. } => {}
            ToEdge::Status(stale) => {
                self.stale = Some(stale);
                self.publish_status().await;
            }
        }
    }

    /// Which symbols' source is stale, once the source has said.
    async fn publish_status(&self) {
        if let Some(stale) = &self.stale {
            let body = Bytes::from(wire::put_status(stale));
            let _ = self.client.publish(self.status.clone(), body).await;
        }
    }

    /// An order, a cancel or a close from an edge.
    async fn on_request(&mut self, request: async_nats::Message) {
        let Some(reply) = request.reply else {
            return;
        };
        let Ok(wire::Request {
            edge,
            conn,
            tag,
            message,
        }) = wire::request(&request.payload)
        else {
            tracing::warn!("a malformed request on the bus; ignored");
            return;
        };
        if let Some(entry) = self.edges.get_mut(&edge) {
            entry.0 = Instant::now();
        } else if self.edges.len() < MAX_EDGES {
            self.edges.insert(edge, (Instant::now(), HashSet::new()));
        }
        if message.is_empty() {
            // The connection closed: its resting orders go.
            if let Some(id) = self.ids.remove(&(edge, conn)) {
                self.owners.remove(&id);
                if let Some((_, conns)) = self.edges.get_mut(&edge) {
                    conns.remove(&conn);
                }
                let _ = self.to_core.send(ToCore::Close { id }).await;
            }
            let _ = self.client.publish(reply, Bytes::new()).await;
            return;
        }
        match self.handled.get_mut(&(edge, tag)) {
            Some((_, Handled::Answered(body))) => {
                let body = body.clone();
                let _ = self.client.publish(reply, body).await;
                return;
            }
            Some((_, Handled::Waiting(replies))) => {
                // Retries of one request: an honest edge sends a few.
                if replies.len() < 2 * super::REQUEST_TRIES as usize {
                    replies.push(reply);
                }
                return;
            }
            None => {}
        }
        let parsed = self.decoder.client(message);
        let Some(id) = self.id_of(edge, conn).await else {
            let reject = crate::market::reject(
                &order_id(parsed.as_ref().ok()),
                protocol::RejectCode::Unavailable,
                "the market core serves too many connections".to_owned(),
                None,
                protocol::now_ns(),
            );
            let _ = self
                .client
                .publish(reply, Bytes::from(answers_body(&[reject])))
                .await;
            return;
        };
        let core_tag = self.next_tag;
        self.next_tag = self.next_tag.wrapping_add(1);
        let command = match parsed {
            Ok(ClientMessage::Order(order)) => ToCore::Order {
                id,
                order,
                tag: core_tag,
            },
            Ok(ClientMessage::Cancel(cancel)) => ToCore::Cancel {
                id,
                cancel,
                tag: core_tag,
            },
            _ => {
                tracing::warn!(
                    edge,
                    "a request on the bus that is not an order or a cancel; ignored"
                );
                return;
            }
        };
        let now = Instant::now();
        if self.order.len() >= MAX_REMEMBERED {
            self.forget_old();
        }
        self.handled
            .insert((edge, tag), (now, Handled::Waiting(vec![reply])));
        self.order.push_back((now, (edge, tag)));
        self.tags.insert(core_tag, (edge, tag));
        let _ = self.to_core.send(command).await;
    }

    /// The core-side id of an edge's connection, opening its account on first use.
    async fn id_of(&mut self, edge: u64, conn: u64) -> Option<ConnId> {
        if let Some(&id) = self.ids.get(&(edge, conn)) {
            return Some(id);
        }
        if self.ids.len() >= MAX_BUS_CONNECTIONS {
            return None;
        }
        let id = self.next_id;
        self.next_id = self.next_id.checked_add(1)?;
        self.ids.insert((edge, conn), id);
        self.owners.insert(id, (edge, conn));
        if let Some((_, conns)) = self.edges.get_mut(&edge) {
            conns.insert(conn);
        }
        let _ = self.to_core.send(ToCore::Open { id }).await;
        Some(id)
    }

    fn on_heartbeat(&mut self, body: &[u8]) {
        if let Ok((edge, _connections)) = wire::heartbeat(body) {
            if let Some(entry) = self.edges.get_mut(&edge) {
                entry.0 = Instant::now();
            } else if self.edges.len() < MAX_EDGES {
                self.edges.insert(edge, (Instant::now(), HashSet::new()));
            }
        }
    }

    /// Edges not heard from for [`MISSED_HEARTBEATS`] beats are gone: their connections'
    /// accounts close, and with them their resting orders.
    async fn check_edges(&mut self) {
        let lapse = HEARTBEAT * MISSED_HEARTBEATS;
        let gone: Vec<u64> = self
            .edges
            .iter()
            .filter(|(_, (seen, _))| seen.elapsed() > lapse)
            .map(|(&edge, _)| edge)
            .collect();
        for edge in gone {
            let Some((_, conns)) = self.edges.remove(&edge) else {
                continue;
            };
            tracing::warn!(
                edge = format_args!("{edge:016x}"),
                connections = conns.len(),
                "an edge's heartbeat lapsed; its connections' resting orders are canceled"
            );
            for conn in conns {
                if let Some(id) = self.ids.remove(&(edge, conn)) {
                    self.owners.remove(&id);
                    let _ = self.to_core.send(ToCore::Close { id }).await;
                }
            }
        }
    }

    /// Forgets requests handled long ago, and the oldest past [`MAX_REMEMBERED`].
    fn forget_old(&mut self) {
        while let Some(&(at, key)) = self.order.front() {
            if at.elapsed() < REMEMBER_REQUESTS && self.order.len() < MAX_REMEMBERED {
                break;
            }
            self.order.pop_front();
            if self.handled.get(&key).is_some_and(|(t, _)| *t == at) {
                self.handled.remove(&key);
            }
        }
    }

    /// A page of states: asked of the hub, answered from a task of its own, so the link goes on
    /// draining the hub's queue meanwhile.
    async fn on_state(&mut self, request: async_nats::Message) {
        let Some(reply) = request.reply else {
            return;
        };
        let first = request
            .payload
            .first_chunk::<4>()
            .map_or(0, |b| u32::from_le_bytes(*b) as usize);
        let (tx, rx) = oneshot::channel();
        if self
            .to_core
            .send(ToCore::State { reply: tx })
            .await
            .is_err()
        {
            return;
        }
        let client = self.client.clone();
        let budget = client.max_payload().saturating_sub(13);
        tokio::spawn(async move {
            let Ok(all) = rx.await else { return };
            let first = first.min(all.len());
            // As many states as fit the server's payload limit (books make them vary), at
            // least one.
            let (mut end, mut bytes) = (first, 0);
            while end < all.len() && end - first < STATES_PER_PAGE {
                let size = wire::state_bytes(&all[end]);
                if end > first && bytes + size > budget {
                    break;
                }
                bytes += size;
                end += 1;
            }
            let page = &all[first..end];
            let mut body = Vec::new();
            wire::put_states(&mut body, all.len(), first, page);
            let _ = client.publish(reply, Bytes::from(body)).await;
        });
    }

    async fn on_replay(&mut self, request: async_nats::Message) {
        let Some(reply) = request.reply else {
            return;
        };
        let Ok((symbol, after, until)) = wire::replay_request(&request.payload) else {
            return;
        };
        let Some(symbol) = usize::try_from(symbol).ok().filter(|&s| s < self.symbols) else {
            return;
        };
        let (tx, rx) = oneshot::channel();
        // An answer fits the NATS server's max_payload.
        let fits = (self.client.max_payload().saturating_sub(5) / wire::QUOTE_BYTES).max(1);
        let command = ToCore::Replay {
            symbol,
            after,
            until,
            max: EVENTS_PER_REPLAY.min(fits),
            reply: tx,
        };
        if self.to_core.send(command).await.is_err() {
            return;
        }
        let client = self.client.clone();
        tokio::spawn(async move {
            let Ok(events) = rx.await else { return };
            let mut body = Vec::new();
            wire::put_events(&mut body, events.as_deref());
            let _ = client.publish(reply, Bytes::from(body)).await;
        });
    }
}

/// Answers as one JSON array, the protocol's batch form.
pub fn answers_body(answers: &[ServerMessage]) -> Vec<u8> {
    let encoded: Vec<String> = answers.iter().map(encode_server).collect();
    encode_batch(encoded.iter().map(String::as_str)).into_bytes()
}

fn order_id(message: Option<&ClientMessage>) -> protocol::OrderId {
    match message {
        Some(ClientMessage::Order(o)) => o.id.clone(),
        Some(ClientMessage::Cancel(c)) => c.id.clone(),
        _ => protocol::OrderId::default(),
    }
}
