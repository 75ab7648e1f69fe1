//! The hub: owns market state, subscriptions and the order simulator, and fans events out.
//!
//! It runs as one task. Events arrive from the [`crate::pacer`] as they fall due (synthesized or
//! replayed: the hub does not know which); it stamps and encodes each **once** on arrival, and
//! every pass (`--batch-us`, 1 ms by default) gives each subscribed client one frame with
//! everything it wants from the pass: clients subscribed to every symbol share a single frame, so a
//! pass costs one encode per event plus one queue push per client, and each connection task writes
//! its socket once per pass. The hub never awaits a client: queues are bounded and a full one
//! switches that client to conflation (it is sent fresh snapshots of the symbols it missed once it
//! has room again).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use protocol::{Cancel, Order, ServerMessage, encode_batch, encode_server, now_ns};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;
use tokio_tungstenite::tungstenite::Utf8Bytes;
use tokio_util::sync::CancellationToken;

use crate::bitset::BitSet;
use crate::config::Config;
use crate::event::{Due, MarketEvent};
use crate::market::Market;
use crate::matching::{Account, ConnId, Limits, Matching};
use crate::universe::Universe;

/// What a connection asks of the hub.
#[derive(Debug)]
pub enum Command {
    Connect { id: ConnId, queues: Queues },
    Disconnect { id: ConnId },
    Subscribe { id: ConnId, symbols: BitSet },
    Unsubscribe { id: ConnId, symbols: BitSet },
    Order { id: ConnId, order: Order },
    Cancel { id: ConnId, cancel: Cancel },
}

/// The hub's ends of one connection's queues.
#[derive(Debug)]
pub struct Queues {
    /// Market data: bounded in frames and bytes; when full the client is conflated.
    pub data: mpsc::Sender<Utf8Bytes>,
    /// Replies to the client's own orders: bounded; never dropped, so a client that lets it fill
    /// is disconnected.
    pub ctrl: mpsc::Sender<Utf8Bytes>,
    /// Bytes queued on either queue and not yet written: the hub adds before it queues, the
    /// connection subtracts after it wrote.
    pub queued_bytes: Arc<AtomicUsize>,
}

/// Why a frame was not queued.
#[derive(Debug, PartialEq, Eq)]
enum Refused {
    Full,
    Closed,
}

impl Queues {
    fn push(
        &self,
        queue: &mpsc::Sender<Utf8Bytes>,
        frame: Utf8Bytes,
        budget: Option<usize>,
    ) -> Result<(), Refused> {
        let len = frame.as_str().len();
        let before = self.queued_bytes.fetch_add(len, Ordering::Relaxed);
        if let Some(limit) = budget
            && before > 0
            && before.saturating_add(len) > limit
        {
            self.queued_bytes.fetch_sub(len, Ordering::Relaxed);
            return Err(Refused::Full);
        }
        queue.try_send(frame).map_err(|e| {
            self.queued_bytes.fetch_sub(len, Ordering::Relaxed);
            match e {
                TrySendError::Full(_) => Refused::Full,
                TrySendError::Closed(_) => Refused::Closed,
            }
        })
    }

    /// Queues market data within the byte budget `limit`.
    fn data(&self, frame: Utf8Bytes, limit: usize) -> Result<(), Refused> {
        self.push(&self.data, frame, Some(limit))
    }

    /// Queues a reply; only the frame count bounds it.
    fn ctrl(&self, frame: Utf8Bytes) -> Result<(), Refused> {
        self.push(&self.ctrl, frame, None)
    }

    /// Whether half the data queue is free again, in frames and in bytes.
    fn half_free(&self, limit: usize) -> bool {
        self.data.capacity() * 2 >= self.data.max_capacity()
            && self.queued_bytes.load(Ordering::Relaxed) <= limit / 2
    }
}

/// The hub's view of one connection.
#[derive(Debug)]
struct Client {
    queues: Queues,
    subscribed: BitSet,
    /// The queue was full: nothing is sent until half of it is free again.
    conflating: bool,
    /// Subscribed symbols owed a snapshot before any live event: newly subscribed ones, and those
    /// with events missed while conflating.
    stale: BitSet,
    account: Account,
}

/// Snapshots are sent in frames of about this size, so a `*` subscription on a large universe
/// is many moderate frames, not one above the write buffer's limit.
const SNAPSHOT_FRAME_BYTES: usize = 64 * 1024;
/// Events held for one pass, encoded, at most: a pass this large goes out at once. Far below a
/// connection's write-buffer bound (16 MiB) and its queue's byte budget (4 MiB by default).
pub const MAX_PASS_BYTES: usize = 256 * 1024;

/// The hub task's state.
#[derive(Debug)]
pub struct Hub {
    universe: Arc<Universe>,
    markets: Vec<Market>,
    matching: Matching,
    clients: HashMap<ConnId, Client>,
    batch: Duration,
    /// This pass's events: symbol index and encoded message.
    pass_events: Vec<(usize, Utf8Bytes)>,
    /// The encoded size of `pass_events`, which is about the size of a client's frame.
    pass_bytes: usize,
    /// Per-client byte budget of queued data (`--queue-bytes`).
    queue_bytes: usize,
    /// Clients to drop after the current loop over clients.
    dropped: Vec<ConnId>,
}

impl Hub {
    pub fn new(universe: Arc<Universe>, config: &Config) -> Self {
        let now = now_ns();
        let markets = universe
            .instruments
            .iter()
            .map(|inst| Market::new(inst.clone(), now))
            .collect();
        let lots = universe.instruments.iter().map(|i| i.lot_size).collect();
        let limits = Limits {
            max_qty: i64::try_from(config.max_order_qty).unwrap_or(i64::MAX),
            max_open: config.max_open_orders,
            max_rate: config.max_order_rate,
        };
        Self {
            matching: Matching::new(lots, limits),
            universe,
            markets,
            clients: HashMap::new(),
            batch: config.batch_interval(),
            pass_events: Vec::new(),
            pass_bytes: 0,
            queue_bytes: config.queue_byte_limit(),
            dropped: Vec::new(),
        }
    }

    /// Runs until shutdown or until every connection handle and the server are gone. When the
    /// source ends (a replay without `--loop`) the hub goes on serving snapshots and orders.
    pub async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut events: mpsc::Receiver<Vec<Due>>,
        shutdown: CancellationToken,
    ) {
        let mut ticker = tokio::time::interval(self.batch);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut pending = Vec::with_capacity(64);
        let mut arrived = Vec::with_capacity(64);
        let mut source_open = true;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                n = commands.recv_many(&mut pending, 64) => {
                    if n == 0 {
                        break;
                    }
                    for command in pending.drain(..) {
                        self.handle(command);
                    }
                }
                n = events.recv_many(&mut arrived, 64), if source_open => {
                    if n == 0 {
                        source_open = false;
                        tracing::info!("the source has ended; clients keep their last snapshots and can still trade");
                    }
                    let now = now_ns();
                    for batch in arrived.drain(..) {
                        self.on_events(&batch, now);
                    }
                }
                _ = ticker.tick() => self.pass(),
            }
        }
    }

    /// Applies events that fell due: stamps their `seq`, encodes each once for this pass, and
    /// fills resting orders they reach.
    ///
    /// A pass that reaches [`MAX_PASS_BYTES`] is delivered at once, so that no frame outgrows a
    /// connection's write buffer however far events run ahead of the pass timer (as at replay
    /// `--speed max`).
    pub fn on_events(&mut self, events: &[Due], now: u64) {
        for due in events {
            self.produce(due, now);
            if self.pass_bytes >= MAX_PASS_BYTES {
                self.pass();
            }
        }
    }

    /// Delivers this pass's events and owed snapshots.
    pub fn pass(&mut self) {
        self.fan_out();
        self.pass_events.clear();
        self.pass_bytes = 0;
    }

    fn produce(&mut self, due: &Due, now: u64) {
        let event = due.event;
        let symbol = event.symbol();
        let Some(market) = self.markets.get_mut(symbol) else {
            tracing::warn!(symbol, "event for a symbol outside the universe; dropped");
            return;
        };
        let message = market.apply(&event, due.due_ns);
        let encoded = Utf8Bytes::from(encode_server(&message));
        self.pass_bytes += encoded.len() + 1;
        self.pass_events.push((symbol, encoded));
        let traded = match event {
            MarketEvent::Trade { price, .. } => Some(price),
            MarketEvent::Quote { .. } => None,
        };
        let (clients, dropped) = (&mut self.clients, &mut self.dropped);
        self.matching.on_market(
            symbol,
            &self.markets[symbol],
            traded,
            now,
            |conn, id, fill| {
                if let Some(client) = clients.get_mut(&conn) {
                    Matching::filled(&mut client.account, id);
                    // A fill is never dropped: a client that cannot take it is disconnected.
                    if client
                        .queues
                        .ctrl(Utf8Bytes::from(encode_server(&fill)))
                        .is_err()
                    {
                        dropped.push(conn);
                    }
                }
            },
        );
        self.remove_dropped();
    }

    fn remove_dropped(&mut self) {
        while let Some(id) = self.dropped.pop() {
            tracing::debug!(conn = id, "reply queue full or closed; dropping the client");
            self.remove(id);
        }
    }

    fn fan_out(&mut self) {
        let all = self.universe.len();
        let limit = self.queue_bytes;
        let mut shared: Option<Utf8Bytes> = None;
        for (&id, client) in &mut self.clients {
            if client.subscribed.is_empty() {
                continue;
            }
            if client.conflating {
                mark_stale(client, &self.pass_events);
                if !client.queues.half_free(limit) {
                    continue;
                }
                client.conflating = false;
            }
            // Live events of the symbols that are not owed a snapshot; the snapshots sent after
            // them already include this pass's events of the others.
            let frame = if client.subscribed.len() == all && client.stale.is_empty() {
                if self.pass_events.is_empty() {
                    None
                } else {
                    Some(
                        shared
                            .get_or_insert_with(|| batch(self.pass_events.iter().map(|(_, b)| b)))
                            .clone(),
                    )
                }
            } else {
                let mut mine = self
                    .pass_events
                    .iter()
                    .filter(|(s, _)| client.subscribed.contains(*s) && !client.stale.contains(*s))
                    .map(|(_, b)| b)
                    .peekable();
                mine.peek().is_some().then(|| batch(mine))
            };
            if let Some(frame) = frame {
                match client.queues.data(frame, limit) {
                    Ok(()) => {}
                    Err(Refused::Full) => {
                        tracing::debug!(conn = id, "queue full; conflating");
                        client.conflating = true;
                        mark_stale(client, &self.pass_events);
                    }
                    Err(Refused::Closed) => {
                        self.dropped.push(id);
                        continue;
                    }
                }
            }
            if send_snapshots(client, &self.markets, limit).is_err() {
                self.dropped.push(id);
            }
        }
        self.remove_dropped();
    }

    pub fn handle(&mut self, command: Command) {
        let now = now_ns();
        match command {
            Command::Connect { id, queues } => {
                let limits = self.matching.limits;
                let n = self.universe.len();
                self.clients.insert(
                    id,
                    Client {
                        queues,
                        subscribed: BitSet::new(n),
                        conflating: false,
                        stale: BitSet::new(n),
                        account: Account::new(limits, now),
                    },
                );
            }
            Command::Disconnect { id } => self.remove(id),
            Command::Subscribe { id, symbols } => {
                let Some(client) = self.clients.get_mut(&id) else {
                    return;
                };
                client.subscribed.union_with(&symbols);
                // Subscribing again sends a fresh snapshot, so every named symbol is owed one.
                client.stale.union_with(&symbols);
                // With events applied but not yet fanned out, a snapshot now would already
                // include them, and the pass would then send them again: the pass sends it.
                if self.pass_events.is_empty()
                    && send_snapshots(client, &self.markets, self.queue_bytes).is_err()
                {
                    self.remove(id);
                }
            }
            Command::Unsubscribe { id, symbols } => {
                if let Some(client) = self.clients.get_mut(&id) {
                    client.subscribed.subtract(&symbols);
                    client.stale.subtract(&symbols);
                }
            }
            Command::Order { id, order } => {
                let Some(client) = self.clients.get_mut(&id) else {
                    return;
                };
                let symbol = self.universe.find(&order.symbol);
                let replies = self.matching.submit(
                    id,
                    &mut client.account,
                    symbol,
                    &self.markets,
                    &order,
                    now,
                );
                if let Some(ServerMessage::Reject(r)) = replies.first() {
                    tracing::debug!(conn = id, order = %r.id, code = ?r.code, reason = %r.reason, "order rejected");
                }
                let parts: Vec<String> = replies.iter().map(encode_server).collect();
                let frame = Utf8Bytes::from(encode_batch(parts.iter().map(String::as_str)));
                if client.queues.ctrl(frame).is_err() {
                    self.remove(id);
                }
            }
            Command::Cancel { id, cancel } => {
                let Some(client) = self.clients.get_mut(&id) else {
                    return;
                };
                let reply = self.matching.cancel(id, &mut client.account, &cancel, now);
                if client
                    .queues
                    .ctrl(Utf8Bytes::from(encode_server(&reply)))
                    .is_err()
                {
                    self.remove(id);
                }
            }
        }
    }

    fn remove(&mut self, id: ConnId) {
        if let Some(client) = self.clients.remove(&id) {
            self.matching.drop_connection(id, &client.account);
        }
    }

    /// Connections the hub serves now.
    pub fn clients(&self) -> usize {
        self.clients.len()
    }
}

/// Marks the subscribed symbols of this pass's events as owed a snapshot.
fn mark_stale(client: &mut Client, events: &[(usize, Utf8Bytes)]) {
    for &(symbol, _) in events {
        if client.subscribed.contains(symbol) {
            client.stale.insert(symbol);
        }
    }
}

/// Sends the snapshots a client is owed, in frames of about [`SNAPSHOT_FRAME_BYTES`], as far as
/// its queue has room; the rest go on a later pass. `Err` when the client is gone.
fn send_snapshots(client: &mut Client, markets: &[Market], limit: usize) -> Result<(), ()> {
    if client.conflating || client.stale.is_empty() {
        return Ok(());
    }
    let mut parts: Vec<String> = Vec::new();
    let mut bytes = 0;
    let mut in_frame: Vec<usize> = Vec::new();
    let owed: Vec<usize> = client.stale.iter().collect();
    for (n, &symbol) in owed.iter().enumerate() {
        let Some(market) = markets.get(symbol) else {
            client.stale.remove(symbol);
            continue;
        };
        let part = encode_server(&market.snapshot());
        bytes += part.len() + 1;
        parts.push(part);
        in_frame.push(symbol);
        if bytes < SNAPSHOT_FRAME_BYTES && n + 1 < owed.len() {
            continue;
        }
        let frame = Utf8Bytes::from(encode_batch(parts.iter().map(String::as_str)));
        match client.queues.data(frame, limit) {
            Ok(()) => {
                for &s in &in_frame {
                    client.stale.remove(s);
                }
            }
            Err(Refused::Full) => {
                client.conflating = true;
                return Ok(());
            }
            Err(Refused::Closed) => return Err(()),
        }
        parts.clear();
        in_frame.clear();
        bytes = 0;
    }
    Ok(())
}

fn batch<'a>(parts: impl Iterator<Item = &'a Utf8Bytes>) -> Utf8Bytes {
    let mut parts = parts.peekable();
    let Some(first) = parts.next() else {
        return Utf8Bytes::from_static("[]");
    };
    if parts.peek().is_none() {
        // A single event is sent as is: a refcount, not a copy.
        return first.clone();
    }
    Utf8Bytes::from(encode_batch(
        std::iter::once(first.as_str()).chain(parts.map(Utf8Bytes::as_str)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SymbolChoice;
    use protocol::{Decimal, Side};

    fn hub() -> Hub {
        let config = Config {
            rate: 100_000,
            ..Config::default()
        };
        Hub::new(Arc::new(Universe::new(&SymbolChoice::Default, 1)), &config)
    }

    /// Connects a client whose reply queue holds `ctrl` frames; returns its receivers.
    fn connect(
        hub: &mut Hub,
        id: ConnId,
        ctrl: usize,
    ) -> (mpsc::Receiver<Utf8Bytes>, mpsc::Receiver<Utf8Bytes>) {
        let (data, data_rx) = mpsc::channel(1_024);
        let (ctrl, ctrl_rx) = mpsc::channel(ctrl);
        hub.handle(Command::Connect {
            id,
            queues: Queues {
                data,
                ctrl,
                queued_bytes: Arc::new(AtomicUsize::new(0)),
            },
        });
        (data_rx, ctrl_rx)
    }

    /// A buy at the current bid of symbol 0: it rests, and fills at the next trade at the bid.
    fn resting_buy(hub: &Hub, id: &str) -> Command {
        let market = &hub.markets[0];
        Command::Order {
            id: 1,
            order: Order {
                id: id.into(),
                symbol: market.instrument.symbol.clone(),
                side: Side::Buy,
                qty: Decimal::from(100),
                price: Some(market.price(market.bid)),
                sent_ns: None,
            },
        }
    }

    /// Runs passes of 10 ms until `done` or about 10 simulated seconds.
    fn run_until(hub: &mut Hub, mut done: impl FnMut(&Hub) -> bool) -> bool {
        let mut synth = crate::synth::Synthesizer::new(&hub.universe.clone(), 1);
        let mut now = now_ns();
        for _ in 0..1_000 {
            now += 10_000_000;
            hub.on_events(&synth.burst(1_000, now), now);
            hub.pass();
            if done(hub) {
                return true;
            }
        }
        false
    }

    #[test]
    fn a_fill_that_cannot_be_queued_disconnects_the_client_instead_of_vanishing() {
        let mut hub = hub();
        let (_data, mut ctrl) = connect(&mut hub, 1, 1);
        hub.handle(resting_buy(&hub, "r1"));
        // The ack takes the one place in the reply queue; the fill finds it full.
        assert!(
            ctrl.try_recv()
                .is_ok_and(|f| f.as_str().contains("\"ack\""))
        );
        hub.handle(resting_buy(&hub, "r2"));
        assert!(
            run_until(&mut hub, |h| h.clients() == 0),
            "the client was neither filled nor dropped"
        );
        // What was queued is still delivered, then the queue ends.
        let mut rest = Vec::new();
        while let Ok(frame) = ctrl.try_recv() {
            rest.push(frame);
        }
        assert!(rest.iter().any(|f| f.as_str().contains("\"ack\"")));
        assert!(ctrl.is_closed());
    }

    #[test]
    fn a_client_with_room_gets_its_fill() {
        let mut hub = hub();
        let (_data, mut ctrl) = connect(&mut hub, 1, 16);
        hub.handle(resting_buy(&hub, "r1"));
        let mut frames = Vec::new();
        let filled = run_until(&mut hub, |_| {
            while let Ok(f) = ctrl.try_recv() {
                frames.push(f);
            }
            frames.iter().any(|f| f.as_str().contains("\"fill\""))
        });
        assert!(filled, "{frames:?}");
        assert_eq!(hub.clients(), 1);
    }

    #[test]
    fn a_subscription_between_events_and_their_pass_sees_no_event_twice() {
        let mut hub = hub();
        let (mut data, _ctrl) = connect(&mut hub, 1, 16);
        let mut synth = crate::synth::Synthesizer::new(&hub.universe.clone(), 1);
        let mut now = now_ns();
        let mut frames = Vec::new();
        for pass in 0..20 {
            now += 1_000_000;
            hub.on_events(&synth.burst(200, now), now);
            if pass == 5 {
                // Events are applied but not yet fanned out when the subscribe arrives.
                let mut all = BitSet::new(hub.universe.len());
                all.insert_all();
                hub.handle(Command::Subscribe {
                    id: 1,
                    symbols: all,
                });
            }
            hub.pass();
            while let Ok(f) = data.try_recv() {
                frames.push(f);
            }
        }
        let mut decoder = protocol::Decoder::new();
        let mut last: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
        let mut events = 0;
        for f in &frames {
            for m in decoder.server(f.as_bytes()).unwrap() {
                let Some((symbol, seq)) = m.market_seq() else {
                    continue;
                };
                if let Some(&before) = last.get(symbol) {
                    assert_eq!(seq, before + 1, "{symbol}: {seq} after {before} ({m:?})");
                    events += 1;
                } else {
                    assert!(
                        matches!(m, ServerMessage::Snapshot(_)),
                        "{m:?} before a snapshot"
                    );
                }
                last.insert(symbol.to_owned(), seq);
            }
        }
        assert!(events > 1_000, "{events}");
    }

    #[test]
    fn events_far_ahead_of_the_pass_timer_go_out_in_bounded_frames() {
        let mut hub = hub();
        let (mut data, _ctrl) = connect(&mut hub, 1, 16);
        let mut all = BitSet::new(hub.universe.len());
        all.insert_all();
        hub.handle(Command::Subscribe {
            id: 1,
            symbols: all,
        });
        while data.try_recv().is_ok() {}
        let mut synth = crate::synth::Synthesizer::new(&hub.universe.clone(), 1);
        let now = now_ns();
        // 20,000 events (about 2.6 MB encoded) with no pass in between: a replay at max speed.
        for _ in 0..4 {
            hub.on_events(&synth.burst(5_000, now), now);
        }
        hub.pass();
        let mut sizes = Vec::new();
        let mut events = 0;
        let mut decoder = protocol::Decoder::new();
        while let Ok(f) = data.try_recv() {
            sizes.push(f.len());
            events += decoder.server(f.as_bytes()).unwrap().len();
        }
        assert_eq!(events, 20_000);
        assert!(sizes.len() >= 8, "{sizes:?}");
        assert!(
            sizes.iter().all(|&s| s <= MAX_PASS_BYTES + 1_024),
            "{sizes:?}"
        );
    }
}
