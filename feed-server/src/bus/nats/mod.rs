//! The bus over NATS: a market core in one process (`feed-server core --bus nats://…`) and
//! edges in others (`feed-server edge --bus nats://… --listen …`), on one machine or many.
//! CLUSTER.md documents the subjects, the bodies and every timeout.
//!
//! NATS core is at-most-once: an edge checks each symbol's `seq` and repairs a gap from the
//! core's history by request; orders go by request and reply with short timeouts and retries
//! the core recognises; each side sends heartbeats, so the core cancels a vanished edge's resting
//! orders and an edge knows when its core restarted.

pub mod core_link;
pub mod edge_link;
pub mod hello;
mod subject;
pub mod wire;

use std::time::Duration;

pub use subject::Subjects;

/// How often the core and each edge say they are alive.
pub const HEARTBEAT: Duration = Duration::from_secs(1);
/// Heartbeats missed in a row before the other side counts as gone: the core then cancels the
/// edge's resting orders; an edge reports the core as not alive in `/healthz`.
pub const MISSED_HEARTBEATS: u32 = 3;
/// How long an edge waits for the core to answer one try of an order, a cancel or a close.
pub const REQUEST_TIMEOUT: Duration = Duration::from_millis(250);
/// Tries of one order, cancel or close before the edge gives up (the order is then rejected
/// with `unavailable`); the core answers a retry it already handled with the same answers.
pub const REQUEST_TRIES: u32 = 4;
/// How long an edge waits for the core's hello, a page of states or a replay.
pub const SYNC_TIMEOUT: Duration = Duration::from_secs(2);
/// Market states in one answer (about 97 bytes each: under NATS's default 1 MiB payload).
pub const STATES_PER_PAGE: usize = 8_192;
/// Events in one replay answer (at most 55 bytes each).
pub const EVENTS_PER_REPLAY: usize = 8_192;
/// How long the core remembers a handled request, to answer its retries the same way.
pub const REMEMBER_REQUESTS: Duration = Duration::from_secs(30);
/// Requests the core remembers at most; the oldest are forgotten first.
pub const MAX_REMEMBERED: usize = 65_536;

/// How long a stopping core or edge waits for NATS to take what it still has to send (a NATS
/// server that stopped first never will).
pub const FLUSH_TIMEOUT: Duration = Duration::from_millis(500);

/// Where the bus is and what it is called there.
#[derive(Debug, Clone)]
pub struct BusSettings {
    /// `nats://HOST:PORT`.
    pub url: String,
    pub subjects: Subjects,
    /// Messages an edge's subscription to events may hold before NATS's client drops them (a
    /// slow edge then repairs the gap from history).
    pub pending_events: usize,
}

/// The wait before reconnect attempt `n` (from 1): 100 ms, doubling to at most [`HEARTBEAT`], so
/// an edge is back within a heartbeat of NATS.
fn reconnect_delay(attempts: usize) -> Duration {
    let doublings = u32::try_from(attempts.saturating_sub(1).min(4)).unwrap_or(4);
    (Duration::from_millis(100) * 2u32.pow(doublings)).min(HEARTBEAT)
}

/// Connects to the bus: reconnecting for ever with backoff, and saying so in the log.
pub async fn connect(
    settings: &BusSettings,
    name: &str,
) -> Result<async_nats::Client, async_nats::ConnectError> {
    let name_for_log = name.to_owned();
    async_nats::ConnectOptions::new()
        .name(name)
        .retry_on_initial_connect()
        .reconnect_delay_callback(reconnect_delay)
        .connection_timeout(SYNC_TIMEOUT)
        .request_timeout(Some(REQUEST_TIMEOUT))
        .subscription_capacity(settings.pending_events.max(1))
        .event_callback(move |event| {
            let name = name_for_log.clone();
            async move {
                match event {
                    async_nats::Event::Connected => tracing::info!("{name}: bus connected"),
                    async_nats::Event::Disconnected => {
                        tracing::warn!("{name}: bus disconnected; reconnecting");
                    }
                    async_nats::Event::SlowConsumer(sid) => {
                        tracing::warn!("{name}: the bus dropped messages for subscription {sid} (slow consumer); gaps are repaired from history");
                    }
                    other => tracing::info!("{name}: bus {other}"),
                }
            }
        })
        .connect(settings.url.as_str())
        .await
}
