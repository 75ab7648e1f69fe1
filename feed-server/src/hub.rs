//! The hub: owns market state, subscriptions and the order simulator, and fans events out.
//!
//! It runs as one task. Every pass (`--batch-us`, 1 ms by default) it generates the events due by
//! the schedule, stamps and encodes each **once**, and gives each subscribed client one frame with
//! everything it wants from the pass: clients subscribed to every symbol share a single frame, so a
//! pass costs one encode per event plus one queue push per client, and each connection task writes
//! its socket once per pass. The hub never awaits a client: queues are bounded and a full one
//! switches that client to conflation (it is sent fresh snapshots of the symbols it missed once it
//! has room again).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use protocol::{Cancel, Order, encode_batch, encode_server, now_ns};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;
use tokio_tungstenite::tungstenite::Utf8Bytes;
use tokio_util::sync::CancellationToken;

use crate::bitset::BitSet;
use crate::config::Config;
use crate::market::Market;
use crate::matching::{Account, ConnId, Limits, Matching};
use crate::synth::{SynthEvent, Synthesizer};
use crate::universe::Universe;

/// What a connection asks of the hub.
#[derive(Debug)]
pub enum Command {
    Connect {
        id: ConnId,
        data: mpsc::Sender<Utf8Bytes>,
        ctrl: mpsc::Sender<Utf8Bytes>,
    },
    Disconnect {
        id: ConnId,
    },
    Subscribe {
        id: ConnId,
        symbols: Vec<usize>,
    },
    Unsubscribe {
        id: ConnId,
        symbols: Vec<usize>,
    },
    Order {
        id: ConnId,
        order: Order,
    },
    Cancel {
        id: ConnId,
        cancel: Cancel,
    },
}

/// The hub's view of one connection.
#[derive(Debug)]
struct Client {
    /// Market data: bounded; when full the client is conflated.
    data: mpsc::Sender<Utf8Bytes>,
    /// Replies to the client's own orders: bounded; must never be dropped, so a client that lets it
    /// fill is disconnected.
    ctrl: mpsc::Sender<Utf8Bytes>,
    subscribed: BitSet,
    conflating: bool,
    /// Symbols with events this client missed while conflating.
    stale: BitSet,
    account: Account,
}

/// Events the schedule may produce in one pass at most; beyond it the hub is behind.
const MAX_EVENTS_PER_PASS: usize = 50_000;
/// Lag behind the schedule that is reported, and lag at which the backlog is dropped.
const LAG_WARN: Duration = Duration::from_millis(50);
const LAG_SKIP: Duration = Duration::from_secs(1);

/// The hub task's state.
#[derive(Debug)]
pub struct Hub {
    universe: Arc<Universe>,
    markets: Vec<Market>,
    synth: Synthesizer,
    matching: Matching,
    clients: HashMap<ConnId, Client>,
    rate: u64,
    batch: Duration,
    start_ns: u64,
    produced: u64,
    skipped: u64,
    last_lag_warning_ns: u64,
    /// This pass's events: symbol index and encoded message.
    pass_events: Vec<(usize, Utf8Bytes)>,
}

impl Hub {
    pub fn new(universe: Arc<Universe>, config: &Config) -> Self {
        let synth = Synthesizer::new(&universe, config.seed);
        let now = now_ns();
        let markets = universe
            .instruments
            .iter()
            .enumerate()
            .map(|(i, inst)| Market::new(inst.clone(), synth.top(i), now))
            .collect();
        let limits = Limits {
            max_qty: i64::try_from(config.max_order_qty).unwrap_or(i64::MAX),
            max_open: config.max_open_orders,
            max_rate: config.max_order_rate,
        };
        Self {
            matching: Matching::new(universe.len(), limits),
            universe,
            markets,
            synth,
            clients: HashMap::new(),
            rate: config.rate,
            batch: config.batch_interval(),
            start_ns: now,
            produced: 0,
            skipped: 0,
            last_lag_warning_ns: 0,
            pass_events: Vec::new(),
        }
    }

    /// Runs until shutdown or until every connection handle and the server are gone.
    pub async fn run(mut self, mut commands: mpsc::Receiver<Command>, shutdown: CancellationToken) {
        let mut ticker = tokio::time::interval(self.batch);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        self.start_ns = now_ns();
        let mut pending = Vec::with_capacity(64);
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
                _ = ticker.tick() => self.pass(now_ns()),
            }
        }
    }

    /// When event number `n` is due, in ns since the epoch.
    fn scheduled(&self, n: u64) -> u64 {
        self.start_ns
            + u64::try_from(u128::from(n) * 1_000_000_000 / u128::from(self.rate))
                .unwrap_or(u64::MAX / 2)
    }

    /// Generates everything due by `now` and delivers it.
    pub fn pass(&mut self, now: u64) {
        self.pass_events.clear();
        while self.pass_events.len() < MAX_EVENTS_PER_PASS {
            let ts = self.scheduled(self.produced + self.skipped);
            if ts > now {
                break;
            }
            self.produce(ts, now);
            self.produced += 1;
        }
        self.check_lag(now);
        self.fan_out();
    }

    fn check_lag(&mut self, now: u64) {
        let due = self.scheduled(self.produced + self.skipped);
        let lag = Duration::from_nanos(now.saturating_sub(due));
        if lag >= LAG_SKIP {
            // Catch up by dropping the backlog rather than flooding clients with stale events.
            let behind = lag.as_nanos() * u128::from(self.rate) / 1_000_000_000;
            let behind = u64::try_from(behind).unwrap_or(0);
            self.skipped += behind;
            tracing::warn!(
                lag_ms = lag.as_millis(),
                skipped = behind,
                rate = self.rate,
                "generation fell behind schedule; skipped the backlog (the rate is more than this machine can produce)"
            );
        } else if lag >= LAG_WARN && now.saturating_sub(self.last_lag_warning_ns) > 5_000_000_000 {
            self.last_lag_warning_ns = now;
            tracing::warn!(
                lag_ms = lag.as_millis(),
                rate = self.rate,
                "generation is running behind schedule"
            );
        }
    }

    fn produce(&mut self, ts: u64, now: u64) {
        let event = self.synth.next_event();
        let symbol = event.symbol();
        let market = &mut self.markets[symbol];
        let message = market.apply(&event, ts);
        self.pass_events
            .push((symbol, Utf8Bytes::from(encode_server(&message))));
        let traded = match event {
            SynthEvent::Trade { price, .. } => Some(price),
            SynthEvent::Quote { .. } => None,
        };
        let clients = &mut self.clients;
        self.matching.on_market(
            symbol,
            &self.markets[symbol],
            traded,
            now,
            |conn, id, fill| {
                if let Some(client) = clients.get_mut(&conn) {
                    Matching::filled(&mut client.account, id);
                    let _ = client.ctrl.try_send(Utf8Bytes::from(encode_server(&fill)));
                }
            },
        );
    }

    fn fan_out(&mut self) {
        let all = self.universe.len();
        let mut shared: Option<Utf8Bytes> = None;
        let mut gone = Vec::new();
        for (&id, client) in &mut self.clients {
            if client.subscribed.is_empty() {
                continue;
            }
            if client.conflating {
                for &(symbol, _) in &self.pass_events {
                    if client.subscribed.contains(symbol) {
                        client.stale.insert(symbol);
                    }
                }
                if client.data.capacity() * 2 >= client.data.max_capacity() {
                    let frame = snapshots(&self.markets, client.stale.iter());
                    client.stale.clear();
                    client.conflating = false;
                    if client.data.try_send(frame).is_err() {
                        gone.push(id);
                    }
                }
                continue;
            }
            let frame = if client.subscribed.len() == all {
                if self.pass_events.is_empty() {
                    continue;
                }
                shared
                    .get_or_insert_with(|| batch(self.pass_events.iter().map(|(_, b)| b)))
                    .clone()
            } else {
                let mut mine = self
                    .pass_events
                    .iter()
                    .filter(|(s, _)| client.subscribed.contains(*s))
                    .map(|(_, b)| b)
                    .peekable();
                if mine.peek().is_none() {
                    continue;
                }
                batch(mine)
            };
            match client.data.try_send(frame) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => {
                    tracing::debug!(conn = id, "queue full; conflating");
                    client.conflating = true;
                    for &(symbol, _) in &self.pass_events {
                        if client.subscribed.contains(symbol) {
                            client.stale.insert(symbol);
                        }
                    }
                }
                Err(TrySendError::Closed(_)) => gone.push(id),
            }
        }
        for id in gone {
            self.remove(id);
        }
    }

    pub fn handle(&mut self, command: Command) {
        let now = now_ns();
        match command {
            Command::Connect { id, data, ctrl } => {
                let limits = self.matching.limits;
                let n = self.universe.len();
                self.clients.insert(
                    id,
                    Client {
                        data,
                        ctrl,
                        subscribed: BitSet::new(n),
                        conflating: false,
                        stale: BitSet::new(n),
                        account: Account::new(limits, now),
                    },
                );
            }
            Command::Disconnect { id } => self.remove(id),
            Command::Subscribe { id, symbols } => self.subscribe(id, &symbols),
            Command::Unsubscribe { id, symbols } => {
                if let Some(client) = self.clients.get_mut(&id) {
                    for s in symbols {
                        client.subscribed.remove(s);
                        client.stale.remove(s);
                    }
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
                let parts: Vec<String> = replies.iter().map(encode_server).collect();
                let frame = Utf8Bytes::from(encode_batch(parts.iter().map(String::as_str)));
                if client.ctrl.try_send(frame).is_err() {
                    self.remove(id);
                }
            }
            Command::Cancel { id, cancel } => {
                let Some(client) = self.clients.get_mut(&id) else {
                    return;
                };
                let reply = self.matching.cancel(id, &mut client.account, &cancel, now);
                if client
                    .ctrl
                    .try_send(Utf8Bytes::from(encode_server(&reply)))
                    .is_err()
                {
                    self.remove(id);
                }
            }
        }
    }

    fn subscribe(&mut self, id: ConnId, symbols: &[usize]) {
        let Some(client) = self.clients.get_mut(&id) else {
            return;
        };
        for &s in symbols {
            client.subscribed.insert(s);
        }
        if client.conflating {
            for &s in symbols {
                client.stale.insert(s);
            }
            return;
        }
        match client
            .data
            .try_send(snapshots(&self.markets, symbols.iter().copied()))
        {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                client.conflating = true;
                for &s in symbols {
                    client.stale.insert(s);
                }
            }
            Err(TrySendError::Closed(_)) => self.remove(id),
        }
    }

    fn remove(&mut self, id: ConnId) {
        if let Some(client) = self.clients.remove(&id) {
            self.matching.drop_connection(id, &client.account);
        }
    }
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

fn snapshots(markets: &[Market], symbols: impl Iterator<Item = usize>) -> Utf8Bytes {
    let parts: Vec<String> = symbols
        .filter_map(|s| markets.get(s))
        .map(|m| encode_server(&m.snapshot()))
        .collect();
    Utf8Bytes::from(encode_batch(parts.iter().map(String::as_str)))
}
