//! The edge: everything about clients. It accepts sockets, speaks HTTP and RFC 6455, runs one
//! task per connection, forwards what clients ask to the hub, and fans events out to them.
//!
//! # Layout
//! - [`accept`]: the accept loop, with its handshake slots, and the drain at shutdown.
//! - [`http`]: one socket's HTTP exchange (hyper, over TCP or TLS): refusals with a status and a
//!   body, upgrades handed over as raw TCP; [`page`] answers the rest of the port (the browser
//!   client at `/`, `/healthz`, `/metrics`); [`handshake`] holds RFC 6455's rules; [`tls`]
//!   the port's certificate.
//! - [`connection`]: one task per client: reads, finishes writes, heartbeats, completes the
//!   close handshake; [`ending`] says how a connection ended.
//! - [`handler`]: what a connection does with each message: decode, rate-limit, authorize,
//!   answer, or turn into a [`Command`] for the hub ([`command`]).
//! - [`outbox`]: a client socket's write side, which the fan-out writes to directly: the bounded
//!   queue, the frame writer, the TLS pump and the stream the WebSocket layer uses.
//! - [`fanout`]: the pass that gives each subscribed client one frame with everything it wants
//!   from a batch of events, conflating clients that fall behind; [`payload`] makes frame
//!   payloads in a connection's encoding.
//!
//! The edge consumes what the market core produces (sequenced events, answers addressed to
//! connections) and never awaits a client in the fan-out.

pub mod accept;
pub mod command;
pub mod connection;
pub mod ending;
pub mod fanout;
pub mod follower;
pub mod handler;
pub mod handshake;
pub mod http;
pub mod lobby;
pub mod outbox;
pub mod page;
pub mod payload;
pub mod sockets;
pub mod tls;

use std::sync::Arc;
use std::time::Duration;

use protocol::close_code;
use tokio::sync::{Semaphore, mpsc};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

pub use command::Command;
pub use ending::Ending;

use crate::metrics::Metrics;
use crate::shutdown::Shutdown;

/// An edge's limits, timeouts and switches (from [`crate::Config::edge`]).
#[derive(Debug, Clone)]
pub struct Settings {
    /// `--max-connections`: WebSocket connections at once, counted from a completed handshake.
    pub max_connections: usize,
    /// `--max-handshakes`: sockets in their HTTP handshake at once.
    pub max_handshakes: usize,
    pub max_header_bytes: usize,
    pub max_headers: usize,
    pub handshake_timeout: Duration,
    /// `--handshake-wait-ms`: how long an accepted socket may wait for a handshake slot.
    pub handshake_wait: Duration,
    /// `--max-waiting-sockets`: accepted sockets waiting for a handshake slot, at most.
    pub max_waiting_sockets: usize,
    /// `--allow-origin`: the Origins browsers may connect from (any, when empty).
    pub allow_origin: Vec<String>,
    /// `--echo`: serve `/echo`.
    pub echo: bool,
    /// `--max-message-bytes`, as a size.
    pub max_message: usize,
    pub max_message_rate: u32,
    /// `--max-order-id-bytes`, as a size.
    pub max_order_id: usize,
    pub heartbeat: Duration,
    pub stall_timeout: Duration,
    /// `--unsent-bytes`: TCP_NOTSENT_LOWAT of every client socket.
    pub unsent_bytes: u32,
    /// What may wait in each client's outbox.
    pub outbox: outbox::Limits,
    /// `--max-buffered-bytes`: what may wait in all outboxes together.
    pub max_buffered: usize,
}

/// What every socket of an edge shares, handed to each socket's task.
#[derive(Debug)]
pub struct Edge {
    pub settings: Settings,
    pub ws_config: WebSocketConfig,
    /// What the message handler answers from: the universe, `hello`, the order token.
    pub context: handler::Context,
    /// Commands to the hub. Bounded: a connection waits when the hub is busy.
    pub hub: mpsc::Sender<Command>,
    pub shutdown: Arc<Shutdown>,
    /// Connection slots (`--max-connections`), taken when a handshake is accepted.
    pub slots: Arc<Semaphore>,
    pub metrics: Arc<Metrics>,
    /// `--tls-cert`/`--tls-self-signed`: every socket starts with a TLS handshake.
    pub tls: Option<tls::Tls>,
    /// What every outbox holds together, against `--max-buffered-bytes`.
    pub pool: Arc<outbox::Pool>,
    /// Which of the server's edges this is (0: the one beside the core); its connections are
    /// numbered from [`crate::bus::first_id`] of it.
    pub index: usize,
}

/// What the edges of one server share: the connection slots and the buffer pool, so that
/// `--max-connections` and `--max-buffered-bytes` bound the server, not each edge.
#[derive(Debug, Clone)]
pub struct Capacity {
    pub slots: Arc<Semaphore>,
    pub pool: Arc<outbox::Pool>,
}

impl Capacity {
    pub fn new(settings: &Settings, metrics: &Metrics) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(settings.max_connections)),
            pool: Arc::new(outbox::Pool::new(
                settings.max_buffered,
                metrics.buffered_bytes.clone(),
            )),
        }
    }
}

impl Edge {
    #[allow(clippy::too_many_arguments)] // each is a distinct part the edge is built from
    pub fn new(
        index: usize,
        settings: Settings,
        context: handler::Context,
        hub: mpsc::Sender<Command>,
        shutdown: Arc<Shutdown>,
        metrics: Arc<Metrics>,
        tls: Option<tls::Tls>,
        capacity: Capacity,
    ) -> Self {
        Self {
            ws_config: ws_config(&settings),
            slots: capacity.slots,
            pool: capacity.pool,
            index,
            settings,
            context,
            hub,
            shutdown,
            metrics,
            tls,
        }
    }

    /// Whether the server failed: the supervisor said so, or the hub is gone while nobody asked
    /// it to stop (a connection can see that before the supervisor does).
    pub fn failed(&self) -> bool {
        self.shutdown.failure().is_some() || (self.hub.is_closed() && !self.shutdown.is_stopping())
    }

    /// How a connection ends when the server stops: 1001, 1011 if it failed, 1012 if the market
    /// behind it restarted.
    pub fn ending_on_shutdown(&self) -> Ending {
        if let Some(why) = self.shutdown.restarted() {
            Ending::server(close_code::SERVICE_RESTART, why)
        } else if self.failed() {
            Ending::server(
                close_code::INTERNAL,
                "internal server error; the server is stopping",
            )
        } else {
            Ending::server(close_code::GOING_AWAY, "server shutting down")
        }
    }

    /// Connections open now.
    pub fn connections(&self) -> usize {
        self.settings
            .max_connections
            .saturating_sub(self.slots.available_permits())
    }
}

/// The WebSocket settings every connection uses.
fn ws_config(settings: &Settings) -> WebSocketConfig {
    let max_message = settings.max_message;
    // The write buffer holds a queue's worth of frames plus a reply or echo of the largest message.
    let max_write = settings
        .outbox
        .bytes
        .saturating_add(max_message.saturating_mul(2))
        .max(16 * 1024 * 1024);
    // Client messages are small: a 1 KiB read buffer (which the reader zeroes, so it is resident
    // in every connection that ever sent a message) holds half a dozen orders; a larger message gets
    // the room it needs for its own read.
    WebSocketConfig::default()
        .read_buffer_size(1024)
        .write_buffer_size(64 * 1024)
        .max_write_buffer_size(max_write)
        .max_message_size(Some(max_message))
        .max_frame_size(Some(max_message))
}
