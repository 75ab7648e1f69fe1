//! An edge's side of the NATS bus: joins the core (its hello and every symbol's state), follows
//! the symbols its clients subscribe to (each: its subject first, then its state, so that events
//! buffer meanwhile and none falls between), checks each symbol's `seq`, repairs a gap from
//! the core's history (or restores the symbol from its state when history no longer covers it),
//! forwards its connections' orders, cancels and closes by request with retries, and watches the
//! core's heartbeat for a new epoch.

mod join;
mod orders;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use async_nats::Client;
use bytes::Bytes;
use futures_util::StreamExt;
use futures_util::stream::SelectAll;
use protocol::recording::Stream;
use protocol::{ClientMessage, Decoder, now_ns};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

pub use join::{Joined, join};
use join::{states, sync_request};

use super::{
    BusSettings, EVENTS_PER_REPLAY, HEARTBEAT, MISSED_HEARTBEATS, REQUEST_TIMEOUT, SYNC_TIMEOUT,
    wire,
};
use crate::bitset::BitSet;
use crate::bus::{Delivery, ToCore, ToEdge};
use crate::feed::universe::Universe;
use crate::market::{ConnId, Market, MarketState, Sequenced};
use crate::metrics::{How, Metrics};

/// One followed symbol's events, until it is let go.
type Events = std::pin::Pin<Box<dyn futures_util::Stream<Item = async_nats::Message> + Send>>;

/// Why the link stopped.
#[derive(Debug)]
pub enum Ended {
    /// Asked to stop.
    Shutdown,
    /// The core's heartbeat names another epoch: it restarted.
    NewEpoch(String),
    /// The follower is gone.
    FollowerGone,
}

/// An order, a cancel or a close on its way to the core.
struct Pending {
    id: ConnId,
    body: Bytes,
    tries: u32,
    deadline: Instant,
    sent: Instant,
    /// The order or cancel, for the reject if the core never answers; none for a close.
    asked: Option<ClientMessage>,
}

/// The edge's state on the bus.
struct Link {
    client: Client,
    settings: BusSettings,
    edge: u64,
    epoch: String,
    /// Each symbol's last `seq` passed on, of its quotes and of its book.
    seqs: Vec<u64>,
    book_seqs: Vec<u64>,
    /// Markets for making each event's message (only their instruments are used).
    markets: Vec<Market>,
    to_follower: mpsc::Sender<ToEdge>,
    pending: HashMap<u64, Pending>,
    next_tag: u64,
    replies: String,
    decoder: Decoder,
    core_seen: Instant,
    /// Symbols whose subject this edge subscribed to, each with the token that ends its
    /// subscription.
    subscribed: Vec<Option<CancellationToken>>,
    /// The same for symbols whose book subject this edge subscribed to.
    book_subscribed: Vec<Option<CancellationToken>>,
    /// Events of history to take from the core for a symbol a client resumes
    /// (`--history-events`).
    backfill: u64,
    names: Vec<protocol::Symbol>,
    metrics: Arc<Metrics>,
    /// Which symbols' source is stale, as the core last published it; the edge's greetings
    /// read it.
    stale: watch::Sender<BitSet>,
}

/// Follows the core until `shutdown`, a new epoch, or the follower ends.
#[allow(clippy::too_many_arguments)] // the link's parts, each distinct
pub async fn run(
    client: Client,
    settings: BusSettings,
    edge: u64,
    joined: Joined,
    universe: &Universe,
    backfill: usize,
    to_follower: mpsc::Sender<ToEdge>,
    mut from_follower: mpsc::Receiver<ToCore>,
    metrics: Arc<Metrics>,
    stale: watch::Sender<BitSet>,
    shutdown: CancellationToken,
) -> Ended {
    let Joined { hello, states, .. } = joined;
    // One subscription per followed symbol, read as one stream.
    let mut events = SelectAll::<Events>::new();
    let subjects = settings.subjects.clone();
    let replies = format!("{}.{edge:016x}", client.new_inbox());
    let (Ok(mut answers), Ok(mut fills), Ok(mut core_beats), Ok(mut statuses)) = (
        client.subscribe(format!("{replies}.*")).await,
        client.subscribe(subjects.fills(edge)).await,
        client.subscribe(subjects.core_heartbeat()).await,
        client.subscribe(subjects.status()).await,
    ) else {
        tracing::error!("cannot subscribe on the bus");
        return Ended::Shutdown;
    };
    let now = now_ns();
    let mut link = Link {
        seqs: states.iter().map(|s| s.seq).collect(),
        book_seqs: states.iter().map(|s| s.book_seq).collect(),
        markets: universe
            .instruments
            .iter()
            .map(|i| Market::new(i.clone(), now))
            .collect(),
        client: client.clone(),
        settings,
        edge,
        epoch: hello.epoch,
        to_follower,
        pending: HashMap::new(),
        next_tag: 1,
        replies,
        decoder: Decoder::new(),
        core_seen: Instant::now(),
        subscribed: vec![None; universe.len()],
        book_subscribed: vec![None; universe.len()],
        backfill: u64::try_from(backfill).unwrap_or(u64::MAX),
        names: universe.names().to_vec(),
        metrics,
        stale,
    };
    link.metrics.bus.enabled.store(true, Ordering::Relaxed);
    let mut beat = tokio::time::interval(HEARTBEAT);
    beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut retry = tokio::time::interval(REQUEST_TIMEOUT / 5);
    retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut arrived = Vec::new();
    let mut requests = Vec::with_capacity(64);
    loop {
        tokio::select! {
            biased;
            () = shutdown.cancelled() => return Ended::Shutdown,
            Some(message) = events.next(), if !events.is_empty() => {
                arrived.push(message.payload);
                // Whatever else already arrived goes in the same batch.
                while arrived.len() < 1_024 {
                    match futures_util::FutureExt::now_or_never(events.next()) {
                        Some(Some(message)) => arrived.push(message.payload),
                        _ => break,
                    }
                }
                if !link.on_events(&mut arrived).await {
                    return Ended::FollowerGone;
                }
            }
            n = from_follower.recv_many(&mut requests, 64) => {
                if n == 0 {
                    return Ended::FollowerGone;
                }
                for request in requests.drain(..) {
                    if let ToCore::Follow { symbols, since, books } = request {
                        let followed = if books {
                            link.follow_books(&symbols, &mut events).await
                        } else {
                            link.follow(&symbols, &since, &mut events).await
                        };
                        if !followed {
                            return Ended::FollowerGone;
                        }
                    } else if let ToCore::Unfollow { symbols, books } = request {
                        link.unfollow(&symbols, books);
                    } else {
                        link.request(request).await;
                    }
                }
            }
            Some(answer) = answers.next() => link.on_answer(&answer).await,
            Some(fill) = fills.next() => link.on_fill(&fill.payload).await,
            Some(status) = statuses.next() => {
                if !link.on_status(&status.payload).await {
                    return Ended::FollowerGone;
                }
            }
            Some(beat) = core_beats.next() => {
                link.core_seen = Instant::now();
                let epoch = String::from_utf8_lossy(&beat.payload).into_owned();
                if epoch != link.epoch {
                    return Ended::NewEpoch(epoch);
                }
            }
            _ = beat.tick() => link.heartbeat().await,
            _ = retry.tick(), if !link.pending.is_empty() => link.retry().await,
        }
    }
}

impl Link {
    /// The core published which symbols' source is stale: when that changed, the follower tells
    /// the clients. False if the follower is gone.
    async fn on_status(&mut self, body: &[u8]) -> bool {
        let stale = match wire::status(body, self.names.len()) {
            Ok(stale) => stale,
            Err(e) => {
                tracing::warn!("skipped a status from the bus: {e}");
                return true;
            }
        };
        let changed = self.stale.send_if_modified(|now| {
            let changed = *now != stale;
            if changed {
                now.clone_from(&stale);
            }
            changed
        });
        !changed || self.to_follower.send(ToEdge::Status(stale)).await.is_ok()
    }

    /// Starts following `symbols`: subscribes to each one's subject, then takes its state from
    /// the core (events that arrive meanwhile wait in the subscription, and those the state
    /// already holds are dropped by the `seq` check), then tells the follower. False if the
    /// follower is gone.
    async fn follow(
        &mut self,
        symbols: &BitSet,
        since: &[(usize, u64)],
        events: &mut SelectAll<Events>,
    ) -> bool {
        let mut fresh = BitSet::new(self.seqs.len());
        for symbol in symbols.iter() {
            let (Some(slot), Some(name)) =
                (self.subscribed.get_mut(symbol), self.names.get(symbol))
            else {
                continue;
            };
            if slot.is_some() {
                continue;
            }
            match self
                .client
                .subscribe(self.settings.subjects.events(name))
                .await
            {
                Ok(subscription) => {
                    // The subscription ends (and NATS forgets it) when the token is cancelled.
                    let stop = CancellationToken::new();
                    events.push(Box::pin(
                        subscription.take_until(stop.clone().cancelled_owned()),
                    ));
                    *slot = Some(stop);
                    fresh.insert(symbol);
                }
                Err(e) => tracing::warn!(symbol = %name, "cannot subscribe on the bus: {e}"),
            }
        }
        if !fresh.is_empty() {
            let total = self.seqs.len();
            // One page or a few for all of them: simpler than a request per symbol.
            match states(&self.client, &self.settings, total, 0, total).await {
                Ok(all) => {
                    for symbol in fresh.iter() {
                        let Some(state) = all.get(symbol).cloned() else {
                            continue;
                        };
                        let quotes_seq = state.seq;
                        self.took(symbol, &state);
                        if self
                            .to_follower
                            .send(ToEdge::Restore { symbol, state })
                            .await
                            .is_err()
                        {
                            return false;
                        }
                        // What resuming clients missed, from the core's history: as far back as
                        // this edge keeps, so that others resuming from further back are
                        // covered too.
                        if let Some(&(_, from)) = since.iter().find(|&&(s, _)| s == symbol)
                            && from < quotes_seq
                        {
                            let after = from.min(quotes_seq.saturating_sub(self.backfill));
                            let events = self.history(symbol, after, quotes_seq).await;
                            if !events.is_empty()
                                && self
                                    .to_follower
                                    .send(ToEdge::Backfill { symbol, events })
                                    .await
                                    .is_err()
                            {
                                return false;
                            }
                        }
                    }
                }
                // The core is away: the view keeps the state from the join, and the first
                // event shows the gap, which is mended then.
                Err(e) => tracing::warn!("cannot take the state of newly followed symbols: {e}"),
            }
        }
        self.to_follower
            .send(ToEdge::Following {
                symbols: symbols.clone(),
                books: false,
            })
            .await
            .is_ok()
    }

    /// Starts following the books of `symbols`: subscribes to each one's book subject, then
    /// takes its book from the core's state, then tells the follower. False if the follower is
    /// gone.
    async fn follow_books(&mut self, symbols: &BitSet, events: &mut SelectAll<Events>) -> bool {
        let mut fresh = BitSet::new(self.seqs.len());
        for symbol in symbols.iter() {
            let (Some(slot), Some(name)) =
                (self.book_subscribed.get_mut(symbol), self.names.get(symbol))
            else {
                continue;
            };
            if slot.is_some() {
                continue;
            }
            match self
                .client
                .subscribe(self.settings.subjects.books(name))
                .await
            {
                Ok(subscription) => {
                    let stop = CancellationToken::new();
                    events.push(Box::pin(
                        subscription.take_until(stop.clone().cancelled_owned()),
                    ));
                    *slot = Some(stop);
                    fresh.insert(symbol);
                }
                Err(e) => tracing::warn!(symbol = %name, "cannot subscribe on the bus: {e}"),
            }
        }
        if let (Some(low), Some(high)) = (fresh.iter().next(), fresh.iter().last()) {
            let total = self.seqs.len();
            // The states from the first fresh symbol to the last: each carries its book.
            let count = high - low + 1;
            match states(&self.client, &self.settings, total, low, count).await {
                Ok(range) => {
                    for symbol in fresh.iter() {
                        let Some(state) = range.get(symbol - low).cloned() else {
                            continue;
                        };
                        if let Some(seq) = self.book_seqs.get_mut(symbol) {
                            *seq = state.book_seq;
                        }
                        if self
                            .to_follower
                            .send(ToEdge::RestoreBook { symbol, state })
                            .await
                            .is_err()
                        {
                            return false;
                        }
                    }
                }
                // The core is away: the first book event shows the gap, mended then.
                Err(e) => tracing::warn!("cannot take the books of newly followed symbols: {e}"),
            }
        }
        self.to_follower
            .send(ToEdge::Following {
                symbols: symbols.clone(),
                books: true,
            })
            .await
            .is_ok()
    }

    /// Stops taking the events (or the book events) of `symbols`: their subscriptions end.
    fn unfollow(&mut self, symbols: &BitSet, books: bool) {
        let slots = if books {
            &mut self.book_subscribed
        } else {
            &mut self.subscribed
        };
        for symbol in symbols.iter() {
            if let Some(stop) = slots.get_mut(symbol).and_then(Option::take) {
                stop.cancel();
            }
        }
    }

    /// Passes on the events that follow each symbol's last `seq`, repairing gaps first; false
    /// if the follower is gone.
    async fn on_events(&mut self, arrived: &mut Vec<Bytes>) -> bool {
        let mut batch = Vec::with_capacity(arrived.len());
        let symbols = self.seqs.len();
        for body in arrived.drain(..) {
            let event = match wire::event(&body, symbols) {
                Ok(event) => event,
                Err(e) => {
                    tracing::warn!("an event on the bus cannot be read: {e}");
                    continue;
                }
            };
            self.metrics.bus_messages.inc();
            if event.event.stream() == Stream::Book {
                let last = self
                    .book_seqs
                    .get(event.symbol)
                    .copied()
                    .unwrap_or(u64::MAX);
                if event.seq <= last {
                    continue;
                }
                if event.seq > last.saturating_add(1) {
                    // The core keeps no history of books: the symbol starts again from its
                    // state, and its subscribers from a fresh `book`.
                    if !self.send(std::mem::take(&mut batch)).await
                        || !self.restore_book(event.symbol).await
                    {
                        return false;
                    }
                    // Caught up by the restore, or (the core away) still short of it: this
                    // event is not passed on, and the next one tries again.
                    if self
                        .book_seqs
                        .get(event.symbol)
                        .is_none_or(|&s| s >= event.seq || s.saturating_add(1) < event.seq)
                    {
                        continue;
                    }
                }
                self.lag(event.ts_ns);
                batch.extend(self.delivery(event));
                continue;
            }
            let last = self.seqs.get(event.symbol).copied().unwrap_or(u64::MAX);
            if event.seq <= last {
                continue;
            }
            if event.seq > last.saturating_add(1) {
                // What went before goes first, then the repair, then this event.
                if !self.send(std::mem::take(&mut batch)).await {
                    return false;
                }
                if !self.repair(event.symbol, last, event.seq - 1).await {
                    return false;
                }
                // Caught up by the repair, or (the core away or late) still short of it: a
                // gap never reaches the clients; the next event of the symbol tries again.
                if self
                    .seqs
                    .get(event.symbol)
                    .is_none_or(|&s| s >= event.seq || s.saturating_add(1) < event.seq)
                {
                    continue;
                }
            }
            self.lag(event.ts_ns);
            batch.extend(self.delivery(event));
        }
        self.send(batch).await
    }

    /// The event with its message; `None` for a symbol past the universe (never: the body's
    /// reader checks).
    fn delivery(&mut self, event: Sequenced) -> Option<Delivery> {
        let message = self
            .markets
            .get(event.symbol)?
            .message(&event.event, event.seq, event.ts_ns);
        let seqs = match event.event.stream() {
            Stream::Quotes => &mut self.seqs,
            Stream::Book => &mut self.book_seqs,
        };
        *seqs.get_mut(event.symbol)? = event.seq;
        Some(Delivery::new(event, message))
    }

    /// Notes the `seq`s of a state the follower is about to take.
    fn took(&mut self, symbol: usize, state: &MarketState) {
        if let Some(seq) = self.seqs.get_mut(symbol) {
            *seq = state.seq;
        }
        if let Some(seq) = self.book_seqs.get_mut(symbol) {
            *seq = state.book_seq;
        }
    }

    fn lag(&self, ts_ns: u64) {
        self.metrics
            .bus
            .lag_ns
            .store(now_ns().saturating_sub(ts_ns), Ordering::Relaxed);
    }

    async fn send(&self, batch: Vec<Delivery>) -> bool {
        if batch.is_empty() {
            return true;
        }
        self.to_follower
            .send(ToEdge::Events(batch.into()))
            .await
            .is_ok()
    }

    /// The events of `symbol` after `after` up to `until` from the core's history, in pages;
    /// empty if it no longer holds them all.
    async fn history(&self, symbol: usize, after: u64, until: u64) -> Vec<Sequenced> {
        let mut out = Vec::new();
        let mut from = after;
        while from < until {
            let request =
                wire::put_replay_request(u32::try_from(symbol).unwrap_or(u32::MAX), from, until);
            let answer = sync_request(
                &self.client,
                self.settings.subjects.replay(),
                Bytes::from(request),
            )
            .await;
            let page = answer.ok().and_then(|m| {
                wire::events(&m.payload, self.seqs.len(), EVENTS_PER_REPLAY)
                    .ok()
                    .flatten()
            });
            let Some(page) = page.filter(|p| !p.is_empty()) else {
                return Vec::new();
            };
            for event in page {
                if event.symbol != symbol || event.seq != from + 1 {
                    return Vec::new();
                }
                from = event.seq;
                out.push(event);
            }
        }
        out
    }

    /// Mends `symbol` from `after` to `until`: from the core's history while it holds the
    /// events, else from its state (the symbol's subscribers then get a snapshot). A core that
    /// does not answer in time leaves the gap for the next event to mend.
    async fn repair(&mut self, symbol: usize, after: u64, until: u64) -> bool {
        let mut from = after;
        while from < until {
            let request =
                wire::put_replay_request(u32::try_from(symbol).unwrap_or(u32::MAX), from, until);
            let answer = tokio::time::timeout(
                SYNC_TIMEOUT,
                sync_request(
                    &self.client,
                    self.settings.subjects.replay(),
                    Bytes::from(request),
                ),
            )
            .await;
            // The core is late or away, not short of history: the gap stays unmended and its
            // events held back, and the next event of the symbol asks again (a busy core would
            // otherwise cost the clients a snapshot it need not).
            let Ok(Ok(message)) = answer else {
                tracing::debug!(symbol, after = from, until, "no answer to a repair yet");
                return true;
            };
            let events = wire::events(&message.payload, self.seqs.len(), EVENTS_PER_REPLAY)
                .ok()
                .flatten();
            let Some(events) = events.filter(|e| !e.is_empty()) else {
                return self.restore(symbol).await;
            };
            let mut batch = Vec::with_capacity(events.len());
            for event in events {
                if event.symbol == symbol && event.seq == from + 1 {
                    from = event.seq;
                    batch.extend(self.delivery(event));
                }
            }
            if batch.is_empty() {
                return self.restore(symbol).await;
            }
            if !self.send(batch).await {
                return false;
            }
        }
        self.metrics
            .bus_gaps
            .get_or_create(&How { how: "repaired" })
            .inc();
        true
    }

    async fn restore(&mut self, symbol: usize) -> bool {
        let total = self.seqs.len();
        match states(&self.client, &self.settings, total, symbol, 1).await {
            Ok(mut states) if states.len() == 1 => {
                let state = states.remove(0);
                self.took(symbol, &state);
                self.metrics
                    .bus_gaps
                    .get_or_create(&How { how: "restored" })
                    .inc();
                self.to_follower
                    .send(ToEdge::Restore { symbol, state })
                    .await
                    .is_ok()
            }
            other => {
                // The core is away: the next event of this symbol tries again.
                tracing::warn!(symbol, "cannot mend a gap now: {:?}", other.err());
                true
            }
        }
    }

    /// Starts the book of `symbol` again from the core's state.
    async fn restore_book(&mut self, symbol: usize) -> bool {
        let total = self.seqs.len();
        match states(&self.client, &self.settings, total, symbol, 1).await {
            Ok(mut states) if states.len() == 1 => {
                let state = states.remove(0);
                if let Some(seq) = self.book_seqs.get_mut(symbol) {
                    *seq = state.book_seq;
                }
                self.metrics
                    .bus_gaps
                    .get_or_create(&How {
                        how: "book_restored",
                    })
                    .inc();
                self.to_follower
                    .send(ToEdge::RestoreBook { symbol, state })
                    .await
                    .is_ok()
            }
            other => {
                tracing::warn!(symbol, "cannot mend a book gap now: {:?}", other.err());
                true
            }
        }
    }

    /// Says the edge is alive, and notes whether the bus and the core are.
    async fn heartbeat(&mut self) {
        let connected = self.client.connection_state() == async_nats::connection::State::Connected;
        let core_alive = connected && self.core_seen.elapsed() < HEARTBEAT * MISSED_HEARTBEATS;
        let bus = &self.metrics.bus;
        bus.connected.store(connected, Ordering::Relaxed);
        bus.core_alive.store(core_alive, Ordering::Relaxed);
        self.metrics.bus_connected.set(i64::from(connected));
        let connections = u64::try_from(self.metrics.connections.get()).unwrap_or(0);
        let body = wire::put_heartbeat(self.edge, connections);
        let _ = self
            .client
            .publish(self.settings.subjects.edge_heartbeat(), Bytes::from(body))
            .await;
    }
}
