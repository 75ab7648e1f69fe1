//! Open-loop orders: sent at `--order-rate` on a fixed schedule by their own connections on their
//! own thread, never waiting for replies. A round trip runs from the order's *scheduled* time to
//! its `ack`, so a server that stalls is charged for every order that should have gone out
//! meanwhile (coordinated omission), and how late each send was against its schedule is kept
//! apart, so that a late client shows as such.
//!
//! Orders are market orders for one unit, alternately buy and sell, round-robin over the
//! subscribed symbols, so that they never rest (and never reach a resting-order limit).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use protocol::{ClientMessage, Decimal, Order, OrderId, ServerMessage, Side, Symbol, now_ns};
use tokio_tungstenite::tungstenite::Message;

use super::scan;
use super::subscribers::Errors;
use crate::latency::histogram;
use crate::net::Ws;

/// Orders per second one connection carries at most; more connections are opened above it (a
/// Tickwire server allows 1,000 per second per connection by default).
pub const PER_CONNECTION_RATE: f64 = 500.0;

/// How long before an order is due the sender wakes and spins (costs about this much CPU per
/// order: 5% of a core at 1,000 orders/s).
const SPIN_NS: u64 = 50_000;

/// How an order was answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Answer<'a> {
    Ack,
    Reject(&'a str),
}

/// Orders sent and answered, and their latencies.
#[derive(Debug)]
pub(crate) struct OrderTally {
    /// Orders scheduled before this time (ns since the epoch) are warm-up and not counted.
    measure_from_ns: u64,
    /// Unanswered orders: number to scheduled time.
    outstanding: HashMap<u64, u64>,
    /// The first order in the window.
    first_counted: Option<u64>,
    pub sent: u64,
    pub acked: u64,
    pub rejected: std::collections::BTreeMap<String, u64>,
    pub fills: u64,
    /// Orders in the window never answered (set by [`OrderTally::finish`]).
    pub missing: u64,
    /// Scheduled time to `ack`.
    pub rtt: Histogram<u64>,
    /// Scheduled time to the moment the order was handed to the socket.
    pub send_lateness: Histogram<u64>,
    /// Round trips since the last progress reading.
    pub recent: Histogram<u64>,
    pub errors: Errors,
    /// Whether the order thread got the real-time priority it was asked for.
    pub realtime: bool,
}

impl OrderTally {
    pub fn new(measure_from_ns: u64) -> Self {
        Self {
            measure_from_ns,
            outstanding: HashMap::new(),
            first_counted: None,
            sent: 0,
            acked: 0,
            rejected: std::collections::BTreeMap::new(),
            fills: 0,
            missing: 0,
            rtt: histogram(),
            send_lateness: histogram(),
            recent: histogram(),
            errors: Errors::default(),
            realtime: false,
        }
    }

    /// Order `n`, scheduled for `scheduled_ns`, is being written at `at_ns`.
    pub fn sent(&mut self, n: u64, scheduled_ns: u64, at_ns: u64) {
        self.outstanding.insert(n, scheduled_ns);
        if scheduled_ns >= self.measure_from_ns {
            self.first_counted.get_or_insert(n);
            self.sent += 1;
            self.send_lateness
                .saturating_record(at_ns.saturating_sub(scheduled_ns).max(1));
        }
    }

    /// The answer to order id `id` arrived at `now_ns`.
    pub fn answered(&mut self, id: &str, answer: Answer<'_>, now_ns: u64) {
        let Some(scheduled) = order_number(id).and_then(|n| self.outstanding.remove(&n)) else {
            self.errors
                .add(format!("an answer for an order not outstanding (`{id}`)"));
            return;
        };
        if scheduled < self.measure_from_ns {
            return;
        }
        match answer {
            Answer::Ack => {
                self.acked += 1;
                let rtt = now_ns.saturating_sub(scheduled).max(1);
                self.rtt.saturating_record(rtt);
                self.recent.saturating_record(rtt);
            }
            Answer::Reject(code) => {
                *self.rejected.entry(code.to_owned()).or_default() += 1;
            }
        }
    }

    /// A fill for order id `id`; counted if the order was in the window.
    pub fn filled(&mut self, id: &str) {
        if let (Some(n), Some(first)) = (order_number(id), self.first_counted)
            && n >= first
        {
            self.fills += 1;
        }
    }

    pub fn outstanding(&self) -> usize {
        self.outstanding.len()
    }

    /// Counts the window's orders still unanswered as missing.
    pub fn finish(&mut self) {
        let from = self.measure_from_ns;
        self.missing = self.outstanding.values().filter(|&&s| s >= from).count() as u64;
    }

    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }
}

fn order_id(n: u64) -> String {
    format!("o{n}")
}

fn order_number(id: &str) -> Option<u64> {
    id.strip_prefix('o')?.parse().ok()
}

/// The schedule and where to send.
#[derive(Debug, Clone)]
pub(crate) struct Plan {
    /// Connection `i` goes to URL `i` modulo their count.
    pub urls: Vec<String>,
    pub symbols: Vec<Symbol>,
    pub rate: f64,
    pub connections: usize,
    /// First order's scheduled time (ns since the epoch).
    pub start_ns: u64,
    /// No order is scheduled at or after this time.
    pub until_ns: u64,
    /// How long answers are awaited after the last order.
    pub grace: Duration,
    /// Sent in an `auth` message on each connection first, for a server with `--order-token`.
    pub token: Option<protocol::Token>,
    /// The encoding orders are sent in, with the server's symbol ids.
    pub codec: crate::wire::Codec,
}

impl Plan {
    /// When order `n` is due (ns since the epoch).
    pub fn due(&self, n: u64) -> u64 {
        let offset = (n as f64 * 1e9 / self.rate) as u64;
        self.start_ns.saturating_add(offset)
    }
}

/// The order thread: starts at once, ends by itself after the schedule and the grace period.
#[derive(Debug)]
pub(crate) struct Orders {
    pub tally: Arc<Mutex<OrderTally>>,
    thread: std::thread::JoinHandle<()>,
}

impl Orders {
    /// Starts the order thread; with `realtime`, it asks for a real-time priority first.
    pub fn start(plan: Plan, measure_from_ns: u64, realtime: bool) -> std::io::Result<Self> {
        let tally = Arc::new(Mutex::new(OrderTally::new(measure_from_ns)));
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let shared = tally.clone();
        let thread = std::thread::Builder::new()
            .name("bench-orders".into())
            .spawn(move || {
                if realtime {
                    let granted = super::system::realtime_priority().is_ok();
                    if !granted {
                        tracing::warn!(
                            "--realtime-orders: no permission for a real-time priority (needs CAP_SYS_NICE); sending with a normal priority"
                        );
                    }
                    super::lock(&shared).realtime = granted;
                }
                runtime.block_on(run(plan, shared));
            })?;
        Ok(Self { tally, thread })
    }

    /// Round trips since the last call.
    pub fn recent(&self) -> Histogram<u64> {
        let mut t = super::lock(&self.tally);
        let recent = t.recent.clone();
        t.recent.reset();
        recent
    }

    /// Waits for the thread and returns the final tally.
    pub fn join(self) -> OrderTally {
        let _ = self.thread.join();
        let mut t = super::lock(&self.tally);
        t.finish();
        std::mem::replace(&mut *t, OrderTally::new(0))
    }
}

async fn run(plan: Plan, tally: Arc<Mutex<OrderTally>>) {
    let error = |what: String| {
        super::lock(&tally).errors.add(what);
    };
    let mut sinks = Vec::new();
    let mut readers = Vec::new();
    for i in 0..plan.connections {
        let url = plan
            .urls
            .get(i % plan.urls.len().max(1))
            .map_or("", String::as_str);
        match crate::net::connect(url, plan.codec.encoding).await {
            Ok(mut ws) => {
                if let Some(token) = &plan.token {
                    let auth = ClientMessage::Auth(protocol::Auth {
                        token: token.expose().to_owned(),
                    });
                    if let Err(e) = ws.send(plan.codec.encode(&auth)).await {
                        error(format!("order connection: sending auth: {e}"));
                    }
                }
                let (sink, stream) = ws.split();
                sinks.push(sink);
                readers.push(tokio::spawn(read(stream, tally.clone())));
            }
            Err(e) => error(format!("order connection: {e}")),
        }
    }
    if sinks.is_empty() || plan.symbols.is_empty() {
        return;
    }
    send(&plan, &mut sinks, &tally).await;
    // Await the last answers, then close.
    let give_up = tokio::time::Instant::now() + plan.grace;
    while super::lock(&tally).outstanding() > 0 && tokio::time::Instant::now() < give_up {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    for sink in &mut sinks {
        let _ = tokio::time::timeout(
            Duration::from_secs(1),
            sink.send(crate::net::close_message(super::DONE)),
        )
        .await;
    }
    for r in readers {
        if tokio::time::timeout(Duration::from_secs(2), r)
            .await
            .is_err()
        {
            error("order connection: no answer to Close".to_owned());
        }
    }
}

async fn send(plan: &Plan, sinks: &mut [SplitSink<Ws, Message>], tally: &Mutex<OrderTally>) {
    let mut timer = match timer::Timer::new() {
        Ok(t) => t,
        Err(e) => {
            super::lock(tally).errors.add(format!("order timer: {e}"));
            return;
        }
    };
    let qty = Decimal::ONE;
    for n in 0u64.. {
        let due = plan.due(n);
        if due >= plan.until_ns {
            break;
        }
        if due > now_ns().saturating_add(SPIN_NS) {
            timer.sleep_until(due - SPIN_NS).await;
        }
        // Waking an idle core takes tens of microseconds on a VM: wake early and spin the rest.
        while now_ns() < due {
            std::hint::spin_loop();
        }
        let i = n as usize;
        let symbol = plan.symbols[i % plan.symbols.len()].clone();
        let order = ClientMessage::Order(Order {
            id: OrderId::from(order_id(n).as_str()),
            symbol,
            side: if n % 2 == 0 { Side::Buy } else { Side::Sell },
            qty,
            price: None,
            sent_ns: Some(due),
        });
        let frame = plan.codec.encode(&order);
        super::lock(tally).sent(n, due, now_ns());
        if let Err(e) = sinks[i % sinks.len()].send(frame).await {
            super::lock(tally)
                .errors
                .add(format!("order connection: send failed: {e}"));
            return;
        }
    }
}

async fn read(mut stream: SplitStream<Ws>, tally: Arc<Mutex<OrderTally>>) {
    let mut binary = protocol::binary::ServerDecoder::new();
    let mut messages = Vec::new();
    while let Some(frame) = stream.next().await {
        let text = match frame {
            Ok(Message::Text(text)) => text,
            Ok(Message::Binary(bytes)) => {
                let now = now_ns();
                messages.clear();
                let decoded = binary.frame(&bytes, &mut messages);
                let mut t = super::lock(&tally);
                if let Err(e) = decoded {
                    t.errors
                        .add(format!("order connection: undecodable frame: {e}"));
                }
                for m in &messages {
                    match m {
                        ServerMessage::Ack(a) => t.answered(&a.id, Answer::Ack, now),
                        ServerMessage::Reject(r) => {
                            t.answered(&r.id, Answer::Reject(r.code.as_str()), now);
                        }
                        ServerMessage::Fill(f) => t.filled(&f.id),
                        ServerMessage::Error(e) => t
                            .errors
                            .add(format!("order connection: server error `{}`", e.message)),
                        _ => {}
                    }
                }
                continue;
            }
            Ok(Message::Close(_)) => break,
            Ok(_) => continue,
            Err(e) => {
                super::lock(&tally)
                    .errors
                    .add(format!("order connection lost: {e}"));
                return;
            }
        };
        let now = now_ns();
        let mut t = super::lock(&tally);
        let mut errors = Vec::new();
        let result = scan::items(text.as_str(), |item| match (&*item.kind, &item.id) {
            ("ack", Some(id)) => t.answered(id, Answer::Ack, now),
            ("reject", Some(id)) => {
                t.answered(id, Answer::Reject(item.code.as_deref().unwrap_or("?")), now);
            }
            ("fill", Some(id)) => t.filled(id),
            ("error", _) => errors.push(format!(
                "order connection: server error `{}`",
                item.code.as_deref().unwrap_or("?")
            )),
            _ => {}
        });
        if let Err(e) = result {
            errors.push(format!("order connection: undecodable frame: {e}"));
        }
        for e in errors {
            t.errors.add(e);
        }
    }
}

/// Waking at an exact wall-clock time: tokio's timers round up to whole milliseconds, which
/// would make every order up to 1 ms late and charge that to the server.
#[cfg(target_os = "linux")]
mod timer {
    use std::os::fd::{AsFd, AsRawFd, RawFd};
    use std::time::Duration;

    use nix::sys::time::TimeSpec;
    use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
    use tokio::io::unix::AsyncFd;

    struct Fd(TimerFd);

    impl AsRawFd for Fd {
        fn as_raw_fd(&self) -> RawFd {
            self.0.as_fd().as_raw_fd()
        }
    }

    /// A timerfd on the realtime clock (the clock of `ts_ns` and `sent_ns`), read through
    /// tokio's reactor.
    pub(super) struct Timer(AsyncFd<Fd>);

    impl Timer {
        pub fn new() -> std::io::Result<Self> {
            let fd = TimerFd::new(
                ClockId::CLOCK_REALTIME,
                TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC,
            )?;
            // `new` is deprecated for fds that may close while registered; this one is owned by
            // the value registered and closes only when the AsyncFd drops it. (`register`, the
            // replacement, is unsafe, which this crate forbids.)
            #[allow(deprecated)]
            let registered = AsyncFd::new(Fd(fd))?;
            Ok(Self(registered))
        }

        /// Sleeps until `due_ns` (ns since the epoch).
        pub async fn sleep_until(&mut self, due_ns: u64) {
            let at = TimeSpec::from(Duration::from_nanos(due_ns));
            if self
                .0
                .get_ref()
                .0
                .set(
                    Expiration::OneShot(at),
                    TimerSetTimeFlags::TFD_TIMER_ABSTIME,
                )
                .is_err()
            {
                return;
            }
            loop {
                let Ok(mut ready) = self.0.readable().await else {
                    return;
                };
                match ready.try_io(|fd| fd.get_ref().0.wait().map_err(std::io::Error::from)) {
                    Ok(_) => return,
                    Err(_would_block) => {}
                }
            }
        }
    }
}

#[cfg(not(target_os = "linux"))]
mod timer {
    pub(super) struct Timer;

    impl Timer {
        pub fn new() -> std::io::Result<Self> {
            Ok(Self)
        }

        pub async fn sleep_until(&mut self, due_ns: u64) {
            let wait = due_ns.saturating_sub(protocol::now_ns());
            tokio::time::sleep(std::time::Duration::from_nanos(wait)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn a_server_stall_shows_in_the_percentiles_of_an_open_loop_schedule() {
        // 1,000 orders at 1 ms intervals. The server answers in 50 us, except that it stalls
        // from 500 ms to 600 ms and answers everything that arrived meanwhile at 600 ms.
        let mut t = OrderTally::new(0);
        for n in 0..1_000 {
            let scheduled = n * MS;
            t.sent(n, scheduled, scheduled + 2_000);
            let answered = if (500 * MS..600 * MS).contains(&scheduled) {
                600 * MS
            } else {
                scheduled + 50_000
            };
            t.answered(&order_id(n), Answer::Ack, answered);
        }
        t.finish();
        let p = super::super::stats::Percentiles::of(&t.rtt);
        assert_eq!((t.sent, t.acked, t.missing), (1_000, 1_000, 0));
        // A closed-loop client would have sent one order during the stall; the schedule had a
        // hundred, waiting 100 ms down to 1 ms: a tenth of all orders are late.
        assert!(p.p50_ns < 60_000, "{p:?}");
        assert!(p.p90_ns < 60_000, "{p:?}");
        assert!(p.p99_ns > 80 * MS, "{p:?}");
        assert!(p.max_ns >= 99 * MS, "{p:?}");
        let lateness = super::super::stats::Percentiles::of(&t.send_lateness);
        assert!(
            lateness.max_ns < 3_000,
            "sends themselves were on time: {lateness:?}"
        );
    }

    #[test]
    fn warm_up_orders_rejects_and_missing_answers_are_told_apart() {
        let mut t = OrderTally::new(10 * MS);
        t.sent(0, 5 * MS, 5 * MS);
        t.sent(1, 10 * MS, 10 * MS);
        t.sent(2, 11 * MS, 11 * MS);
        t.sent(3, 12 * MS, 12 * MS);
        t.answered("o0", Answer::Ack, 6 * MS);
        t.answered("o1", Answer::Reject("no_liquidity"), 11 * MS);
        t.answered("o2", Answer::Ack, 11 * MS + 100_000);
        t.answered("o2", Answer::Ack, 11 * MS + 200_000);
        t.answered("x", Answer::Ack, 1);
        t.filled("o0");
        t.filled("o2");
        t.filled("o3");
        t.finish();
        assert_eq!(t.fills, 2, "the warm-up order's fill is not counted");
        assert_eq!((t.sent, t.acked, t.missing), (3, 1, 1));
        assert_eq!(t.rejected_total(), 1);
        assert_eq!(t.rejected["no_liquidity"], 1);
        assert_eq!(t.rtt.len(), 1);
        assert_eq!(t.errors.total(), 2, "a duplicate answer and an unknown id");
    }

    #[test]
    fn the_schedule_is_evenly_spaced_from_its_start() {
        let plan = Plan {
            urls: Vec::new(),
            symbols: Vec::new(),
            rate: 3.0,
            connections: 1,
            start_ns: 1_000,
            until_ns: u64::MAX,
            grace: Duration::ZERO,
            token: None,
            codec: crate::wire::Codec::new(protocol::Encoding::Json),
        };
        assert_eq!(plan.due(0), 1_000);
        assert_eq!(plan.due(3), 1_000_001_000);
        assert_eq!(plan.due(1), 333_334_333);
    }
}
