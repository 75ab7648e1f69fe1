//! The hub: the router between the feed, the market core and the edge, in one task.
//!
//! Events arrive from the [`crate::feed::pacer`] as they fall due (synthesized or replayed: the
//! hub does not know which), in batches the pacer sizes to the rate. The market [`Core`] stamps
//! each with its symbol's next `seq` and fills the resting orders it reaches; the edge's
//! [`Fanout`] encodes it once per encoding in use and, at once, makes a pass: each subscribed
//! client gets one frame with everything it wants from the batch, written straight to its socket.
//! Commands from connections go the other way: subscriptions to the fan-out, orders and cancels
//! to the core, whose answers the fan-out writes back to the connection that asked.
//!
//! A pass yields to the runtime every [`CLIENTS_PER_TURN`] clients and answers the orders that
//! came in meanwhile before it goes on, so an order waits for a few writes, not for a whole
//! fan-out.

use std::sync::Arc;
use std::time::Duration;

use protocol::now_ns;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use crate::bitset::BitSet;
use crate::bus::{Batch, Delivery, ToCore, ToEdge, edge_of};
use crate::edge::Command;
use crate::edge::fanout::Fanout;
use crate::feed::event::Due;
use crate::feed::universe::Universe;
use crate::market::{ConnId, Core, CoreSettings, View};
use crate::metrics::Metrics;

/// Clients written to between two looks at inbound orders. One write costs 3 to 4 us of CPU,
/// so an order waits about 60 us at most for the pass under way, and each look (a poll of the
/// sockets) costs about one write per 16.
pub const CLIENTS_PER_TURN: usize = 16;
/// How often passes run without events while some client is owed snapshots (after conflation, or
/// a subscription larger than its outbox).
const OWED_RETRY: Duration = Duration::from_millis(10);

/// The hub task's state: the market core, and the edge's view of it and clients.
#[derive(Debug)]
pub struct Hub {
    core: Core,
    view: View,
    fanout: Fanout,
    /// The server's other edges (`--edges`), each on its own thread: edge `k` is `remotes[k - 1]`.
    remotes: Vec<mpsc::Sender<ToEdge>>,
    /// This batch's events, for the other edges.
    batch: Vec<Delivery>,
    /// Answers and fills for the other edges' connections, by edge, to send.
    outgoing: Vec<(usize, ToEdge)>,
    /// Which symbols' source is stale (a live venue's stream that is down), where the source
    /// can say.
    stale: Option<watch::Receiver<BitSet>>,
}

impl Hub {
    pub fn new(universe: Arc<Universe>, settings: CoreSettings, metrics: Arc<Metrics>) -> Self {
        let core = Core::new(universe.clone(), settings, metrics.clone());
        let view = View::new(
            &universe,
            core.epoch().to_owned(),
            settings.history,
            settings.max_resume_events,
            metrics.clone(),
        );
        Self {
            fanout: Fanout::new(universe, metrics),
            view,
            core,
            remotes: Vec::new(),
            batch: Vec::new(),
            outgoing: Vec::new(),
            stale: None,
        }
    }

    /// Tells every client, on this edge and the others, when the set of stale sources changes.
    #[must_use]
    pub fn with_stale(mut self, stale: watch::Receiver<BitSet>) -> Self {
        self.stale = Some(stale);
        self
    }

    /// Feeds the other edges of the server too, edge `k` through `remotes[k - 1]`.
    #[must_use]
    pub fn with_remotes(mut self, remotes: Vec<mpsc::Sender<ToEdge>>) -> Self {
        self.remotes = remotes;
        self
    }

    /// The core's epoch, for `hello`.
    pub fn epoch(&self) -> &str {
        self.view.epoch()
    }

    /// Runs until shutdown or until every connection handle and the server are gone. When the
    /// source ends (a replay without `--loop`) the hub goes on serving snapshots and orders.
    pub async fn run(
        mut self,
        mut commands: mpsc::Receiver<Command>,
        mut events: mpsc::Receiver<Vec<Due>>,
        mut from_edges: mpsc::Receiver<ToCore>,
        shutdown: CancellationToken,
    ) {
        let mut retry = tokio::time::interval(OWED_RETRY);
        retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut pending = Vec::with_capacity(64);
        let mut deferred = Vec::new();
        let mut arrived = Vec::with_capacity(64);
        let mut source_open = true;
        let mut edges_open = !self.remotes.is_empty();
        let mut remote = Vec::with_capacity(64);
        let mut stale = self.stale.take();
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
                    self.send_out().await;
                    self.deliver(&mut commands, &mut deferred).await;
                }
                n = from_edges.recv_many(&mut remote, 64), if edges_open => {
                    if n == 0 {
                        edges_open = false;
                    }
                    let now = now_ns();
                    for command in remote.drain(..) {
                        self.handle_remote(command, now);
                    }
                    self.send_out().await;
                }
                _ = retry.tick(), if self.fanout.owed() => self.deliver(&mut commands, &mut deferred).await,
                Some(set) = next_stale(&mut stale) => {
                    self.fanout.status(&set);
                    self.fanout.remove_dropped();
                    self.close_gone();
                    for remote in &self.remotes {
                        let _ = remote.send(ToEdge::Status(set.clone())).await;
                    }
                }
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
        self.fanout.begin_pass();
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

    /// Applies events that fell due: the core stamps their `seq` and fills the resting orders
    /// they reach, and the fan-out encodes each once for this pass.
    ///
    /// A pass that reaches the fan-out's frame bound is delivered at once, so that no frame
    /// outgrows a connection's write buffer however far events run ahead of the pass timer (as
    /// at replay `--speed max`).
    pub fn on_events(&mut self, events: &[Due], now: u64) {
        let mut applied = Vec::new();
        for due in events {
            let (fanout, outgoing) = (&mut self.fanout, &mut self.outgoing);
            self.core.apply(
                due,
                now,
                |conn, fill| {
                    // A fill is never dropped: a client that cannot take it is disconnected.
                    match edge_of(conn) {
                        0 => fanout.fill(conn, &fill),
                        edge => outgoing.push((
                            edge,
                            ToEdge::Fill {
                                id: conn,
                                fill: Box::new(fill),
                            },
                        )),
                    }
                },
                &mut applied,
            );
            for (sequenced, message) in applied.drain(..) {
                let change = self.view.apply(&sequenced);
                let delivery = Delivery::new(sequenced, message);
                self.fanout.add(&delivery, &self.view, change);
                if !self.remotes.is_empty() {
                    self.batch.push(delivery);
                }
            }
            self.fanout.remove_dropped();
            self.close_gone();
            if self.fanout.pass_is_full() {
                self.pass();
            }
        }
    }

    /// Sends the other edges this batch's events, then the answers and fills of their
    /// connections. Waits when an edge is a whole queue behind (as the pacer waits for the hub).
    async fn send_out(&mut self) {
        if !self.batch.is_empty() {
            let batch: Batch = std::mem::take(&mut self.batch).into();
            for remote in &self.remotes {
                // An edge that is gone has closed its clients; the others go on.
                let _ = remote.send(ToEdge::Events(batch.clone())).await;
            }
        }
        for (edge, message) in self.outgoing.drain(..) {
            if let Some(remote) = edge.checked_sub(1).and_then(|k| self.remotes.get(k)) {
                let _ = remote.send(message).await;
            }
        }
    }

    /// What another edge asks of the core for its connections.
    pub fn handle_remote(&mut self, command: ToCore, now: u64) {
        match command {
            ToCore::Open { id } => self.core.open(id, now),
            ToCore::Close { id } => self.core.close(id),
            ToCore::Order { id, order, tag } => {
                let answers = self.core.order(id, &order, now);
                self.outgoing
                    .push((edge_of(id), ToEdge::Answers { id, tag, answers }));
            }
            ToCore::Cancel { id, cancel, tag } => {
                let answers = self.core.cancel(id, &cancel, now).into_iter().collect();
                self.outgoing
                    .push((edge_of(id), ToEdge::Answers { id, tag, answers }));
            }
            // An edge's link answers these itself.
            ToCore::Follow { .. } | ToCore::Unfollow { .. } => {}
            ToCore::State { reply } => {
                let _ = reply.send(
                    self.view
                        .markets()
                        .iter()
                        .map(crate::market::Market::state)
                        .collect(),
                );
            }
            ToCore::Replay {
                symbol,
                after,
                until,
                max,
                reply,
            } => {
                let until = until.min(after.saturating_add(u64::try_from(max).unwrap_or(u64::MAX)));
                let _ = reply.send(self.view.events_between(symbol, after, until));
            }
        }
    }

    /// Delivers this pass's events and owed snapshots, to every client in one go.
    pub fn pass(&mut self) {
        self.fanout.begin_pass();
        while !self.fan_out(usize::MAX) {}
    }

    /// Visits up to `n` more clients of the pass under way; true when the pass is over.
    fn fan_out(&mut self, n: usize) -> bool {
        let done = self.fanout.fan_out(n, &self.view);
        self.close_gone();
        done
    }

    /// Closes the accounts of the clients the fan-out let go of.
    fn close_gone(&mut self) {
        for id in self.fanout.take_gone() {
            self.core.close(id);
        }
    }

    pub fn handle(&mut self, command: Command) {
        let now = now_ns();
        match command {
            Command::Connect { id, outlet } => {
                self.fanout.connect(id, outlet);
                self.core.open(id, now);
            }
            Command::Disconnect { id } => self.remove(id),
            Command::Subscribe {
                id,
                symbols,
                resume,
                quotes,
                book,
            } => {
                let book_from = self.view.books_to_resume(resume.as_ref());
                if quotes
                    && self
                        .fanout
                        .subscribe_from(id, &symbols, resume, &self.view)
                        .is_err()
                {
                    self.remove(id);
                    return;
                }
                if let Some(depth) = book {
                    self.fanout
                        .subscribe_books(id, &symbols, depth, &book_from, &self.view);
                }
                self.close_gone();
            }
            Command::Unsubscribe {
                id,
                symbols,
                quotes,
                book,
            } => self.fanout.unsubscribe(id, &symbols, quotes, book),
            Command::Order { id, order } => {
                if !self.fanout.contains(id) {
                    return;
                }
                let answers = self.core.order(id, &order, now);
                if let Some(protocol::ServerMessage::Reject(r)) = answers.first() {
                    tracing::debug!(conn = id, order = %r.id, code = ?r.code, reason = %r.reason, "order rejected");
                }
                if self.fanout.reply(id, &answers).is_err() {
                    self.remove(id);
                }
            }
            Command::Cancel { id, cancel } => {
                if !self.fanout.contains(id) {
                    return;
                }
                if let Some(answer) = self.core.cancel(id, &cancel, now)
                    && self.fanout.reply(id, &[answer]).is_err()
                {
                    self.remove(id);
                }
            }
        }
    }

    fn remove(&mut self, id: ConnId) {
        self.fanout.remove(id);
        self.core.close(id);
    }

    /// Connections the hub serves now.
    #[cfg(test)]
    pub fn clients(&self) -> usize {
        self.fanout.clients()
    }

    /// The market core, for tests that look at its state.
    #[cfg(test)]
    pub(crate) fn core(&self) -> &Core {
        &self.core
    }
}

/// The set of stale sources once it changes; never, without a watch or once its sender is gone.
async fn next_stale(stale: &mut Option<watch::Receiver<BitSet>>) -> Option<BitSet> {
    let Some(rx) = stale.as_mut() else {
        return std::future::pending().await;
    };
    if rx.changed().await.is_err() {
        *stale = None;
        return std::future::pending().await;
    }
    Some(rx.borrow_and_update().clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bitset::BitSet;
    use crate::config::Config;
    use crate::drill::{Peer, pair};
    use crate::edge::fanout::MAX_PASS_BYTES;
    use crate::edge::outbox::{Outbox, Outlet};
    use crate::feed::SymbolChoice;
    use crate::feed::walk::Synthesizer;
    use bytes::Bytes;
    use protocol::{Decimal, Order, ServerMessage, Side};

    fn hub() -> Hub {
        Hub::new(
            Arc::new(Universe::new(&SymbolChoice::Default, 1)),
            Config::default().core(),
            Arc::default(),
        )
    }

    /// Connects a client over a loopback socket whose outbox holds `replies` replies at most.
    async fn connect(hub: &mut Hub, id: ConnId, replies: usize) -> (Arc<Outbox>, Peer) {
        let limits = crate::edge::outbox::Limits {
            replies,
            ..Config::default().edge().outbox
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
        let market = &hub.core().markets()[0];
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
        let mut synth = Synthesizer::new(&hub.core().universe().clone(), 1);
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
        let mut synth = Synthesizer::new(&hub.core().universe().clone(), 1);
        let mut now = now_ns();
        let mut frames = Vec::new();
        for pass in 0..20 {
            now += 1_000_000;
            hub.on_events(&synth.burst(200, now), now);
            if pass == 5 {
                // Events are applied but not yet fanned out when the subscribe arrives.
                let mut all = BitSet::new(hub.core().universe().len());
                all.insert_all();
                hub.handle(Command::Subscribe {
                    id: 1,
                    symbols: all,
                    resume: None,
                    quotes: true,
                    book: None,
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
        let mut all = BitSet::new(hub.core().universe().len());
        all.insert_all();
        hub.handle(Command::Subscribe {
            id: 1,
            symbols: all,
            resume: None,
            quotes: true,
            book: None,
        });
        peer.collect().await;
        let mut synth = Synthesizer::new(&hub.core().universe().clone(), 1);
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
        assert_eq!(events, 20_000, "{} frames", frames.len());
        let sizes: Vec<usize> = frames.iter().map(Vec::len).collect();
        assert!(sizes.len() >= 8, "{sizes:?}");
        assert!(
            sizes.iter().all(|&s| s <= MAX_PASS_BYTES + 1_024),
            "{sizes:?}"
        );
    }

    #[tokio::test]
    async fn a_clients_books_are_the_cores_own_after_every_change() {
        use crate::feed::source::{Source, Step};
        use crate::feed::synth::SynthSource;
        use protocol::book::{BookStep, Books};
        let mut hub = hub();
        let (_outbox, mut peer) = connect(&mut hub, 1, 16).await;
        let n = hub.core().universe().len();
        let mut all = BitSet::new(n);
        all.insert_all();
        hub.handle(Command::Subscribe {
            id: 1,
            symbols: all,
            resume: None,
            quotes: false,
            book: Some(10),
        });
        // Quotes, trades and book changes as the server makes them, 2,000 a second each.
        let mut source = SynthSource::new(&hub.core().universe().clone(), 1, 2_000, 2_000);
        let mut decoder = protocol::Decoder::new();
        let mut books = Books::new(10);
        let start = now_ns();
        let mut updates = 0;
        for pass in 0..200_u64 {
            let mut due = Vec::new();
            while due.len() < 50 {
                let Ok(Some(Step::Event {
                    at_ns,
                    event,
                    extras,
                })) = source.next_step()
                else {
                    break;
                };
                due.push(Due {
                    due_ns: start + at_ns,
                    event,
                    extras,
                });
            }
            let now = start + pass * 10_000_000;
            hub.on_events(&due, now);
            hub.pass();
            for frame in peer.collect().await {
                for m in decoder.server(&frame).unwrap() {
                    if let Some(step) = books.apply(&m) {
                        assert_eq!(step, BookStep::InSync, "{m:?}");
                        updates += u64::from(matches!(m, ServerMessage::BookUpdate(_)));
                    }
                }
            }
            // After every pass each book is the core's, level for level, not only by checksum.
            for market in hub.core().markets() {
                let Some(mine) = books.get(market.instrument.symbol.as_str()) else {
                    continue;
                };
                let ServerMessage::Book(core) = market.book(10) else {
                    panic!("a book");
                };
                let levels = |side: &[protocol::Level]| -> Vec<(Decimal, Decimal)> {
                    side.iter().map(|l| (l.0, l.1)).collect()
                };
                assert_eq!(
                    mine.bids().map(|(p, s)| (*p, *s)).collect::<Vec<_>>(),
                    levels(&core.bids),
                    "{} bids after pass {pass}",
                    core.symbol
                );
                assert_eq!(
                    mine.asks().map(|(p, s)| (*p, *s)).collect::<Vec<_>>(),
                    levels(&core.asks),
                    "{} asks after pass {pass}",
                    core.symbol
                );
                assert_eq!(mine.seq(), Some(core.seq));
            }
        }
        assert_eq!(books.len(), n);
        assert!(updates > 5_000, "{updates} updates");
    }
}
