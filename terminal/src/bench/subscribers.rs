//! The subscriber side of a benchmark: `--clients` connections spread over client threads, each
//! thread a single-threaded runtime with one shared tally. For every quote and trade a client
//! checks the per-symbol `seq` and records the tick latency (receive time minus `ts_ns`).
//!
//! The tally is shared by the clients of one thread (not one per client): a latency histogram
//! takes about 400 kB, which 10,000 clients could not each keep. The lock is uncontended but for
//! the coordinator's once-a-second reading.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use protocol::book::{BookStep, OrderBook};
use protocol::{ClientMessage, Resume, Sequence, ServerMessage, Step, Subscribe, Symbol, now_ns};
use tokio::sync::{Notify, Semaphore, watch};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use super::scan;
use crate::latency::histogram;

/// Most distinct error descriptions kept; later ones are counted under "other".
const MAX_ERROR_KINDS: usize = 32;
/// Handshakes in flight per client thread, to stay under a server's handshake limit.
const CONNECTS_PER_THREAD: usize = 64;
/// tungstenite's read buffer per connection (its default, 128 KiB, is too much at 10,000).
const READ_BUFFER: usize = 16 * 1024;

/// Symbol name to a dense index, from the server's `hello`. Looked up once per delivery, so
/// with a fast hash (foldhash) rather than the DoS-resistant default: the keys are the server's.
pub(crate) type SymbolIndex = HashMap<Box<str>, usize, foldhash::fast::RandomState>;

/// Errors by description, bounded.
#[derive(Debug, Clone, Default)]
pub(crate) struct Errors(pub BTreeMap<String, u64>);

impl Errors {
    pub fn add(&mut self, what: String) {
        self.add_n(what, 1);
    }

    fn add_n(&mut self, what: String, n: u64) {
        let key = if self.0.len() < MAX_ERROR_KINDS || self.0.contains_key(&what) {
            what
        } else {
            "other".to_owned()
        };
        let count = self.0.entry(key).or_default();
        *count = count.saturating_add(n);
    }

    pub fn merge(&mut self, other: &Self) {
        for (what, n) in &other.0 {
            self.add_n(what.clone(), *n);
        }
    }

    pub fn total(&self) -> u64 {
        self.0.values().sum()
    }
}

/// What the subscribers of one thread saw.
#[derive(Debug)]
pub(crate) struct Tally {
    /// Whether the measured window is open; counts and histograms only grow while it is.
    pub measuring: bool,
    pub deliveries: u64,
    /// Deliveries by URL (`--url` with several), in the plan's order.
    pub by_url: Vec<u64>,
    pub frames: u64,
    pub bytes: u64,
    /// Events missing from the `seq` sequences (a jump, or a re-sync snapshot ahead of the last
    /// event), and the jumps they were missing in.
    pub gaps: u64,
    pub gap_jumps: u64,
    /// Events whose `seq` was not above the last one seen.
    pub out_of_order: u64,
    /// Snapshots received in the window (the server re-synced a conflated client).
    pub resyncs: u64,
    pub tick: Histogram<u64>,
    /// Tick latency since the last progress reading.
    pub recent: Histogram<u64>,
    /// Over the whole run, warm-up included.
    pub errors: Errors,
    /// Churn (`--churn`): connections dropped on purpose, resumes answered, symbols recovered
    /// and given snapshots, gaps seen on connections that resumed, and the time from a drop to
    /// the first event produced after the resume asked for it.
    pub churned: u64,
    pub resumes: u64,
    pub recovered: u64,
    pub resnapshotted: u64,
    pub resume_gaps: u64,
    pub rejoin: Histogram<u64>,
    /// Books (`--channels book`): updates applied in sync, whole books received, checksums that
    /// did not match, book `seq` gaps, and the fresh books asked for after either.
    pub book_updates: u64,
    pub books: u64,
    pub book_mismatches: u64,
    pub book_gaps: u64,
    pub book_resyncs: u64,
}

/// What one frame showed besides its events.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Seen {
    /// The newest `ts_ns` among its quotes and trades (0 without any).
    pub newest_ns: u64,
    /// It holds a `resumed` answer.
    pub resumed: bool,
    /// It holds a `book` or `book_update`: the frame is decoded whole to apply them.
    pub books: bool,
}

impl Default for Tally {
    fn default() -> Self {
        Self {
            measuring: false,
            deliveries: 0,
            by_url: Vec::new(),
            frames: 0,
            bytes: 0,
            gaps: 0,
            gap_jumps: 0,
            out_of_order: 0,
            resyncs: 0,
            tick: histogram(),
            recent: histogram(),
            errors: Errors::default(),
            churned: 0,
            resumes: 0,
            recovered: 0,
            resnapshotted: 0,
            resume_gaps: 0,
            rejoin: histogram(),
            book_updates: 0,
            books: 0,
            book_mismatches: 0,
            book_gaps: 0,
            book_resyncs: 0,
        }
    }
}

impl Tally {
    /// Applies one text frame received at `now` (ns since the epoch), on a connection that
    /// `resumed` (its gaps count apart too).
    pub fn frame(
        &mut self,
        text: &str,
        now: u64,
        last: &mut [Sequence],
        index: &SymbolIndex,
        resumed: bool,
    ) -> Seen {
        let mut seen = Seen::default();
        let gaps_before = self.gaps;
        let measuring = self.measuring;
        if measuring {
            self.frames += 1;
            self.bytes += text.len() as u64;
        }
        let mut malformed = 0u64;
        let mut unknown = 0u64;
        let result = scan::items(text, |item| match &*item.kind {
            "quote" | "trade" => {
                let (Some(symbol), Some(seq), Some(ts)) = (&item.symbol, item.seq, item.ts_ns)
                else {
                    malformed += 1;
                    return;
                };
                let Some(slot) = index.get(&**symbol).and_then(|&i| last.get_mut(i)) else {
                    unknown += 1;
                    return;
                };
                seen.newest_ns = seen.newest_ns.max(ts);
                self.event(slot, seq, ts, now);
            }
            "resumed" => seen.resumed = true,
            "book" | "book_update" => seen.books = true,
            "snapshot" => {
                if let (Some(symbol), Some(seq)) = (&item.symbol, item.seq)
                    && let Some(slot) = index.get(&**symbol).and_then(|&i| last.get_mut(i))
                {
                    self.snapshot(slot, seq);
                }
            }
            "error" => self.errors.add(format!(
                "server error `{}`",
                item.code.as_deref().unwrap_or("?")
            )),
            _ => {}
        });
        if let Err(e) = result {
            self.errors.add(format!("undecodable frame: {e}"));
        }
        if malformed > 0 {
            self.errors
                .add("quote or trade without symbol, seq or ts_ns".to_owned());
        }
        if unknown > 0 {
            self.errors
                .add("event for a symbol not in hello".to_owned());
        }
        if resumed {
            self.resume_gaps += self.gaps - gaps_before;
        }
        seen
    }

    /// Applies one binary frame (`tickwire.v1.bin`) received at `now`. Symbol ids are positions
    /// in `hello`'s list, which is how `last` is indexed.
    pub fn binary_frame(
        &mut self,
        frame: &[u8],
        now: u64,
        last: &mut [Sequence],
        resumed: bool,
    ) -> Seen {
        let mut seen = Seen::default();
        let gaps_before = self.gaps;
        if self.measuring {
            self.frames += 1;
            self.bytes += frame.len() as u64;
        }
        let mut unknown = 0u64;
        let result = scan::binary_items(frame, |item| match item {
            scan::BinItem::Event { id, seq, ts_ns } => {
                let Some(slot) = usize::try_from(id).ok().and_then(|i| last.get_mut(i)) else {
                    unknown += 1;
                    return;
                };
                seen.newest_ns = seen.newest_ns.max(ts_ns);
                self.event(slot, seq, ts_ns, now);
            }
            scan::BinItem::Resumed => seen.resumed = true,
            scan::BinItem::Book => seen.books = true,
            scan::BinItem::Snapshot { id, seq } => {
                if let Some(slot) = usize::try_from(id).ok().and_then(|i| last.get_mut(i)) {
                    self.snapshot(slot, seq);
                }
            }
            scan::BinItem::Error { code } => {
                self.errors.add(format!("server error code {code}"));
            }
        });
        if let Err(e) = result {
            self.errors.add(format!("undecodable binary frame: {e}"));
        }
        if unknown > 0 {
            self.errors
                .add("event for a symbol not in hello".to_owned());
        }
        if resumed {
            self.resume_gaps += self.gaps - gaps_before;
        }
        seen
    }

    /// Applies a `book` (`whole`) or `book_update` received at `now` to the connection's copy of
    /// its symbol's book; true when the copy must be dropped and the book asked for again.
    fn book(
        &mut self,
        books: &mut HashMap<Symbol, OrderBook>,
        book: &protocol::Book,
        whole: bool,
        depth: usize,
        now: u64,
    ) -> bool {
        let mine = books
            .entry(book.symbol.clone())
            .or_insert_with(|| OrderBook::new(depth));
        let step = mine.apply(book, whole);
        let measuring = self.measuring;
        match step {
            BookStep::InSync if whole => self.books += u64::from(measuring),
            BookStep::InSync => {
                if measuring {
                    self.book_updates += 1;
                    self.deliveries += 1;
                    let latency = now.saturating_sub(book.ts_ns).max(1);
                    self.tick.saturating_record(latency);
                    self.recent.saturating_record(latency);
                }
            }
            BookStep::Stale => {}
            BookStep::Gap { .. } | BookStep::Mismatch { .. } => {
                if measuring {
                    if matches!(step, BookStep::Gap { .. }) {
                        self.book_gaps += 1;
                    } else {
                        self.book_mismatches += 1;
                    }
                    self.book_resyncs += 1;
                }
                mine.reset();
                return true;
            }
        }
        false
    }

    /// Counts the deliveries since `before` for URL `url`.
    fn count_for(&mut self, url: usize, before: u64) {
        let new = self.deliveries.saturating_sub(before);
        if new == 0 {
            return;
        }
        if self.by_url.len() <= url {
            self.by_url.resize(url + 1, 0);
        }
        if let Some(n) = self.by_url.get_mut(url) {
            *n += new;
        }
    }

    /// A `resumed` answer, counted in the window.
    fn resumed(&mut self, r: &protocol::Resumed) {
        if self.measuring {
            self.resumes += 1;
            self.recovered += r.recovered_count;
            self.resnapshotted += r.snapshot_count;
        }
    }

    /// A quote or trade with its `seq` and `ts_ns`, for the symbol whose stream is `slot`.
    fn event(&mut self, slot: &mut Sequence, seq: u64, ts: u64, now: u64) {
        let step = slot.event(seq);
        if !self.measuring {
            return;
        }
        self.deliveries += 1;
        match step {
            Step::Gap { missed } => {
                self.gaps += missed;
                self.gap_jumps += 1;
            }
            Step::Stale => self.out_of_order += 1,
            Step::First | Step::Next | Step::Unsynced => {}
        }
        let latency = now.saturating_sub(ts).max(1);
        self.tick.saturating_record(latency);
        self.recent.saturating_record(latency);
    }

    /// A snapshot. After events it is a re-sync: the server conflated this client, and the
    /// events between were never delivered.
    fn snapshot(&mut self, slot: &mut Sequence, seq: u64) {
        let step = slot.snapshot(seq);
        if self.measuring && step != Step::First {
            self.resyncs += 1;
            if let Step::Gap { missed } = step {
                self.gaps += missed;
                self.gap_jumps += 1;
            }
        }
    }

    /// Starts the measured window afresh (errors are kept: they count over the whole run).
    pub fn open_window(&mut self) {
        let errors = std::mem::take(&mut self.errors);
        *self = Self {
            measuring: true,
            errors,
            ..Self::default()
        };
    }

    pub fn merge(&mut self, other: &Self) {
        self.deliveries += other.deliveries;
        if self.by_url.len() < other.by_url.len() {
            self.by_url.resize(other.by_url.len(), 0);
        }
        for (mine, theirs) in self.by_url.iter_mut().zip(&other.by_url) {
            *mine += theirs;
        }
        self.frames += other.frames;
        self.bytes += other.bytes;
        self.gaps += other.gaps;
        self.gap_jumps += other.gap_jumps;
        self.out_of_order += other.out_of_order;
        self.resyncs += other.resyncs;
        self.churned += other.churned;
        self.resumes += other.resumes;
        self.recovered += other.recovered;
        self.resnapshotted += other.resnapshotted;
        self.resume_gaps += other.resume_gaps;
        self.book_updates += other.book_updates;
        self.books += other.books;
        self.book_mismatches += other.book_mismatches;
        self.book_gaps += other.book_gaps;
        self.book_resyncs += other.book_resyncs;
        let _ = self.rejoin.add(&other.rejoin);
        // Both histograms share the same bounds, so adding cannot fail.
        let _ = self.tick.add(&other.tick);
        let _ = self.recent.add(&other.recent);
        self.errors.merge(&other.errors);
    }
}

/// What every subscriber thread needs to know.
#[derive(Debug)]
pub(crate) struct Plan {
    /// The servers (or edges of a cluster): subscriber `i` starts at URL `i` modulo their count
    /// and goes to the next one when its connection drops.
    pub urls: Vec<String>,
    /// Connections made to each URL, over the run.
    pub connects: Vec<AtomicU64>,
    pub encoding: protocol::Encoding,
    /// The subscribe message, encoded once.
    pub subscribe: Message,
    /// What it subscribes to, for the subscribes that resume.
    pub symbols: Vec<Symbol>,
    pub index: SymbolIndex,
    pub clients: usize,
    pub threads: usize,
    /// `--churn`: connections per second, over all subscribers, that drop and resume.
    pub churn: f64,
    /// `--channels` and, with the book, `--depth`.
    pub channels: Vec<protocol::Channel>,
    pub depth: Option<u32>,
}

impl Plan {
    /// A subscribe to `symbols` on the plan's channels, resuming where `resume` says.
    pub fn subscribe_to(&self, symbols: Vec<Symbol>, resume: Option<Resume>) -> Subscribe {
        Subscribe {
            channels: Some(self.channels.clone()),
            depth: self.depth,
            ..Subscribe::resuming(symbols, resume)
        }
    }
}

/// The running subscribers.
#[derive(Debug)]
pub(crate) struct Subscribers {
    threads: Vec<std::thread::JoinHandle<()>>,
    tallies: Vec<Arc<Mutex<Tally>>>,
    stop: watch::Sender<bool>,
    settled: Arc<AtomicUsize>,
    plan: Arc<Plan>,
}

impl Subscribers {
    /// Each URL with the connections made to it so far.
    pub fn connects(&self) -> Vec<(String, u64)> {
        self.plan
            .urls
            .iter()
            .zip(&self.plan.connects)
            .map(|(url, n)| (url.clone(), n.load(Ordering::Relaxed)))
            .collect()
    }

    /// Starts `plan.clients` connections over `plan.threads` threads.
    pub fn start(plan: Plan) -> std::io::Result<Self> {
        let plan = Arc::new(plan);
        let (stop, stopped) = watch::channel(false);
        let settled = Arc::new(AtomicUsize::new(0));
        let mut threads = Vec::new();
        let mut tallies = Vec::new();
        let per_thread = plan.clients.div_ceil(plan.threads.max(1));
        for t in 0..plan.threads.max(1) {
            let first = t * per_thread;
            let count = per_thread.min(plan.clients.saturating_sub(first));
            let tally = Arc::new(Mutex::new(Tally::default()));
            tallies.push(tally.clone());
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let (plan, stopped, settled) = (plan.clone(), stopped.clone(), settled.clone());
            threads.push(
                std::thread::Builder::new()
                    .name(format!("bench-clients-{t}"))
                    .spawn(move || {
                        runtime.block_on(run_thread(plan, first, count, tally, stopped, settled));
                    })?,
            );
        }
        Ok(Self {
            threads,
            tallies,
            stop,
            settled,
            plan,
        })
    }

    /// Connections that have subscribed or failed to.
    pub fn settled(&self) -> usize {
        self.settled.load(Ordering::Relaxed)
    }

    pub fn open_window(&self) {
        for t in &self.tallies {
            super::lock(t).open_window();
        }
    }

    /// Closes the window and returns everything seen, merged.
    pub fn close_window(&self) -> Tally {
        let mut total = Tally::default();
        for t in &self.tallies {
            let mut t = super::lock(t);
            t.measuring = false;
            total.merge(&t);
        }
        total
    }

    /// Deliveries so far in the window, and the tick latency since the last call.
    pub fn progress(&self) -> (u64, Histogram<u64>) {
        let mut recent = histogram();
        let mut deliveries = 0;
        for t in &self.tallies {
            let mut t = super::lock(t);
            deliveries += t.deliveries;
            let _ = recent.add(&t.recent);
            t.recent.reset();
        }
        (deliveries, recent)
    }

    /// Errors counted so far.
    pub fn errors(&self) -> Errors {
        let mut all = Errors::default();
        for t in &self.tallies {
            all.merge(&super::lock(t).errors);
        }
        all
    }

    /// Closes every connection (with 1000, waiting for the server's answer) and joins the
    /// threads.
    pub fn stop(self) {
        let _ = self.stop.send(true);
        for t in self.threads {
            let _ = t.join();
        }
    }
}

async fn run_thread(
    plan: Arc<Plan>,
    first: usize,
    count: usize,
    tally: Arc<Mutex<Tally>>,
    stopped: watch::Receiver<bool>,
    settled: Arc<AtomicUsize>,
) {
    let permits = Arc::new(Semaphore::new(CONNECTS_PER_THREAD));
    let drops: Vec<Arc<Notify>> = (0..count).map(|_| Arc::new(Notify::new())).collect();
    let clients: Vec<_> = drops
        .iter()
        .enumerate()
        .map(|(i, drop)| {
            tokio::spawn(client(
                first + i,
                plan.clone(),
                tally.clone(),
                stopped.clone(),
                settled.clone(),
                permits.clone(),
                drop.clone(),
            ))
        })
        .collect();
    let per_thread = plan.churn / plan.threads.max(1) as f64;
    if per_thread > 0.0 && count > 0 {
        tokio::spawn(churn(per_thread, drops, tally.clone(), stopped.clone()));
    }
    for c in clients {
        let _ = c.await;
    }
}

/// Drops `rate` connections a second of this thread's, in turn, while the window is open.
async fn churn(
    rate: f64,
    drops: Vec<Arc<Notify>>,
    tally: Arc<Mutex<Tally>>,
    mut stopped: watch::Receiver<bool>,
) {
    let mut every = tokio::time::interval(Duration::from_secs_f64(1.0 / rate.max(1e-3)));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut next = 0;
    loop {
        tokio::select! {
            _ = stopped.changed() => return,
            _ = every.tick() => {
                if super::lock(&tally).measuring {
                    drops[next % drops.len()].notify_one();
                    next += 1;
                }
            }
        }
    }
}

/// How one connection of a subscriber ended.
enum Ended {
    /// The run is over.
    Stopped,
    /// Dropped on purpose (`--churn`) at this time.
    Churned(u64),
    /// Lost; reconnect after a backoff.
    Lost,
}

/// One subscriber: connects, subscribes, reads until the run ends. When its connection drops
/// (by `--churn`, or lost) it connects again and resumes from the `seq`s it holds.
async fn client(
    number: usize,
    plan: Arc<Plan>,
    tally: Arc<Mutex<Tally>>,
    mut stopped: watch::Receiver<bool>,
    settled: Arc<AtomicUsize>,
    permits: Arc<Semaphore>,
    drop: Arc<Notify>,
) {
    let error = |what: String| {
        super::lock(&tally).errors.add(what);
    };
    let mut last = vec![Sequence::new(); plan.index.len()];
    // The books this subscriber holds, kept across its connections so a reconnect resumes them.
    let mut books: HashMap<Symbol, OrderBook> = HashMap::new();
    let mut epoch: Option<String> = None;
    let mut first = true;
    let mut attempt = 0u32;
    let mut churned_at = None;
    let mut urls = crate::net::Failover::new(plan.urls.clone()).starting_at(number);
    let mut url = number % plan.urls.len().max(1);
    loop {
        let permit = permits.acquire().await;
        let config = WebSocketConfig::default().read_buffer_size(READ_BUFFER);
        let connected = crate::net::connect_with(urls.current(), Some(config), plan.encoding).await;
        if connected.is_ok()
            && let Some(n) = plan.connects.get(url)
        {
            n.fetch_add(1, Ordering::Relaxed);
        }
        drop_permit(permit);
        let mut ws = match connected {
            Ok(ws) => ws,
            Err(e) => {
                error(format!("subscriber: {e}"));
                if std::mem::take(&mut first) {
                    settled.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                let wait = crate::net::backoff(attempt, rand::random::<f64>());
                attempt = attempt.saturating_add(1);
                urls.advance();
                url = (url + 1) % plan.urls.len().max(1);
                tokio::select! {
                    _ = stopped.changed() => return,
                    () = tokio::time::sleep(wait) => continue,
                }
            }
        };
        let mut codec = crate::wire::Codec::new(plan.encoding);
        let hello = match read_hello(&mut ws, &mut codec).await {
            Ok(hello) => hello,
            Err(e) => {
                error(format!("subscriber: {e}"));
                if std::mem::take(&mut first) {
                    settled.fetch_add(1, Ordering::Relaxed);
                    return;
                }
                continue;
            }
        };
        let resume = resume(
            &plan,
            &mut last,
            &mut books,
            epoch.as_deref(),
            hello.epoch.as_deref(),
        );
        let resuming = resume.is_some();
        epoch = hello.epoch;
        let subscribe = match resume {
            Some(resume) => codec.encode(&ClientMessage::Subscribe(
                plan.subscribe_to(plan.symbols.clone(), Some(resume)),
            )),
            None => plan.subscribe.clone(),
        };
        let subscribed_ns = now_ns();
        let sent = ws.send(subscribe).await;
        if std::mem::take(&mut first) {
            settled.fetch_add(1, Ordering::Relaxed);
        }
        if let Err(e) = sent {
            error(format!("subscriber: cannot subscribe: {e}"));
            continue;
        }
        attempt = 0;
        let reading = Reading {
            plan: &plan,
            url,
            tally: &tally,
            resumed: resuming,
            churned_at: churned_at.take(),
            subscribed_ns,
        };
        match reading
            .run(
                &mut ws,
                &mut codec,
                &mut last,
                &mut books,
                &mut stopped,
                &drop,
            )
            .await
        {
            Ended::Stopped => {
                crate::net::close(&mut ws, super::DONE).await;
                return;
            }
            Ended::Churned(at) => {
                // Gone without a Close, as a network failure would take it.
                std::mem::drop(ws);
                churned_at = Some(at);
            }
            Ended::Lost => {
                // The next server of the list, as a client that fails over would.
                urls.advance();
                url = (url + 1) % plan.urls.len().max(1);
                let wait = crate::net::backoff(attempt, rand::random::<f64>());
                attempt = attempt.saturating_add(1);
                tokio::select! {
                    _ = stopped.changed() => return,
                    () = tokio::time::sleep(wait) => {}
                }
            }
        }
    }
}

fn drop_permit<T>(permit: T) {
    std::mem::drop(permit);
}

/// The `resume` of a reconnect to the same epoch, from the `seq`s held (each stream then waits
/// to be continued) and the book `seq`s of the books held; on another epoch (or the first
/// connection) every stream and book starts afresh.
fn resume(
    plan: &Plan,
    last: &mut [Sequence],
    books: &mut HashMap<Symbol, OrderBook>,
    held: Option<&str>,
    now: Option<&str>,
) -> Option<Resume> {
    let same = matches!((held, now), (Some(a), Some(b)) if a == b);
    let mut from = BTreeMap::new();
    let mut book_from = BTreeMap::new();
    if same {
        for (symbol, &i) in &plan.index {
            if let Some(seq) = last.get(i).and_then(Sequence::last) {
                from.insert(Symbol::from(&**symbol), seq);
            }
        }
        for (symbol, book) in books.iter() {
            if let Some(seq) = book.seq() {
                book_from.insert(symbol.clone(), seq);
            }
        }
    }
    if from.is_empty() && book_from.is_empty() {
        last.fill(Sequence::new());
        books.clear();
        return None;
    }
    for stream in last.iter_mut() {
        stream.resume();
    }
    Some(Resume {
        book_from,
        ..Resume::quotes(now.unwrap_or_default().to_owned(), from)
    })
}

/// Reads the `hello` a connection starts with.
async fn read_hello(
    ws: &mut crate::net::Ws,
    codec: &mut crate::wire::Codec,
) -> Result<protocol::Hello, String> {
    let mut messages = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let frame = tokio::time::timeout_at(deadline, ws.next())
            .await
            .map_err(|_| "no hello within 10 s".to_owned())?;
        match frame {
            Some(Ok(frame @ (Message::Text(_) | Message::Binary(_)))) => {
                messages.clear();
                codec
                    .decode(&frame, &mut messages)
                    .map_err(|e| format!("undecodable hello: {e}"))?;
                if let Some(ServerMessage::Hello(hello)) = messages.pop() {
                    return Ok(hello);
                }
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(format!("connection lost before hello: {e}")),
            None => return Err("connection lost before hello".to_owned()),
        }
    }
}

/// One connection's reading.
struct Reading<'a> {
    plan: &'a Plan,
    /// Which of the plan's URLs this connection is to.
    url: usize,
    tally: &'a Mutex<Tally>,
    /// The connection resumed: its gaps count apart.
    resumed: bool,
    /// When the connection before it was dropped on purpose: the time to the first event
    /// produced after `subscribed_ns` is the rejoin time.
    churned_at: Option<u64>,
    subscribed_ns: u64,
}

impl Reading<'_> {
    async fn run(
        mut self,
        ws: &mut crate::net::Ws,
        codec: &mut crate::wire::Codec,
        last: &mut [Sequence],
        books: &mut HashMap<Symbol, OrderBook>,
        stopped: &mut watch::Receiver<bool>,
        drop: &Notify,
    ) -> Ended {
        let error = |what: String| {
            super::lock(self.tally).errors.add(what);
        };
        let depth = self.plan.depth.map_or(0, |d| d as usize);
        loop {
            let frame = tokio::select! {
                _ = stopped.changed() => return Ended::Stopped,
                () = drop.notified() => {
                    super::lock(self.tally).churned += 1;
                    return Ended::Churned(now_ns());
                }
                frame = ws.next() => frame,
            };
            let now = now_ns();
            let seen = match &frame {
                Some(Ok(Message::Text(text))) => {
                    let mut tally = super::lock(self.tally);
                    let before = tally.deliveries;
                    let seen =
                        tally.frame(text.as_str(), now, last, &self.plan.index, self.resumed);
                    tally.count_for(self.url, before);
                    seen
                }
                Some(Ok(Message::Binary(bytes))) => {
                    let mut tally = super::lock(self.tally);
                    let before = tally.deliveries;
                    let seen = tally.binary_frame(bytes, now, last, self.resumed);
                    tally.count_for(self.url, before);
                    seen
                }
                Some(Ok(Message::Close(close))) => {
                    let _ = tokio::time::timeout(crate::net::CLOSE_TIMEOUT, ws.flush()).await;
                    let why = close.as_ref().map_or_else(
                        || "no code".to_owned(),
                        |f| format!("{} {}", u16::from(f.code), f.reason),
                    );
                    error(format!(
                        "subscriber: the server closed the connection ({why})"
                    ));
                    return Ended::Lost;
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => {
                    error(format!("subscriber: connection lost: {e}"));
                    return Ended::Lost;
                }
                None => {
                    error("subscriber: connection lost".to_owned());
                    return Ended::Lost;
                }
            };
            if seen.books
                && let Some(Ok(frame)) = &frame
            {
                let mut messages = Vec::new();
                if let Err(e) = codec.decode(frame, &mut messages) {
                    error(format!("undecodable frame with a book: {e}"));
                }
                let mut resync = Vec::new();
                {
                    let mut tally = super::lock(self.tally);
                    for m in &messages {
                        let (book, whole) = match m {
                            ServerMessage::Book(b) => (b, true),
                            ServerMessage::BookUpdate(b) => (b, false),
                            _ => continue,
                        };
                        if tally.book(books, book, whole, depth, now)
                            && !resync.contains(&book.symbol)
                        {
                            resync.push(book.symbol.clone());
                        }
                    }
                }
                if !resync.is_empty() {
                    // A fresh book of each, as a client that lost step asks for one.
                    let again = Subscribe {
                        channels: Some(vec![protocol::Channel::Book]),
                        depth: self.plan.depth,
                        ..Subscribe::to(resync)
                    };
                    if ws
                        .send(codec.encode(&ClientMessage::Subscribe(again)))
                        .await
                        .is_err()
                    {
                        return Ended::Lost;
                    }
                }
            }
            if seen.resumed
                && let Some(frame) = frame.and_then(Result::ok)
            {
                let mut messages = Vec::new();
                if codec.decode(&frame, &mut messages).is_ok() {
                    let mut tally = super::lock(self.tally);
                    for m in &messages {
                        if let ServerMessage::Resumed(r) = m {
                            tally.resumed(r);
                        }
                    }
                }
            }
            if seen.newest_ns >= self.subscribed_ns
                && let Some(at) = self.churned_at.take()
            {
                let mut tally = super::lock(self.tally);
                if tally.measuring {
                    tally
                        .rejoin
                        .saturating_record(now.saturating_sub(at).max(1));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index() -> SymbolIndex {
        [("AAPL".into(), 0), ("KO".into(), 1)].into_iter().collect()
    }

    #[test]
    fn seq_gaps_latency_and_resyncs_are_counted_only_in_the_window() {
        let mut t = Tally::default();
        let mut last = vec![Sequence::new(); 2];
        let ix = index();
        let q = |seq: u64, ts: u64| {
            format!(
                r#"{{"type":"quote","symbol":"AAPL","seq":{seq},"bid":"1","bid_size":"1","ask":"2","ask_size":"1","ts_ns":{ts}}}"#
            )
        };
        t.frame(&q(1, 0), 5_000, &mut last, &ix, false);
        assert_eq!(t.deliveries, 0, "not measuring yet");
        t.open_window();
        t.frame(&q(2, 1_000), 3_000, &mut last, &ix, false);
        let batch = format!("[{},{}]", q(6, 1_000), q(6, 1_000));
        t.frame(&batch, 11_000, &mut last, &ix, false);
        assert_eq!(
            (t.deliveries, t.gaps, t.gap_jumps, t.out_of_order),
            (3, 3, 1, 1)
        );
        assert_eq!(t.tick.len(), 3);
        assert!(t.tick.max() >= 10_000 && t.tick.min() <= 2_001);
        let snap = r#"{"type":"snapshot","symbol":"AAPL","seq":40,"ts_ns":1}"#;
        t.frame(snap, 1, &mut last, &ix, false);
        t.frame(&q(41, 1), 2, &mut last, &ix, false);
        assert_eq!(
            (t.gaps, t.gap_jumps, t.resyncs),
            (37, 2, 1),
            "a re-sync from 6 to 40 skipped 34 events"
        );
        t.frame("[{\"type\":\"quote\"}]", 1, &mut last, &ix, false);
        t.frame(
            r#"{"type":"trade","symbol":"ZZ","seq":1,"ts_ns":1}"#,
            1,
            &mut last,
            &ix,
            false,
        );
        t.frame("not json", 1, &mut last, &ix, false);
        assert_eq!(t.errors.total(), 3);
        assert_eq!(t.frames, 7);
    }

    #[test]
    fn error_kinds_are_bounded() {
        let mut e = Errors::default();
        for i in 0..100 {
            e.add(format!("kind {i}"));
        }
        e.add("kind 3".to_owned());
        assert_eq!(e.0.len(), MAX_ERROR_KINDS + 1);
        assert_eq!(e.0["other"], 100 - MAX_ERROR_KINDS as u64);
        assert_eq!(e.0["kind 3"], 2);
        assert_eq!(e.total(), 101);
    }
}
