//! The pacer: a thread that releases a source's events at their due times, to the microsecond.
//!
//! tokio's timers tick in whole milliseconds, which would bunch a replay into 1 ms steps and make
//! every event up to 1 ms late, so a latency benchmark would mostly measure the pacer. This thread
//! instead sleeps with the kernel's timer slack set to its minimum (so a sleep ends when asked, not
//! up to 50 us later) until shortly before an event is due, then spins the last few microseconds.
//! Events due together travel to the hub as one batch, and the hub writes each batch to its
//! clients at once. At low rates every event is a batch of its own and leaves when due. At high
//! rates a client's cost is its socket writes, not its events, so the pacer holds an event back
//! for up to a window (`--batch-us`, or [`auto_window`] from the rate it sees and the clients
//! connected) for the events due within it to share the writes. A bounded channel makes `--speed
//! max` run exactly as fast as the hub takes events. The thread reads the recording too, so file I/O and
//! decompression never run on the server's runtime.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use tokio::sync::{mpsc, oneshot};

use protocol::recording::Speed;

use super::event::Due;
use super::source::{Source, Step};
use crate::metrics::Metrics;

/// Sleeps end this long before an event is due; the rest is spun. Measured on the 2-core
/// development machine with a 1 ns timer slack (replaying 1,000 events/s): sleeping to the due
/// time left events 21 us late at p50 (the wake-up cost); a 20 us spin brings that to 0 (p99
/// 10 us) at the same 1.3% of a core, while 40 us cost 3%.
const SPIN: Duration = Duration::from_micros(20);
/// Events closer together than this are not spun for, only slept for (about 20 us late): at
/// high rates spinning would keep the thread busy all the time, and with a real-time priority
/// that would starve the fan-out on a shared core.
const SPIN_GAP: Duration = Duration::from_micros(250);
/// Longest single sleep, so a stop request is seen promptly even across a gap in a recording.
const MAX_SLEEP: Duration = Duration::from_millis(50);
/// Most events in one batch to the hub.
const MAX_BATCH: usize = 512;
/// Lateness at which a skippable source drops its backlog instead of bursting it.
const LAG_SKIP: Duration = Duration::from_secs(1);
/// Up to this rate (events per second) every event leaves alone, when due.
const ALONE_UP_TO_RATE: f64 = 1_500.0;
/// The automatic window's bounds. Measured with 100 clients on the 2-core development machine, a
/// socket write costs about 5 us of the server's CPU whatever the frame holds, so a pass costs
/// about 0.5 ms: 1 ms keeps a fan-out at about half a core, and 3 ms (at 5,000 events/s and
/// above) at about 0.15 to 0.2 of a core, with events waiting 1.5 ms on average.
const MIN_AUTO_WINDOW: Duration = Duration::from_millis(1);
const MAX_AUTO_WINDOW: Duration = Duration::from_millis(3);

/// What a pass costs the server besides its writes (the hand-over from this thread, the hub's
/// turn), and what each socket write costs. Fitted to runs at 5,000 events/s on the development
/// machine with 10, 30 and 100 clients and windows from 0.3 to 3 ms: 65-110 us and 4.6 us.
const PASS_COST: Duration = Duration::from_micros(100);
const WRITE_COST: Duration = Duration::from_micros(5);
/// The share of a core the automatic window lets passes take: with the events' own cost (about
/// 0.07 of a core at 5,000 events/s) the server stays near a fifth of a core.
const PASS_BUDGET: f64 = 0.13;

/// How long an event may wait for later ones to share its writes, at `rate` events per second
/// with `clients` connected (`None` when they are another process's, as for a bus core):
/// none up to 1,500/s, so that each event is written when due; above that one microsecond per
/// event/s over 2,000, from 1 ms up to 3 ms (reached at 5,000 events/s), so that the writes per
/// client stay below about 1,500 a second whatever the rate. But never longer than keeps a pass
/// every window within [`PASS_BUDGET`] of a core (0.77 ms and 38 us per client): a few clients
/// cost little however often they are written, so they are not made to wait as long (10
/// clients: 1.15 ms; from 59 clients on, the rate's window).
pub fn auto_window(rate: f64, clients: Option<u64>) -> Duration {
    if !rate.is_finite() || rate <= ALONE_UP_TO_RATE {
        return Duration::ZERO;
    }
    let by_rate = Duration::from_secs_f64((rate - 2_000.0).max(0.0) / 1e6)
        .clamp(MIN_AUTO_WINDOW, MAX_AUTO_WINDOW);
    match clients {
        Some(clients) => {
            let clients = u32::try_from(clients).unwrap_or(u32::MAX);
            let pass = PASS_COST.saturating_add(WRITE_COST.saturating_mul(clients));
            by_rate.min(pass.div_f64(PASS_BUDGET))
        }
        None => by_rate,
    }
}

/// `window` cut down to a whole number of `gap_ns` (when it spans one at least), and a little
/// more. Events spread evenly (the synthesizer's) then end a batch just as it leaves instead of
/// waiting nearly a whole window in the next: at 2,000 events/s a 0.81 ms window gives the same
/// two events a batch as 0.5 ms, with the first waiting 0.81 ms instead of 0.5.
fn whole_gaps(window: Duration, gap_ns: f64) -> Duration {
    let window_ns = window.as_nanos() as f64;
    if !gap_ns.is_finite() || gap_ns < 1.0 || window_ns < gap_ns {
        return window;
    }
    // A sixteenth of a gap more, so that an event due right at the end still joins.
    let whole = (window_ns / gap_ns).floor() * gap_ns + gap_ns / 16.0;
    window.min(Duration::from_nanos(whole as u64))
}

/// Least time between two lateness lines of a looping replay.
const LOOP_SUMMARY: Duration = Duration::from_secs(5);

/// How late events left the pacer against their due time, in microseconds.
#[derive(Debug, Clone)]
pub struct Lateness {
    histogram: Histogram<u64>,
}

impl Default for Lateness {
    fn default() -> Self {
        Self {
            // Up to an hour late at 3 significant digits.
            histogram: Histogram::new_with_bounds(1, 3_600_000_000, 3)
                .unwrap_or_else(|e| unreachable!("constant bounds are valid: {e}")),
        }
    }
}

impl Lateness {
    fn record(&mut self, micros: u64) {
        self.histogram.saturating_record(micros);
    }

    pub fn count(&self) -> u64 {
        self.histogram.len()
    }

    /// The lateness at a percentile (0-100), in microseconds.
    pub fn percentile_us(&self, percentile: f64) -> u64 {
        self.histogram.value_at_percentile(percentile)
    }

    pub fn max_us(&self) -> u64 {
        self.histogram.max()
    }

    fn log(&self, what: &str) {
        if self.count() == 0 {
            return;
        }
        tracing::info!(
            events = self.count(),
            p50_us = self.percentile_us(50.0),
            p90_us = self.percentile_us(90.0),
            p99_us = self.percentile_us(99.0),
            p999_us = self.percentile_us(99.9),
            max_us = self.max_us(),
            "pacing lateness ({what})"
        );
    }
}

/// What a pacer thread did, when it ends.
#[derive(Debug, Default)]
pub struct PacerReport {
    /// Lateness over the whole run, every loop included.
    pub lateness: Lateness,
    pub events: u64,
}

/// Where pacing starts: the source clock's `at_ns` is due at wall-clock `wall_ns`, which is
/// `instant` on the monotonic clock that the waits use.
#[derive(Debug, Clone, Copy)]
pub struct Origin {
    pub at_ns: u64,
    pub wall_ns: u64,
    pub instant: Instant,
}

impl Origin {
    /// The source clock's `at_ns` maps to now.
    pub fn now(at_ns: u64) -> Self {
        Self {
            at_ns,
            wall_ns: protocol::now_ns(),
            instant: Instant::now(),
        }
    }
}

/// How the pacer plays its source.
#[derive(Debug, Clone, Copy)]
pub struct Pacing {
    pub speed: Speed,
    /// `--batch-us`, or `None` for [`auto_window`].
    pub window: Option<Duration>,
    /// Ask for a real-time priority (`--realtime-pacer`).
    pub realtime: bool,
    /// Whether this process writes the events to its clients (a bus core does not: its edges
    /// batch what arrives together), so the automatic window may follow their number.
    pub local_clients: bool,
}

/// Starts the pacer thread. It ends when the source ends, `stop` is set, or the hub is gone; a
/// source error is sent on `failed` (and logged) first.
pub fn spawn(
    source: Box<dyn Source>,
    pacing: Pacing,
    origin: Origin,
    hub: mpsc::Sender<Vec<Due>>,
    stop: Arc<AtomicBool>,
    failed: oneshot::Sender<String>,
    metrics: Arc<Metrics>,
) -> std::io::Result<std::thread::JoinHandle<PacerReport>> {
    let Pacing {
        speed,
        window,
        realtime,
        local_clients,
    } = pacing;
    let mut pacer = Pacer {
        source,
        speed,
        hub,
        stop,
        origin,
        shift: 0,
        batch: Vec::with_capacity(MAX_BATCH),
        batch_due: Vec::with_capacity(MAX_BATCH),
        deadline: None,
        window,
        local_clients,
        mean_gap_ns: None,
        pass: Lateness::default(),
        passes: 0,
        summarized: Instant::now(),
        report: PacerReport::default(),
        last_warning: None,
        last_due: None,
        realtime,
        metrics,
    };
    std::thread::Builder::new()
        .name("tickwire-pacer".into())
        .spawn(move || {
            let result = pacer.run();
            if let Err(why) = result {
                tracing::error!("{why}");
                let _ = failed.send(why);
            }
            pacer.report
        })
}

struct Pacer {
    source: Box<dyn Source>,
    speed: Speed,
    hub: mpsc::Sender<Vec<Due>>,
    stop: Arc<AtomicBool>,
    origin: Origin,
    /// Nanoseconds added to every due time after skipping a backlog.
    shift: u64,
    batch: Vec<Due>,
    /// Each batched event's due instant, for its lateness.
    batch_due: Vec<Instant>,
    /// When the batch under way leaves: its first event's due time plus the window.
    deadline: Option<Instant>,
    /// `--batch-us`, or `None` for [`auto_window`].
    window: Option<Duration>,
    local_clients: bool,
    /// The mean gap between due times (an exponential average), for the automatic window.
    mean_gap_ns: Option<f64>,
    pass: Lateness,
    /// Passes of a looping recording since lateness was last logged, and when that was: a
    /// short recording loops hundreds of times a second, and gets one line every few seconds.
    passes: u64,
    summarized: Instant,
    report: PacerReport,
    last_warning: Option<Instant>,
    /// When the previous event was due: spinning is only worth it after a long enough gap.
    last_due: Option<Instant>,
    /// Ask for a real-time priority (`--realtime-pacer`).
    realtime: bool,
    metrics: Arc<Metrics>,
}

impl Pacer {
    /// What the lateness of the passes since the last line covers.
    fn loop_summary(&self) -> String {
        let passes = match self.passes {
            1 => "one pass of the recording".to_owned(),
            n => format!("{n} passes of the recording"),
        };
        if self.speed == Speed::Max {
            // Nothing is due at `max`: every event is "due" when read, so lateness is how long
            // events waited for room in the queue to the hub.
            format!("{passes}; at --speed max: the wait for the hub")
        } else {
            passes
        }
    }

    fn run(&mut self) -> Result<(), String> {
        #[cfg(target_os = "linux")]
        if let Err(e) = nix::sys::prctl::set_timerslack(1) {
            tracing::warn!(
                "cannot lower the pacer's timer slack ({e}); events may leave up to 50 us late"
            );
        }
        if self.realtime && matches!(self.speed, Speed::Factor(_)) && !raise_priority() {
            tracing::warn!(
                "--realtime-pacer: no permission for a real-time priority (needs CAP_SYS_NICE, e.g. `setcap cap_sys_nice+ep feed-server`); pacing with a normal priority"
            );
        }
        loop {
            if self.stop.load(Ordering::Relaxed) {
                self.pass.log("until shutdown");
                return Ok(());
            }
            match self.source.next_step()? {
                None => {
                    let last_due = self.batch_due.last().copied();
                    if let Some(due) = last_due
                        && !self.wait_until(due, Duration::ZERO)
                    {
                        return Ok(());
                    }
                    self.flush();
                    self.pass.log("end of the source");
                    return Ok(());
                }
                Some(Step::Looped) => {
                    self.passes += 1;
                    if self.summarized.elapsed() >= LOOP_SUMMARY {
                        self.pass.log(&self.loop_summary());
                        self.pass = Lateness::default();
                        self.passes = 0;
                        self.summarized = Instant::now();
                    }
                }
                Some(Step::Event {
                    at_ns,
                    event,
                    extras,
                }) => {
                    let (due_ns, due_at) = self.due(at_ns);
                    // The window follows the rate of quotes and trades: book levels come in
                    // bursts with them (a quote's touch, the refills behind it) and go only to
                    // book subscribers.
                    let gap = self
                        .last_due
                        .map_or(Duration::MAX, |last| due_at.saturating_duration_since(last));
                    if event.stream() == protocol::recording::Stream::Quotes {
                        self.last_due = Some(due_at);
                        self.observe(gap);
                    }
                    // The batch under way leaves before an event due after its deadline joins.
                    if let Some(deadline) = self.deadline
                        && due_at > deadline
                    {
                        let spin = if gap >= SPIN_GAP {
                            SPIN
                        } else {
                            Duration::ZERO
                        };
                        if !self.wait_until(deadline, spin) || !self.flush() {
                            self.pass.log("until shutdown");
                            return Ok(());
                        }
                    }
                    if self.batch.is_empty() && self.speed != Speed::Max {
                        self.deadline = Some(due_at + self.window());
                    }
                    self.batch.push(Due {
                        due_ns,
                        event,
                        extras,
                    });
                    self.batch_due.push(due_at);
                    if self.batch.len() >= MAX_BATCH {
                        // Every event in it is due by then: they were taken in due order.
                        if !self.wait_until(due_at, Duration::ZERO) || !self.flush() {
                            return Ok(());
                        }
                    }
                }
            }
        }
    }

    /// Averages the gaps between due times over about the last 64 events.
    fn observe(&mut self, gap: Duration) {
        if gap == Duration::MAX {
            return;
        }
        let gap = gap.as_nanos() as f64;
        self.mean_gap_ns = Some(
            self.mean_gap_ns
                .map_or(gap, |mean| mean + (gap - mean) / 64.0),
        );
    }

    /// How long the batch that starts now may stay open.
    fn window(&self) -> Duration {
        self.window.unwrap_or_else(|| {
            let clients = self
                .local_clients
                .then(|| u64::try_from(self.metrics.connections.get()).unwrap_or(0));
            let gap = self.mean_gap_ns.unwrap_or(0.0);
            whole_gaps(auto_window(1e9 / gap.max(1.0), clients), gap)
        })
    }

    /// When an event at `at_ns` on the source clock is due: on the wall clock and as an instant.
    fn due(&mut self, at_ns: u64) -> (u64, Instant) {
        let now = Instant::now();
        let Speed::Factor(speed) = self.speed else {
            return (protocol::now_ns(), now);
        };
        let Origin {
            at_ns: first,
            wall_ns: start_ns,
            instant: start,
        } = self.origin;
        let offset = (at_ns.saturating_sub(first) as f64 / speed) as u64;
        let mut offset = offset.saturating_add(self.shift);
        let mut due_at = start + Duration::from_nanos(offset);
        let late = now.saturating_duration_since(due_at);
        if late >= LAG_SKIP {
            self.warn_late(late);
            if self.source.skippable() {
                // Nobody is owed a synthesized event: move the schedule rather than burst.
                self.shift = self
                    .shift
                    .saturating_add(u64::try_from(late.as_nanos()).unwrap_or(u64::MAX));
                offset = offset.saturating_add(u64::try_from(late.as_nanos()).unwrap_or(0));
                due_at = now;
            }
        }
        (start_ns.saturating_add(offset), due_at)
    }

    fn warn_late(&mut self, late: Duration) {
        let now = Instant::now();
        if self
            .last_warning
            .is_some_and(|t| now.duration_since(t) < Duration::from_secs(5))
        {
            return;
        }
        self.last_warning = Some(now);
        tracing::warn!(
            late_ms = late.as_millis(),
            skipping = self.source.skippable(),
            "the source is running behind its schedule (the hub cannot keep up with this rate or speed)"
        );
    }

    /// Sleeps until `due`, spinning its last `spin`; false if asked to stop meanwhile.
    fn wait_until(&self, due: Instant, spin: Duration) -> bool {
        loop {
            let now = Instant::now();
            let Some(left) = due.checked_duration_since(now) else {
                return true;
            };
            if left > spin {
                std::thread::sleep(left.saturating_sub(spin).min(MAX_SLEEP));
                if self.stop.load(Ordering::Relaxed) {
                    return false;
                }
            } else {
                while Instant::now() < due {
                    std::hint::spin_loop();
                }
                return true;
            }
        }
    }

    /// Hands the batch to the hub, recording each event's lateness; false once the hub is gone.
    fn flush(&mut self) -> bool {
        self.deadline = None;
        if self.batch.is_empty() {
            return true;
        }
        let sent = Instant::now();
        for &due in &self.batch_due {
            let late =
                u64::try_from(sent.saturating_duration_since(due).as_micros()).unwrap_or(u64::MAX);
            self.pass.record(late);
            self.report.lateness.record(late);
            self.metrics.lateness_seconds.observe(late as f64 / 1e6);
        }
        self.report.events += self.batch.len() as u64;
        self.batch_due.clear();
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(MAX_BATCH));
        self.hub.blocking_send(batch).is_ok()
    }
}

/// Asks for a real-time (SCHED_FIFO) priority, the lowest one, for this thread
/// (`--realtime-pacer`).
///
/// A normal thread that wakes while the runtime is writing to a hundred sockets on the same core
/// waits for its turn: measured with the server pinned to one core at 10,000 events/s, events left
/// 510 us late at p99 with a normal priority, 200 us with nice -10 and 9 us with SCHED_FIFO. It is
/// not the default: at tens of thousands of events per second each wake-up preempts the fan-out,
/// and on a loaded machine (a test suite on two cores) that starved it into conflating clients.
/// `--speed max`, which never sleeps, always keeps a normal priority.
///
/// Returns whether the priority was granted. `terminal bench --realtime-orders` uses it too.
pub fn raise_priority() -> bool {
    #[cfg(target_os = "linux")]
    {
        use thread_priority::{
            RealtimeThreadSchedulePolicy, ThreadPriority, ThreadPriorityValue,
            ThreadSchedulePolicy, set_thread_priority_and_policy, thread_native_id,
        };
        let fifo = ThreadSchedulePolicy::Realtime(RealtimeThreadSchedulePolicy::Fifo);
        ThreadPriorityValue::try_from(1u8).is_ok_and(|lowest| {
            set_thread_priority_and_policy(
                thread_native_id(),
                ThreadPriority::Crossplatform(lowest),
                fifo,
            )
            .is_ok()
        })
    }
    #[cfg(not(target_os = "linux"))]
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_automatic_window_opens_above_1500_events_a_second_within_1_to_3_ms() {
        let us = |rate: f64| auto_window(rate, None).as_micros();
        assert_eq!(
            (us(0.0), us(1_000.0), us(1_500.0), us(1_600.0), us(3_500.0)),
            (0, 0, 0, 1_000, 1_500)
        );
        assert_eq!(
            (us(5_000.0), us(20_000.0), us(f64::INFINITY)),
            (3_000, 3_000, 0)
        );
    }

    #[test]
    fn a_few_clients_shorten_the_window_to_what_a_fifth_of_a_core_allows() {
        let us = |rate: f64, clients: u64| auto_window(rate, Some(clients)).as_micros();
        // From 59 clients on: the rate's window.
        assert_eq!((us(5_000.0, 59), us(20_000.0, 1_000)), (3_000, 3_000));
        // Fewer: 0.77 ms and 38 us each, however high the rate, but never past the rate's.
        assert_eq!(
            (us(5_000.0, 10), us(20_000.0, 30), us(5_000.0, 0)),
            (1_153, 1_923, 769)
        );
        assert_eq!(us(2_500.0, 100), 1_000);
        // Still no window at low rates, however many clients.
        assert_eq!(us(1_000.0, 10_000), 0);
    }

    #[test]
    fn a_window_spans_whole_gaps_between_evenly_spread_events() {
        let us = |window: u64, gap_us: f64| {
            whole_gaps(Duration::from_micros(window), gap_us * 1e3).as_micros()
        };
        assert_eq!(
            (us(810, 500.0), us(1_000, 500.0), us(3_000, 200.0)),
            (531, 1_000, 3_000)
        );
        assert_eq!(
            (us(1_150, 200.0), us(300, 500.0), us(300, 0.0)),
            (1_012, 300, 300)
        );
    }
}
