//! The fan-out: each batch of events that fell due goes out in one pass over the clients, each
//! subscribed client getting one frame with everything it wants from the batch, written straight
//! to its socket ([`super::outbox`]). Clients subscribed to every symbol share a single frame, so
//! a pass costs one encode per event and encoding in use plus one socket write per client. The
//! pass never waits for a client: what a socket does not take waits in its outbox, and a client
//! whose outbox is full is switched to conflation (it is sent fresh snapshots of the symbols it
//! missed once it has room again).
//!
//! The hub drives the passes ([`Fanout::begin_pass`], [`Fanout::fan_out`]) and hands over the
//! events ([`Fanout::add`]) and the answers to orders ([`Fanout::reply`], [`Fanout::fill`]).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use protocol::binary::SymbolIds;
use protocol::{Encoding, ServerMessage};

use super::outbox::{Outlet, Refused};
use super::payload;
use crate::bitset::BitSet;
use crate::bus::Delivery;
use crate::feed::universe::Universe;
use crate::market::{BookChange, ConnId, Market, ResumeFrom, ResumePlan, View};
use crate::metrics::{Metrics, Tally};

/// The fan-out's view of one connection.
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
    /// Subscribed symbols a resume continues from history: their events go out from there, not
    /// live, until the replay has caught up. Never stale at the same time.
    replaying: BitSet,
    /// The replays under way: each symbol with the next `seq` to send.
    replays: VecDeque<(usize, u64)>,
    /// Symbols whose book the client streams, each at its depth.
    books: HashMap<usize, usize>,
    /// Books owed a fresh `book` before any update: newly subscribed ones, and those with
    /// updates missed while conflating.
    books_stale: BitSet,
    /// Of those, the ones a resume names with the book `seq` the client holds: they get the
    /// updates they missed from the view's book history instead, when it has them.
    book_from: HashMap<usize, u64>,
}

impl Client {
    /// Drops the replays of symbols that are owed a snapshot instead (it includes their events).
    fn settle(&mut self) {
        let stale = &self.stale;
        self.replays.retain(|&(s, _)| !stale.contains(s));
        self.replaying.subtract(stale);
    }

    /// Whether this pass's event of `symbol` goes out live to this client.
    fn live(&self, symbol: usize) -> bool {
        self.subscribed.contains(symbol)
            && !self.stale.contains(symbol)
            && !self.replaying.contains(symbol)
    }

    /// Whether a pass event goes out live to this client: a quote-stream event of a symbol it
    /// streams, or a book update at the depth it streams that book at.
    fn wants(&self, event: &PassEvent) -> bool {
        match event.depth {
            None => self.live(event.symbol),
            Some(depth) => {
                self.books.get(&event.symbol) == Some(&depth)
                    && !self.books_stale.contains(event.symbol)
            }
        }
    }
}

/// Snapshots are sent in frames of about this size, so a `*` subscription on a large universe
/// is many moderate frames, not one above the write buffer's limit.
const SNAPSHOT_FRAME_BYTES: usize = 64 * 1024;
/// Events held for one pass, encoded, at most: a pass this large goes out at once. Far below a
/// connection's write-buffer bound (16 MiB) and its queue's byte budget (4 MiB by default).
pub const MAX_PASS_BYTES: usize = 256 * 1024;

/// The clients of an edge and the pass under way.
#[derive(Debug)]
pub struct Fanout {
    universe: Arc<Universe>,
    clients: HashMap<ConnId, Client>,
    /// This pass's events, encoded.
    pass_events: Vec<PassEvent>,
    /// The encoded size of `pass_events`, which is about the size of a client's frame.
    pass_bytes: usize,
    /// This pass's frame for clients subscribed to every symbol, per encoding, made on first use.
    shared_frame: [Option<(Bytes, usize)>; 2],
    /// Clients per encoding: each event is encoded once, up front, in the encodings in use.
    in_use: [usize; 2],
    /// Each symbol's book subscribers by depth: a book event is made once per depth in use.
    book_depths: HashMap<usize, BTreeMap<usize, usize>>,
    /// Clients the pass under way has yet to visit.
    visiting: Vec<ConnId>,
    /// Some client is conflating or owed snapshots: passes are due even without events.
    owed: bool,
    /// Clients to drop after the current loop over clients.
    dropped: Vec<ConnId>,
    /// Clients dropped since the hub last asked ([`Fanout::take_gone`]).
    gone: Vec<ConnId>,
    metrics: Arc<Metrics>,
    /// What the pass under way sent, added to `metrics` at its end.
    tally: Tally,
    /// When the pass under way began.
    pass_started: Option<Instant>,
}

impl Fanout {
    pub fn new(universe: Arc<Universe>, metrics: Arc<Metrics>) -> Self {
        Self {
            universe,
            clients: HashMap::new(),
            pass_events: Vec::new(),
            pass_bytes: 0,
            shared_frame: [None, None],
            in_use: [0, 0],
            book_depths: HashMap::new(),
            visiting: Vec::new(),
            owed: false,
            dropped: Vec::new(),
            gone: Vec::new(),
            metrics,
            tally: Tally::default(),
            pass_started: None,
        }
    }

    /// Connections served now.
    #[cfg(test)]
    pub fn clients(&self) -> usize {
        self.clients.len()
    }

    pub fn contains(&self, id: ConnId) -> bool {
        self.clients.contains_key(&id)
    }

    /// Every symbol some client is subscribed to.
    pub fn wanted(&self) -> BitSet {
        let mut all = BitSet::new(self.universe.len());
        for client in self.clients.values() {
            all.union_with(&client.subscribed);
        }
        all
    }

    /// Every symbol whose book some client streams.
    pub fn wanted_books(&self) -> BitSet {
        let mut all = BitSet::new(self.universe.len());
        for &symbol in self.book_depths.keys() {
            all.insert(symbol);
        }
        all
    }

    /// Every subscriber of `symbol`'s book is owed a fresh `book`: the edge's view of the book
    /// restarted from the core's.
    pub fn resync_book(&mut self, symbol: usize) {
        for client in self.clients.values_mut() {
            if client.books.contains_key(&symbol) {
                client.books_stale.insert(symbol);
                self.owed = true;
            }
        }
    }

    /// Every subscriber of `symbol` is owed a snapshot of it: the edge's view of it restarted
    /// from the core's state after events this edge never saw.
    pub fn resync(&mut self, symbol: usize) {
        for client in self.clients.values_mut() {
            if client.subscribed.contains(symbol) {
                client.stale.insert(symbol);
                client.settle();
                self.owed = true;
            }
            if client.books.contains_key(&symbol) {
                client.books_stale.insert(symbol);
                self.owed = true;
            }
        }
    }

    /// Some client is conflating or owed snapshots: a pass is due even without events.
    pub fn owed(&self) -> bool {
        self.owed
    }

    /// The events waiting for their pass are as large as one frame should be.
    pub fn pass_is_full(&self) -> bool {
        self.pass_bytes >= MAX_PASS_BYTES
    }

    /// Serves a new connection (replacing one with the same id).
    pub fn connect(&mut self, id: ConnId, outlet: Outlet) {
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
                replaying: BitSet::new(n),
                replays: VecDeque::new(),
                books: HashMap::new(),
                books_stale: BitSet::new(n),
                book_from: HashMap::new(),
            },
        );
    }

    /// Stops serving a connection; false if it was not served.
    pub fn remove(&mut self, id: ConnId) -> bool {
        let Some(client) = self.clients.remove(&id) else {
            return false;
        };
        let count = &mut self.in_use[client.encoding as usize];
        *count = count.saturating_sub(1);
        for (&symbol, &depth) in &client.books {
            forget_depth(&mut self.book_depths, symbol, depth);
        }
        true
    }

    /// Connections the fan-out let go of since the last call (their outbox refused what could
    /// not be dropped): the hub closes their accounts.
    pub fn take_gone(&mut self) -> std::vec::Drain<'_, ConnId> {
        self.gone.drain(..)
    }

    /// Adds symbols to a subscription. Each is owed a snapshot, or with a resume `plan`, the
    /// events it missed from history; they are sent at once unless events wait for their pass
    /// (a snapshot now would already include them, and the pass would then send them again: the
    /// pass sends it).
    pub fn subscribe(
        &mut self,
        id: ConnId,
        symbols: &BitSet,
        plan: Option<&ResumePlan>,
        view: &View,
    ) {
        let Some(client) = self.clients.get_mut(&id) else {
            return;
        };
        client.subscribed.union_with(symbols);
        match plan {
            // Subscribing again sends a fresh snapshot, so every named symbol is owed one.
            None => client.stale.union_with(symbols),
            Some(plan) => {
                client.stale.union_with(&plan.snapshot);
                for &(symbol, next) in &plan.replays {
                    client.stale.remove(symbol);
                    client.replays.retain(|&(s, _)| s != symbol);
                    client.replays.push_back((symbol, next));
                    client.replaying.insert(symbol);
                }
            }
        }
        client.settle();
        if self.pass_events.is_empty() {
            let ids = self.universe.ids();
            let sent = send_snapshots(client, view.markets(), &mut self.tally, ids)
                .and_then(|()| send_replays(client, view, &mut self.tally, ids));
            if sent.is_err() {
                self.drop_now(id);
                return;
            }
            self.owed |= client.owes();
        } else {
            self.owed = true;
        }
    }

    /// A connection's `subscribe`: with a resume, its plan from `view` and the `resumed` message
    /// first, then the subscription. `Err` when the client cannot take the `resumed` message (the
    /// caller drops it).
    pub fn subscribe_from(
        &mut self,
        id: ConnId,
        symbols: &BitSet,
        resume: Option<ResumeFrom>,
        view: &View,
    ) -> Result<(), Refused> {
        if !self.contains(id) {
            return Ok(());
        }
        let plan = resume.map(|r| view.plan_resume(symbols, &r));
        if let Some(plan) = &plan {
            // Which symbols were recovered goes first, ahead of what they get.
            self.reply(id, &[plan.resumed(&self.universe)])?;
        }
        self.subscribe(id, symbols, plan.as_ref(), view);
        Ok(())
    }

    /// Adds symbols' books to a subscription at `depth` levels a side: each is owed a fresh
    /// `book` (at the new depth, if it was streamed at another), or, for a symbol `book_from`
    /// names (a resume, in the view's epoch), the updates after the book `seq` the client holds;
    /// sent at once unless events wait for their pass.
    pub fn subscribe_books(
        &mut self,
        id: ConnId,
        symbols: &BitSet,
        depth: usize,
        book_from: &[(usize, u64)],
        view: &View,
    ) {
        let Some(client) = self.clients.get_mut(&id) else {
            return;
        };
        for &(symbol, seq) in book_from {
            // A client that changes its depth needs the whole book at the new one.
            if symbols.contains(symbol) && client.books.get(&symbol).is_none_or(|&d| d == depth) {
                client.book_from.insert(symbol, seq);
            }
        }
        for symbol in symbols.iter() {
            if let Some(old) = client.books.insert(symbol, depth) {
                forget_depth(&mut self.book_depths, symbol, old);
            }
            *self
                .book_depths
                .entry(symbol)
                .or_default()
                .entry(depth)
                .or_default() += 1;
        }
        client.books_stale.union_with(symbols);
        if self.pass_events.is_empty() {
            let ids = self.universe.ids();
            if send_books(client, view, &mut self.tally, ids).is_err() {
                self.drop_now(id);
                return;
            }
            self.owed |= client.owes();
        } else {
            self.owed = true;
        }
    }

    /// Stops the quote streams (`quotes`) and the books (`books`) of symbols.
    pub fn unsubscribe(&mut self, id: ConnId, symbols: &BitSet, quotes: bool, books: bool) {
        let Some(client) = self.clients.get_mut(&id) else {
            return;
        };
        if quotes {
            client.subscribed.subtract(symbols);
            client.stale.subtract(symbols);
            client.replaying.subtract(symbols);
            client.replays.retain(|&(s, _)| !symbols.contains(s));
        }
        if books {
            for symbol in symbols.iter() {
                if let Some(depth) = client.books.remove(&symbol) {
                    forget_depth(&mut self.book_depths, symbol, depth);
                }
            }
            client.books_stale.subtract(symbols);
            client.book_from.retain(|s, _| !symbols.contains(*s));
        }
    }

    /// Adds an event to the pass under way, in the encodings in use (each made once, for every
    /// edge, by the [`Delivery`]). A book event (`change`: what it changed, as the view applied
    /// it) becomes one `book_update` per depth its subscribers stream the book at.
    pub fn add(&mut self, delivery: &Delivery, view: &View, change: Option<BookChange>) {
        let symbol = delivery.sequenced.symbol;
        let universe = Arc::clone(&self.universe);
        let ids = universe.ids();
        if let Some(change) = change {
            let (Some(depths), Some(market)) =
                (self.book_depths.get(&symbol), view.markets().get(symbol))
            else {
                return;
            };
            let depths: Vec<usize> = depths.keys().copied().collect();
            for depth in depths {
                let update = market.book_update(&delivery.sequenced.event, &change, depth);
                let in_use = self.in_use;
                let encoded = |encoding: Encoding| {
                    (in_use[encoding as usize] > 0).then(|| payload::encode(encoding, &update, ids))
                };
                let (json, bin) = (encoded(Encoding::Json), encoded(Encoding::Bin));
                self.push_event(symbol, Some(depth), json, bin);
            }
            return;
        }
        let in_use = self.in_use;
        let encoded = |encoding: Encoding| {
            (in_use[encoding as usize] > 0).then(|| delivery.encoded(encoding, ids))
        };
        let (json, bin) = (encoded(Encoding::Json), encoded(Encoding::Bin));
        self.push_event(symbol, None, json, bin);
    }

    /// Adds one encoded event to the pass under way.
    fn push_event(
        &mut self,
        symbol: usize,
        depth: Option<usize>,
        json: Option<Bytes>,
        bin: Option<Bytes>,
    ) {
        let size = json
            .as_ref()
            .map_or(0, Bytes::len)
            .max(bin.as_ref().map_or(0, Bytes::len));
        self.pass_bytes += size + 1;
        self.pass_events.push(PassEvent {
            symbol,
            depth,
            json,
            bin,
        });
    }

    /// Sends a connection the answers to its order or cancel, as one frame. A client that cannot
    /// take them is refused (the hub then drops it): answers are never dropped.
    pub fn reply(&mut self, id: ConnId, answers: &[ServerMessage]) -> Result<(), Refused> {
        let Some(client) = self.clients.get(&id) else {
            return Err(Refused::Closed);
        };
        let frame = payload::encode_all(client.encoding, answers, self.universe.ids());
        client.outlet.reply(&frame)?;
        self.metrics.replied(frame.len());
        Ok(())
    }

    /// Sends every client the `status` of the sources: which symbols' venue stream is down. A
    /// client that cannot take it (its answers unread) is dropped, as for a fill.
    pub fn status(&mut self, stale: &BitSet) {
        let message = super::handler::status(&self.universe, stale);
        let ids = self.universe.ids();
        let mut frames: [Option<Bytes>; 2] = [None, None];
        for (&id, client) in &self.clients {
            let frame = frames[client.encoding as usize]
                .get_or_insert_with(|| payload::encode(client.encoding, &message, ids));
            if client.outlet.reply(frame).is_ok() {
                self.metrics.replied(frame.len());
            } else {
                self.dropped.push(id);
            }
        }
    }

    /// Sends a connection the fill of its resting order. A client that cannot take it is
    /// dropped at the end of the event that filled it.
    pub fn fill(&mut self, id: ConnId, fill: &ServerMessage) {
        if let Some(client) = self.clients.get(&id) {
            let frame = payload::encode(client.encoding, fill, self.universe.ids());
            if client.outlet.reply(&frame).is_ok() {
                self.metrics.replied(frame.len());
            } else {
                self.dropped.push(id);
            }
        }
    }

    /// Drops the clients that could not take a fill or a frame.
    pub fn remove_dropped(&mut self) {
        while let Some(id) = self.dropped.pop() {
            tracing::debug!(conn = id, "reply queue full or closed; dropping the client");
            self.drop_now(id);
        }
    }

    fn drop_now(&mut self, id: ConnId) {
        if self.remove(id) {
            self.gone.push(id);
        }
    }

    /// Starts a pass over every client.
    pub fn begin_pass(&mut self) {
        self.visiting.clear();
        self.visiting.extend(self.clients.keys());
        self.owed = false;
        self.pass_started = Some(Instant::now());
    }

    /// Visits up to `n` more clients of the pass under way; true when the pass is over.
    pub fn fan_out(&mut self, n: usize, view: &View) -> bool {
        for _ in 0..n {
            let Some(id) = self.visiting.pop() else {
                break;
            };
            self.visit(id, view);
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

    /// Gives one client what it wants of this pass: its events, then any snapshots it is owed.
    fn visit(&mut self, id: ConnId, view: &View) {
        let Some(client) = self.clients.get_mut(&id) else {
            return;
        };
        let encoding = client.encoding;
        if client.subscribed.is_empty() && client.books.is_empty() {
            return;
        }
        if client.conflating {
            mark_stale(client, &self.pass_events);
            client.settle();
            if !client.outlet.half_free() {
                self.owed = true;
                return;
            }
            client.conflating = false;
        }
        // Live events of the symbols that are not owed a snapshot; the snapshots sent after
        // them already include this pass's events of the others.
        let frame = if client.subscribed.len() == self.universe.len()
            && client.stale.is_empty()
            && client.replaying.is_empty()
            && client.books.is_empty()
        {
            if self.pass_events.is_empty() {
                None
            } else {
                let events = &self.pass_events;
                Some(
                    self.shared_frame[encoding as usize]
                        .get_or_insert_with(|| {
                            let parts = events
                                .iter()
                                .filter(|e| e.depth.is_none())
                                .filter_map(|e| e.part(encoding));
                            (payload::join(encoding, parts.clone()), parts.count())
                        })
                        .clone(),
                )
                .filter(|(_, count)| *count > 0)
            }
        } else {
            let mine = self
                .pass_events
                .iter()
                .filter(|e| client.wants(e))
                .filter_map(|e| e.part(encoding));
            let count = mine.clone().count();
            (count > 0).then(|| (payload::join(encoding, mine), count))
        };
        if let Some((frame, events)) = frame {
            match client.outlet.data(&frame) {
                Ok(()) => self.tally.data(events, frame.len()),
                Err(Refused::Full) => {
                    tracing::debug!(conn = id, "outbox full; conflating");
                    client.conflating = true;
                    self.tally.conflations += 1;
                    mark_stale(client, &self.pass_events);
                    client.settle();
                }
                Err(Refused::Closed) => {
                    self.dropped.push(id);
                    return;
                }
            }
        }
        let ids = self.universe.ids();
        let sent = send_snapshots(client, view.markets(), &mut self.tally, ids)
            .and_then(|()| send_replays(client, view, &mut self.tally, ids))
            .and_then(|()| send_books(client, view, &mut self.tally, ids));
        if sent.is_err() {
            self.dropped.push(id);
            return;
        }
        self.owed |= client.owes();
    }
}

/// One subscriber fewer of `symbol`'s book at `depth`.
fn forget_depth(
    book_depths: &mut HashMap<usize, BTreeMap<usize, usize>>,
    symbol: usize,
    depth: usize,
) {
    let Some(depths) = book_depths.get_mut(&symbol) else {
        return;
    };
    if let Some(count) = depths.get_mut(&depth) {
        *count = count.saturating_sub(1);
        if *count == 0 {
            depths.remove(&depth);
        }
    }
    if depths.is_empty() {
        book_depths.remove(&symbol);
    }
}

/// Sends the fresh books a client is owed, at its depths, in frames of about
/// [`SNAPSHOT_FRAME_BYTES`], as far as its outbox has room. `Err` when the client is gone.
fn send_books(
    client: &mut Client,
    view: &View,
    tally: &mut Tally,
    ids: &SymbolIds,
) -> Result<(), ()> {
    if client.conflating || client.books_stale.is_empty() {
        return Ok(());
    }
    let owed: Vec<usize> = client.books_stale.iter().collect();
    let mut parts: Vec<Bytes> = Vec::new();
    // Symbols whose messages are all in `parts`: no longer stale once the frame is written.
    let mut done: Vec<usize> = Vec::new();
    let mut flush = |client: &mut Client, parts: &mut Vec<Bytes>, done: &mut Vec<usize>| {
        if !parts.is_empty() {
            let frame = payload::join(client.encoding, parts.iter());
            match client.outlet.data(&frame) {
                Ok(()) => tally.data(0, frame.len()),
                Err(Refused::Full) => {
                    // What was not sent waits for a fresh `book` after the conflation.
                    client.conflating = true;
                    tally.conflations += 1;
                    parts.clear();
                    done.clear();
                    return Ok(false);
                }
                Err(Refused::Closed) => return Err(()),
            }
            parts.clear();
        }
        for symbol in done.drain(..) {
            client.books_stale.remove(symbol);
        }
        Ok(true)
    };
    for symbol in owed {
        let (Some(market), Some(&depth)) = (view.markets().get(symbol), client.books.get(&symbol))
        else {
            continue;
        };
        let replay = client
            .book_from
            .remove(&symbol)
            .and_then(|from| view.book_replay(symbol, from, depth));
        match replay {
            Some(updates) => {
                for update in &updates {
                    parts.push(payload::encode(client.encoding, update, ids));
                    if parts.len() >= BOOK_FRAME_MESSAGES && !flush(client, &mut parts, &mut done)?
                    {
                        return Ok(());
                    }
                }
            }
            None => parts.push(payload::encode(client.encoding, &market.book(depth), ids)),
        }
        done.push(symbol);
        if parts.len() >= 16 && !flush(client, &mut parts, &mut done)? {
            return Ok(());
        }
    }
    flush(client, &mut parts, &mut done)?;
    Ok(())
}

/// Most messages of a book resume in one frame.
const BOOK_FRAME_MESSAGES: usize = 256;

impl Client {
    /// Whether a pass is due for this client even without events.
    fn owes(&self) -> bool {
        self.conflating
            || !self.stale.is_empty()
            || !self.replays.is_empty()
            || !self.books_stale.is_empty()
    }
}

/// Sends the replays under way from history, in frames of about [`SNAPSHOT_FRAME_BYTES`], while
/// the outbox is at most half full; the rest go on a later pass, so a long replay never pushes
/// the client into conflation by itself. A symbol whose history no longer holds the next event
/// gets a snapshot instead. `Err` when the client is gone.
fn send_replays(
    client: &mut Client,
    view: &View,
    tally: &mut Tally,
    ids: &SymbolIds,
) -> Result<(), ()> {
    while let Some(&(symbol, next)) = client.replays.front() {
        if client.conflating || !client.outlet.half_free() {
            return Ok(());
        }
        let Some(events) = view.replay(symbol, next) else {
            client.replays.pop_front();
            client.replaying.remove(symbol);
            client.stale.insert(symbol);
            continue;
        };
        let mut parts: Vec<Bytes> = Vec::new();
        let mut bytes = 0;
        let mut last = None;
        for message in events {
            let seq = message.market_seq().map(|(_, seq)| seq);
            let part = payload::encode(client.encoding, &message, ids);
            bytes += part.len() + 1;
            parts.push(part);
            last = seq;
            if bytes >= SNAPSHOT_FRAME_BYTES {
                break;
            }
        }
        if !parts.is_empty() {
            let frame = payload::join(client.encoding, parts.iter());
            match client.outlet.data(&frame) {
                Ok(()) => tally.replayed(parts.len(), frame.len()),
                Err(Refused::Full) => {
                    client.conflating = true;
                    tally.conflations += 1;
                    return Ok(());
                }
                Err(Refused::Closed) => return Err(()),
            }
        }
        match (last, view.markets().get(symbol)) {
            // More to send: the next frame, or the next pass.
            (Some(seq), Some(market)) if seq < market.seq => client.replays[0].1 = seq + 1,
            _ => {
                client.replays.pop_front();
                client.replaying.remove(symbol);
            }
        }
    }
    Ok(())
}

/// Marks the subscribed symbols of this pass's events as owed a snapshot.
fn mark_stale(client: &mut Client, events: &[PassEvent]) {
    for &PassEvent { symbol, depth, .. } in events {
        if depth.is_none() && client.subscribed.contains(symbol) {
            client.stale.insert(symbol);
        }
        if depth.is_some() && client.books.contains_key(&symbol) {
            client.books_stale.insert(symbol);
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
        let part = payload::encode(client.encoding, &market.snapshot(), ids);
        bytes += part.len() + 1;
        parts.push(part);
        in_frame.push(symbol);
        if bytes < SNAPSHOT_FRAME_BYTES && n + 1 < owed.len() {
            continue;
        }
        let frame = payload::join(client.encoding, parts.iter());
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
    /// A book update at this depth; `None` for the quote stream.
    depth: Option<usize>,
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
