//! The hub: owns market state, subscriptions and the order simulator, and fans events out.
//!
//! It runs as one task. Events arrive from the [`crate::pacer`] as they fall due (synthesized or
//! replayed: the hub does not know which), in batches the pacer sizes to the rate. The hub stamps
//! and encodes each event **once**, then at once makes a pass: each subscribed client gets one
//! frame with everything it wants from the batch, written straight to its socket
//! ([`crate::outbox`]). Clients subscribed to every symbol share a single frame, so a pass costs one
//! encode per event plus one socket write per client. The hub never waits for a client: what a
//! socket does not take waits in its outbox, and a client whose outbox is full is switched to
//! conflation (it is sent fresh snapshots of the symbols it missed once it has room again).
//!
//! A pass yields to the runtime every [`CLIENTS_PER_TURN`] clients and answers the orders that
//! came in meanwhile before it goes on, so an order waits for a few writes, not for a whole
//! fan-out.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use protocol::binary::SymbolIds;
use protocol::{Cancel, Encoding, Order, ServerMessage, encode_server, now_ns};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::bitset::BitSet;
use crate::config::Config;
use crate::event::{Due, MarketEvent};
use crate::frames;
use crate::market::Market;
use crate::matching::{Account, ConnId, Limits, Matching};
use crate::metrics::{Metrics, Tally};
use crate::outbox::{Outlet, Refused};
use crate::universe::Universe;

/// What a connection asks of the hub.
#[derive(Debug)]
pub enum Command {
    Connect { id: ConnId, outlet: Outlet },
    Disconnect { id: ConnId },
    Subscribe { id: ConnId, symbols: BitSet },
    Unsubscribe { id: ConnId, symbols: BitSet },
    Order { id: ConnId, order: Order },
    Cancel { id: ConnId, cancel: Cancel },
}

/// Clients written to between two looks at inbound orders. One write costs 3 to 4 us of CPU,
/// so an order waits about 60 us at most for the pass under way, and each look (a poll of the
/// sockets) costs about one write per 16.
pub const CLIENTS_PER_TURN: usize = 16;
/// How often passes run without events while some client is owed snapshots (after conflation, or
/// a subscription larger than its outbox).
const OWED_RETRY: Duration = Duration::from_millis(10);

/// The hub's view of one connection.
#[derive(Debug)]
struct Client {
    outlet: Outlet,
    subscribed: BitSet,
    /// The queue was full: nothing is sent until half of it is free again.
    conflating: bool,
    /// The connection's subprotocol, for every frame it is sent.
    encoding: Encoding,
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
    /// This pass's events, encoded.
    pass_events: Vec<PassEvent>,
    /// The encoded size of `pass_events`, which is about the size of a client's frame.
    pass_bytes: usize,
    /// This pass's frame for clients subscribed to every symbol, per encoding, made on first use.
    shared_frame: [Option<(Bytes, usize)>; 2],
    /// Clients per encoding: each event is encoded once, up front, in the encodings in use.
    in_use: [usize; 2],
    /// Clients the pass under way has yet to visit.
    visiting: Vec<ConnId>,
    /// Some client is conflating or owed snapshots: passes are due even without events.
    owed: bool,
    /// Clients to drop after the current loop over clients.
    dropped: Vec<ConnId>,
    metrics: Arc<Metrics>,
    /// What the pass under way sent, added to `metrics` at its end.
    tally: Tally,
    /// When the pass under way began.
    pass_started: Option<Instant>,
}

impl Hub {
    pub fn new(universe: Arc<Universe>, config: &Config, metrics: Arc<Metrics>) -> Self {
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
            pass_events: Vec::new(),
            pass_bytes: 0,
            shared_frame: [None, None],
            in_use: [0, 0],
            visiting: Vec::new(),
            owed: false,
            dropped: Vec::new(),
            metrics,
            tally: Tally::default(),
            pass_started: None,
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
        let mut retry = tokio::time::interval(OWED_RETRY);
        retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut pending = Vec::with_capacity(64);
        let mut deferred = Vec::new();
        let mut arrived = Vec::with_capacity(64);
        let mut source_open = true;
        loop {
            tokio::select! {
                biased;
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
                    self.deliver(&mut commands, &mut deferred).await;
                }
                _ = retry.tick(), if self.owed => self.deliver(&mut commands, &mut deferred).await,
            }
        }
    }

    /// Makes a pass, a few clients at a time. In between, the runtime polls the sockets, and
    /// orders and cancels that arrived are answered before the pass goes on. Anything else (and
    /// whatever follows it) waits for the pass to end, so that no subscription sees half a pass.
    async fn deliver(
        &mut self,
        commands: &mut mpsc::Receiver<Command>,
        deferred: &mut Vec<Command>,
    ) {
        self.begin_pass();
        while !self.fan_out(CLIENTS_PER_TURN) {
            tokio::task::yield_now().await;
            while let Ok(command) = commands.try_recv() {
                if deferred.is_empty()
                    && matches!(command, Command::Order { .. } | Command::Cancel { .. })
                {
                    self.handle(command);
                } else {
                    deferred.push(command);
                }
            }
        }
        for command in deferred.drain(..) {
            self.handle(command);
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

    /// Delivers this pass's events and owed snapshots, to every client in one go.
    pub fn pass(&mut self) {
        self.begin_pass();
        while !self.fan_out(usize::MAX) {}
    }

    fn begin_pass(&mut self) {
        self.visiting.clear();
        self.visiting.extend(self.clients.keys());
        self.owed = false;
        self.pass_started = Some(Instant::now());
    }

    /// Visits up to `n` more clients of the pass under way; true when the pass is over.
    fn fan_out(&mut self, n: usize) -> bool {
        for _ in 0..n {
            let Some(id) = self.visiting.pop() else {
                break;
            };
            self.visit(id);
        }
        self.remove_dropped();
        if !self.visiting.is_empty() {
            return false;
        }
        self.pass_events.clear();
        self.pass_bytes = 0;
        self.shared_frame = [None, None];
        if let Some(started) = self.pass_started.take() {
            self.metrics
                .pass_seconds
                .observe(started.elapsed().as_secs_f64());
        }
        self.metrics.add(&std::mem::take(&mut self.tally));
        true
    }

    fn produce(&mut self, due: &Due, now: u64) {
        let event = due.event;
        let symbol = event.symbol();
        let Some(market) = self.markets.get_mut(symbol) else {
            tracing::warn!(symbol, "event for a symbol outside the universe; dropped");
            return;
        };
        let message = market.apply(&event, due.due_ns);
        // Encoded once per encoding in use, for every client of it.
        let ids = self.universe.ids();
        let json = (self.in_use[Encoding::Json as usize] > 0)
            .then(|| Bytes::from(encode_server(&message)));
        let bin = (self.in_use[Encoding::Bin as usize] > 0)
            .then(|| frames::encode(Encoding::Bin, &message, ids));
        let size = json
            .as_ref()
            .map_or(0, Bytes::len)
            .max(bin.as_ref().map_or(0, Bytes::len));
        self.pass_bytes += size + 1;
        self.pass_events.push(PassEvent { symbol, json, bin });
        let traded = match event {
            MarketEvent::Trade { price, .. } => Some(price),
            MarketEvent::Quote { .. } => None,
        };
        let (clients, dropped, metrics) = (&mut self.clients, &mut self.dropped, &self.metrics);
        let ids = self.universe.ids();
        self.matching.on_market(
            symbol,
            &self.markets[symbol],
            traded,
            now,
            |conn, id, fill| {
                if let Some(client) = clients.get_mut(&conn) {
                    Matching::filled(&mut client.account, id);
                    metrics.fills.inc();
                    // A fill is never dropped: a client that cannot take it is disconnected.
                    let frame = frames::encode(client.encoding, &fill, ids);
                    if reply(&client.outlet, metrics, &frame).is_err() {
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

    /// Gives one client what it wants of this pass: its events, then any snapshots it is owed.
    fn visit(&mut self, id: ConnId) {
        let Some(client) = self.clients.get_mut(&id) else {
            return;
        };
        let encoding = client.encoding;
        if client.subscribed.is_empty() {
            return;
        }
        if client.conflating {
            mark_stale(client, &self.pass_events);
            if !client.outlet.half_free() {
                self.owed = true;
                return;
            }
            client.conflating = false;
        }
        // Live events of the symbols that are not owed a snapshot; the snapshots sent after
        // them already include this pass's events of the others.
        let frame = if client.subscribed.len() == self.universe.len() && client.stale.is_empty() {
            if self.pass_events.is_empty() {
                None
            } else {
                let events = &self.pass_events;
                Some(
                    self.shared_frame[encoding as usize]
                        .get_or_insert_with(|| {
                            let parts = events.iter().filter_map(|e| e.part(encoding));
                            (frames::join(encoding, parts.clone()), parts.count())
                        })
                        .clone(),
                )
                .filter(|(_, count)| *count > 0)
            }
        } else {
            let mine = self
                .pass_events
                .iter()
                .filter(|e| {
                    client.subscribed.contains(e.symbol) && !client.stale.contains(e.symbol)
                })
                .filter_map(|e| e.part(encoding));
            let count = mine.clone().count();
            (count > 0).then(|| (frames::join(encoding, mine), count))
        };
        if let Some((frame, events)) = frame {
            match client.outlet.data(&frame) {
                Ok(()) => self.tally.data(events, frame.len()),
                Err(Refused::Full) => {
                    tracing::debug!(conn = id, "outbox full; conflating");
                    client.conflating = true;
                    self.tally.conflations += 1;
                    mark_stale(client, &self.pass_events);
                }
                Err(Refused::Closed) => {
                    self.dropped.push(id);
                    return;
                }
            }
        }
        if send_snapshots(client, &self.markets, &mut self.tally, self.universe.ids()).is_err() {
            self.dropped.push(id);
            return;
        }
        self.owed |= client.conflating || !client.stale.is_empty();
    }

    pub fn handle(&mut self, command: Command) {
        let now = now_ns();
        match command {
            Command::Connect { id, outlet } => {
                let limits = self.matching.limits;
                let n = self.universe.len();
                let encoding = outlet.encoding();
                self.remove(id);
                self.in_use[encoding as usize] += 1;
                self.clients.insert(
                    id,
                    Client {
                        encoding,
                        outlet,
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
                if self.pass_events.is_empty() {
                    if send_snapshots(client, &self.markets, &mut self.tally, self.universe.ids())
                        .is_err()
                    {
                        self.remove(id);
                        return;
                    }
                    self.owed |= client.conflating || !client.stale.is_empty();
                } else {
                    self.owed = true;
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
                for message in &replies {
                    count_reply(&self.metrics, message);
                }
                let frame = frames::encode_all(client.encoding, &replies, self.universe.ids());
                if reply(&client.outlet, &self.metrics, &frame).is_err() {
                    self.remove(id);
                }
            }
            Command::Cancel { id, cancel } => {
                let Some(client) = self.clients.get_mut(&id) else {
                    return;
                };
                let answer = self.matching.cancel(id, &mut client.account, &cancel, now);
                count_reply(&self.metrics, &answer);
                if reply(
                    &client.outlet,
                    &self.metrics,
                    &frames::encode(client.encoding, &answer, self.universe.ids()),
                )
                .is_err()
                {
                    self.remove(id);
                }
            }
        }
    }

    fn remove(&mut self, id: ConnId) {
        if let Some(client) = self.clients.remove(&id) {
            let count = &mut self.in_use[client.encoding as usize];
            *count = count.saturating_sub(1);
            self.matching.drop_connection(id, &client.account);
        }
    }

    /// Connections the hub serves now.
    pub fn clients(&self) -> usize {
        self.clients.len()
    }
}

/// Sends an order reply, counting it.
fn reply(outlet: &Outlet, metrics: &Metrics, frame: &Bytes) -> Result<(), Refused> {
    outlet.reply(frame)?;
    metrics.replied(frame.len());
    Ok(())
}

/// Counts an answer to an order or a cancel by what it says.
fn count_reply(metrics: &Metrics, message: &ServerMessage) {
    match message {
        ServerMessage::Ack(_) => {
            metrics.acks.inc();
        }
        ServerMessage::Fill(_) => {
            metrics.fills.inc();
        }
        ServerMessage::Canceled(_) => {
            metrics.canceled.inc();
        }
        ServerMessage::Reject(r) => metrics.rejected(r.code),
        _ => {}
    }
}

/// Marks the subscribed symbols of this pass's events as owed a snapshot.
fn mark_stale(client: &mut Client, events: &[PassEvent]) {
    for &PassEvent { symbol, .. } in events {
        if client.subscribed.contains(symbol) {
            client.stale.insert(symbol);
        }
    }
}

/// Sends the snapshots a client is owed, in frames of about [`SNAPSHOT_FRAME_BYTES`], as far as
/// its outbox has room; the rest go on a later pass. `Err` when the client is gone.
fn send_snapshots(
    client: &mut Client,
    markets: &[Market],
    tally: &mut Tally,
    ids: &SymbolIds,
) -> Result<(), ()> {
    if client.conflating || client.stale.is_empty() {
        return Ok(());
    }
    let mut parts: Vec<Bytes> = Vec::new();
    let mut bytes = 0;
    let mut in_frame: Vec<usize> = Vec::new();
    let owed: Vec<usize> = client.stale.iter().collect();
    for (n, &symbol) in owed.iter().enumerate() {
        let Some(market) = markets.get(symbol) else {
            client.stale.remove(symbol);
            continue;
        };
        let part = frames::encode(client.encoding, &market.snapshot(), ids);
        bytes += part.len() + 1;
        parts.push(part);
        in_frame.push(symbol);
        if bytes < SNAPSHOT_FRAME_BYTES && n + 1 < owed.len() {
            continue;
        }
        let frame = frames::join(client.encoding, parts.iter());
        match client.outlet.data(&frame) {
            Ok(()) => {
                tally.data(0, frame.len());
                for &s in &in_frame {
                    client.stale.remove(s);
                }
            }
            Err(Refused::Full) => {
                client.conflating = true;
                tally.conflations += 1;
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

/// One event of the pass under way, in the encodings its clients use.
///
/// A client of an encoding no one used when the event arrived cannot be owed it: it connected
/// after the event, and a subscription made while events wait for their pass marks their symbols
/// stale, so it gets snapshots that include them instead.
#[derive(Debug)]
struct PassEvent {
    symbol: usize,
    json: Option<Bytes>,
    bin: Option<Bytes>,
}

impl PassEvent {
    fn part(&self, encoding: Encoding) -> Option<&Bytes> {
        match encoding {
            Encoding::Json => self.json.as_ref(),
            Encoding::Bin => self.bin.as_ref(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SymbolChoice;
    use crate::drill::{Peer, pair};
    use crate::outbox::Outbox;
    use protocol::{Decimal, Side};

    fn hub() -> Hub {
        let config = Config {
            rate: 100_000,
            ..Config::default()
        };
        Hub::new(
            Arc::new(Universe::new(&SymbolChoice::Default, 1)),
            &config,
            Arc::default(),
        )
    }

    /// Connects a client over a loopback socket whose outbox holds `replies` replies at most.
    async fn connect(hub: &mut Hub, id: ConnId, replies: usize) -> (Arc<Outbox>, Peer) {
        let limits = crate::outbox::Limits {
            replies,
            ..Config::default().outbox_limits()
        };
        let (outbox, peer) = pair(limits).unwrap();
        hub.handle(Command::Connect {
            id,
            outlet: Outlet::new(outbox.clone()),
        });
        // The runtime learns that the new socket is writable.
        tokio::task::yield_now().await;
        (outbox, peer)
    }

    fn texts(frames: &[Vec<u8>]) -> Vec<String> {
        frames
            .iter()
            .map(|f| String::from_utf8_lossy(f).into_owned())
            .collect()
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

    #[tokio::test]
    async fn a_fill_that_cannot_be_queued_disconnects_the_client_instead_of_vanishing() {
        let mut hub = hub();
        let (outbox, mut peer) = connect(&mut hub, 1, 2).await;
        // A client that does not read: one large frame fills its socket, and what follows waits.
        assert_eq!(outbox.data(&Bytes::from(vec![b' '; 1 << 20])), Ok(()));
        assert!(outbox.pending());
        hub.handle(resting_buy(&hub, "r1"));
        hub.handle(resting_buy(&hub, "r2"));
        // Both acks wait; the first fill finds two replies waiting and cannot be queued.
        assert_eq!(hub.clients(), 1);
        assert!(
            run_until(&mut hub, |h| h.clients() == 0),
            "the client was neither filled nor dropped"
        );
        assert!(outbox.released());
        // What was queued is still delivered.
        let frames = texts(&peer.collect().await);
        assert_eq!(
            frames.iter().filter(|f| f.contains("\"ack\"")).count(),
            2,
            "{:?}",
            &frames[1..]
        );
        assert!(!frames.iter().any(|f| f.contains("\"fill\"")));
    }

    #[tokio::test]
    async fn a_client_with_room_gets_its_fill() {
        let mut hub = hub();
        let (_outbox, mut peer) = connect(&mut hub, 1, 16).await;
        hub.handle(resting_buy(&hub, "r1"));
        let mut frames = Vec::new();
        let filled = run_until(&mut hub, |_| {
            frames.extend(texts(&peer.frames()));
            frames.iter().any(|f| f.contains("\"fill\""))
        });
        assert!(filled, "{frames:?}");
        assert_eq!(hub.clients(), 1);
    }

    #[tokio::test]
    async fn a_subscription_between_events_and_their_pass_sees_no_event_twice() {
        let mut hub = hub();
        let (_outbox, mut peer) = connect(&mut hub, 1, 16).await;
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
            frames.extend(peer.collect().await);
        }
        let mut decoder = protocol::Decoder::new();
        let mut last: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
        let mut events = 0;
        for f in &frames {
            for m in decoder.server(f).unwrap() {
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

    #[tokio::test]
    async fn events_far_ahead_of_the_pass_go_out_in_bounded_frames() {
        let mut hub = hub();
        let (_outbox, mut peer) = connect(&mut hub, 1, 16).await;
        let mut all = BitSet::new(hub.universe.len());
        all.insert_all();
        hub.handle(Command::Subscribe {
            id: 1,
            symbols: all,
        });
        peer.collect().await;
        let mut synth = crate::synth::Synthesizer::new(&hub.universe.clone(), 1);
        let now = now_ns();
        // 20,000 events (about 2.6 MB encoded) with no pass in between: a replay at max speed.
        for _ in 0..4 {
            hub.on_events(&synth.burst(5_000, now), now);
        }
        hub.pass();
        let frames = peer.collect().await;
        let mut events = 0;
        let mut decoder = protocol::Decoder::new();
        for f in &frames {
            events += decoder.server(f).unwrap().len();
        }
        assert_eq!(events, 20_000);
        let sizes: Vec<usize> = frames.iter().map(Vec::len).collect();
        assert!(sizes.len() >= 8, "{sizes:?}");
        assert!(
            sizes.iter().all(|&s| s <= MAX_PASS_BYTES + 1_024),
            "{sizes:?}"
        );
    }
}
