//! An edge apart from the core (`--edges N`, on its own thread): it follows the core's events in
//! its own [`View`], serves its clients' subscriptions, snapshots and resumes from it, and makes
//! its own fan-out passes; orders and cancels go to the core over the bus, and their answers come
//! back the same way.
//!
//! The edge never waits on the core: what it cannot send at once waits in a short queue, and
//! while that queue is full it stops taking its connections' requests (they wait in theirs), but
//! it always reads what the core sends, so the two cannot wait on each other.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use protocol::ServerMessage;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::Command;
use super::fanout::Fanout;
use crate::bitset::BitSet;
use crate::bus::{ToCore, ToEdge};
use crate::feed::universe::Universe;
use crate::market::{ConnId, View};
use crate::metrics::Metrics;

/// Clients written to between two looks at inbound orders (as the hub does).
const CLIENTS_PER_TURN: usize = 16;
/// How often passes run without events while some client is owed snapshots.
const OWED_RETRY: Duration = Duration::from_millis(10);
/// Requests for the core held while the bus to it is full; past it, connections wait.
const MAX_HELD: usize = 1_024;
/// Subscriptions waiting for their symbols to be followed; past it, connections wait.
const MAX_WAITING: usize = 1_024;
/// How often an edge that follows only what its clients want looks for symbols nobody wants; a
/// symbol is let go after two looks in a row found it unwanted.
const UNFOLLOW_SWEEP: Duration = Duration::from_secs(5);

/// The state of an edge apart from the core.
#[derive(Debug)]
pub struct Follower {
    view: View,
    fanout: Fanout,
    /// Symbols whose events come to this edge; an edge over NATS follows only those its clients
    /// subscribed to, and asks for more as they do.
    followed: BitSet,
    /// Symbols asked for and not yet followed.
    asked: BitSet,
    /// The same for books: symbols whose book events come to this edge, and those asked for.
    followed_books: BitSet,
    asked_books: BitSet,
    unwanted_books: BitSet,
    /// Subscriptions waiting for their symbols to be followed, in the order they came.
    waiting: VecDeque<Command>,
    /// Follows only what its clients want (an edge over NATS).
    by_interest: bool,
    /// Followed symbols nobody wanted at the last sweep.
    unwanted: BitSet,
    /// What waits for room on the bus to the core, in order.
    held: VecDeque<ToCore>,
    to_core: mpsc::Sender<ToCore>,
}

impl Follower {
    /// A follower of every symbol (`follow_all`, as in-process edges are), or of none until its
    /// clients want them (an edge over NATS).
    pub fn new(
        universe: Arc<Universe>,
        view: View,
        to_core: mpsc::Sender<ToCore>,
        metrics: Arc<Metrics>,
        follow_all: bool,
    ) -> Self {
        let mut followed = BitSet::new(universe.len());
        if follow_all {
            followed.insert_all();
        }
        Self {
            view,
            asked: BitSet::new(universe.len()),
            followed_books: followed.clone(),
            asked_books: BitSet::new(universe.len()),
            unwanted_books: BitSet::new(universe.len()),
            unwanted: BitSet::new(universe.len()),
            followed,
            waiting: VecDeque::new(),
            by_interest: !follow_all,
            fanout: Fanout::new(universe, metrics),
            held: VecDeque::new(),
            to_core,
        }
    }

    /// Runs until shutdown, or until the core or every connection handle is gone.
    pub async fn run(
        mut self,
        mut from_core: mpsc::Receiver<ToEdge>,
        mut commands: mpsc::Receiver<Command>,
        shutdown: CancellationToken,
    ) {
        let mut retry = tokio::time::interval(OWED_RETRY);
        retry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut sweep = tokio::time::interval(UNFOLLOW_SWEEP);
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut pending = Vec::with_capacity(64);
        let to_core = self.to_core.clone();
        loop {
            tokio::select! {
                biased;
                () = shutdown.cancelled() => break,
                message = from_core.recv() => match message {
                    Some(message) => self.on_core(message, &mut commands).await,
                    None => break,
                },
                permit = to_core.reserve(), if !self.held.is_empty() => {
                    let Ok(permit) = permit else { break };
                    if let Some(request) = self.held.pop_front() {
                        permit.send(request);
                    }
                }
                n = commands.recv_many(&mut pending, 64), if self.held.len() < MAX_HELD && self.waiting.len() < MAX_WAITING => {
                    if n == 0 {
                        break;
                    }
                    for command in pending.drain(..) {
                        self.handle(command);
                    }
                }
                _ = retry.tick(), if self.fanout.owed() => self.pass(&mut commands).await,
                _ = sweep.tick(), if self.by_interest => self.sweep(),
            }
        }
    }

    async fn on_core(&mut self, message: ToEdge, commands: &mut mpsc::Receiver<Command>) {
        match message {
            ToEdge::Events(batch) => {
                for delivery in batch.iter() {
                    let change = self.view.apply(&delivery.sequenced);
                    self.fanout.add(delivery, &self.view, change);
                }
                self.pass(commands).await;
            }
            ToEdge::Answers { id, answers, .. } => {
                if !answers.is_empty() {
                    self.reply(id, &answers);
                }
            }
            ToEdge::Restore { symbol, state } => {
                self.view.restore(symbol, &state);
                self.fanout.resync(symbol);
            }
            ToEdge::Backfill { symbol, events } => self.view.backfill(symbol, &events),
            ToEdge::RestoreBook { symbol, state } => {
                self.view.restore_book(symbol, &state);
                self.fanout.resync_book(symbol);
            }
            ToEdge::Following { symbols, books } => {
                if books {
                    self.followed_books.union_with(&symbols);
                    self.asked_books.subtract(&symbols);
                } else {
                    self.followed.union_with(&symbols);
                    self.asked.subtract(&symbols);
                }
                // The subscriptions whose symbols are all followed now go ahead, in order.
                let waiting = std::mem::take(&mut self.waiting);
                for command in waiting {
                    self.handle(command);
                }
            }
            ToEdge::Status(stale) => {
                self.fanout.status(&stale);
                self.fanout.remove_dropped();
                self.close_gone();
            }
            ToEdge::Fill { id, fill } => {
                self.fanout.fill(id, &fill);
                self.fanout.remove_dropped();
                self.close_gone();
            }
        }
    }

    /// A pass over every client, a few at a time; orders and cancels that arrive meanwhile go to
    /// the core at once, anything else waits for the pass to end.
    async fn pass(&mut self, commands: &mut mpsc::Receiver<Command>) {
        let mut deferred = Vec::new();
        self.fanout.begin_pass();
        loop {
            let done = self.fanout.fan_out(CLIENTS_PER_TURN, &self.view);
            self.close_gone();
            if done {
                break;
            }
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
        for command in deferred {
            self.handle(command);
        }
    }

    fn handle(&mut self, command: Command) {
        match command {
            Command::Connect { id, outlet } => {
                self.fanout.connect(id, outlet);
                self.send(ToCore::Open { id });
            }
            Command::Disconnect { id } => self.remove(id),
            Command::Subscribe {
                id,
                symbols,
                resume,
                quotes,
                book,
            } => {
                let mut missing = BitSet::new(symbols.bound());
                if quotes {
                    missing.union_with(&symbols);
                    missing.subtract(&self.followed);
                }
                let mut missing_books = BitSet::new(symbols.bound());
                if book.is_some() {
                    missing_books.union_with(&symbols);
                    missing_books.subtract(&self.followed_books);
                }
                if !missing.is_empty() || !missing_books.is_empty() {
                    // Asked once per symbol; the subscription waits for them.
                    missing.subtract(&self.asked);
                    missing_books.subtract(&self.asked_books);
                    if !missing_books.is_empty() {
                        self.asked_books.union_with(&missing_books);
                        self.send(ToCore::Follow {
                            symbols: missing_books,
                            books: true,
                            since: Vec::new(),
                        });
                    }
                    if !missing.is_empty() {
                        self.asked.union_with(&missing);
                        let since = resume
                            .as_ref()
                            .filter(|r| r.epoch == self.view.epoch())
                            .map(|r| {
                                r.from
                                    .iter()
                                    .copied()
                                    .filter(|&(s, _)| missing.contains(s))
                                    .collect()
                            })
                            .unwrap_or_default();
                        self.send(ToCore::Follow {
                            symbols: missing,
                            books: false,
                            since,
                        });
                    }
                    self.waiting.push_back(Command::Subscribe {
                        id,
                        symbols,
                        resume,
                        quotes,
                        book,
                    });
                    return;
                }
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
                if self.fanout.contains(id) {
                    self.send(ToCore::Order { id, order, tag: 0 });
                }
            }
            Command::Cancel { id, cancel } => {
                if self.fanout.contains(id) {
                    self.send(ToCore::Cancel { id, cancel, tag: 0 });
                }
            }
        }
    }

    /// Lets go of symbols no client has wanted for two sweeps in a row.
    fn sweep(&mut self) {
        let mut unwanted = self.followed.clone();
        unwanted.subtract(&self.fanout.wanted());
        for command in &self.waiting {
            if let Command::Subscribe { symbols, .. } = command {
                unwanted.subtract(symbols);
            }
        }
        let mut gone = unwanted.clone();
        gone.intersect_with(&self.unwanted);
        self.unwanted = unwanted;
        if !gone.is_empty() {
            self.followed.subtract(&gone);
            self.unwanted.subtract(&gone);
            self.send(ToCore::Unfollow {
                symbols: gone,
                books: false,
            });
        }
        let mut unwanted = self.followed_books.clone();
        unwanted.subtract(&self.fanout.wanted_books());
        for command in &self.waiting {
            if let Command::Subscribe {
                symbols,
                book: Some(_),
                ..
            } = command
            {
                unwanted.subtract(symbols);
            }
        }
        let mut gone = unwanted.clone();
        gone.intersect_with(&self.unwanted_books);
        self.unwanted_books = unwanted;
        if !gone.is_empty() {
            self.followed_books.subtract(&gone);
            self.unwanted_books.subtract(&gone);
            self.send(ToCore::Unfollow {
                symbols: gone,
                books: true,
            });
        }
    }

    fn reply(&mut self, id: ConnId, answers: &[ServerMessage]) {
        if self.fanout.reply(id, answers).is_err() {
            self.remove(id);
        }
    }

    fn remove(&mut self, id: ConnId) {
        if self.fanout.remove(id) {
            self.send(ToCore::Close { id });
        }
    }

    /// Closes, at the core, the accounts of the clients the fan-out let go of.
    fn close_gone(&mut self) {
        let gone: Vec<ConnId> = self.fanout.take_gone().collect();
        for id in gone {
            self.send(ToCore::Close { id });
        }
    }

    /// Sends a request to the core now if the bus has room, else after those held before it.
    fn send(&mut self, request: ToCore) {
        if !self.held.is_empty() {
            self.held.push_back(request);
            return;
        }
        match self.to_core.try_send(request) {
            Err(mpsc::error::TrySendError::Full(request)) => self.held.push_back(request),
            // Sent; or the core is gone, and the edge stops when its channel closes.
            Ok(()) | Err(mpsc::error::TrySendError::Closed(_)) => {}
        }
    }
}
