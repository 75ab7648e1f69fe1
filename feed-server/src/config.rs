//! Server settings: the command line of `feed-server`, also used by the terminal's embedded server.
//!
//! [`Config`] is what an operator sets; the parts never read it. Each gets its own settings
//! from it ([`Config::source`], [`Config::pacing`], [`Config::core`], [`Config::edge`]),
//! so that this file is the only one that knows every flag.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use std::sync::Arc;

use protocol::recording::Speed;
use protocol::{SourceInfo, Token};

use protocol::recording::RecordingError;

use crate::edge::handler::Context;
use crate::edge::sockets::AcceptMode;
use crate::edge::tls::{Identity, Tls};
use crate::edge::{self, outbox};
use crate::feed::pacer::Pacing;
use crate::feed::universe::Universe;
use crate::feed::{self, SourceChoice, SynthArgs};
use crate::market::{self, CoreSettings, HistoryLimits};
use crate::metrics::Metrics;

/// Every setting of a feed server. `feed-server --help` shows each with its default.
#[derive(Debug, Clone, Args)]
#[allow(clippy::struct_excessive_bools)] // command-line switches
pub struct Config {
    /// Address to listen on; port 0 picks a free port (the ready line prints the real one).
    #[arg(long, default_value = "127.0.0.1:9001")]
    pub listen: SocketAddr,

    /// `--symbols`, `--rate`, `--seed`: what the synthesizer plays.
    #[command(flatten)]
    pub synth: SynthArgs,

    /// `--ingest` and its flags: live venues' feeds instead of synthesis.
    #[command(flatten)]
    pub ingest: crate::ingest::IngestArgs,

    /// Replay a recording (`.jsonl` or `.jsonl.zst`, see recordings/README.md) instead of
    /// synthesizing; the symbols are the recording's.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["rate", "seed", "symbols"])]
    pub replay: Option<PathBuf>,

    /// Replay speed: `1` keeps the recorded timing, `10` plays ten times faster, `max` as fast
    /// as the server takes events (slow clients are conflated as usual).
    #[arg(long, default_value = "1", requires = "replay")]
    pub speed: Speed,

    /// Start the recording over when it ends; `seq` continues across passes.
    #[arg(long = "loop", requires = "replay")]
    pub looping: bool,

    /// Write what the server streams (quotes, trades and every book change) to this recording
    /// (`.jsonl`, or `.jsonl.zst` for zstd; version 2, see recordings/README.md), flushed every
    /// second and finished on shutdown. `--replay` plays it back.
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,

    /// With --record: start a new file every period (`1h`, `15m`; at least 1 s), each named by
    /// its start time (`FILE-20260102T143000Z.jsonl.zst`) and complete on its own (its books
    /// open it).
    #[arg(long, value_parser = parse_rotation, requires = "record")]
    pub record_rotate: Option<Duration>,

    /// Run the pacing thread with a real-time priority (SCHED_FIFO; needs CAP_SYS_NICE), so
    /// events leave on time even when the fan-out keeps the same core busy. Off by default: at
    /// tens of thousands of events per second its wake-ups preempt the fan-out.
    #[arg(long)]
    pub realtime_pacer: bool,

    /// Most WebSocket connections at once, counted from a completed handshake; more are refused
    /// with HTTP 503.
    #[arg(long, default_value_t = 4_096)]
    pub max_connections: usize,

    /// Connections the kernel may hold waiting to be accepted (the listen backlog); a burst of
    /// reconnects past it waits for SYN retransmissions. The kernel caps it at
    /// net.core.somaxconn.
    #[arg(long, default_value_t = 4_096, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub listen_backlog: u32,

    /// Edges serving clients, each on its own thread with its own connections (spread by the
    /// kernel over listeners sharing the port, SO_REUSEPORT). The first runs beside the market
    /// core; the others follow the core's events and send it their orders. 1 runs everything on
    /// one thread.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub edges: u64,

    /// How --edges N spreads connections over its edges: `reuse-port` gives each edge a
    /// listener on the port and the kernel picks one per connection (SO_REUSEPORT; the default
    /// on Linux, where it measured faster); `round-robin` has the first edge accept them all and
    /// hand them to the edges in turn (the default where the kernel does not balance).
    #[arg(long, value_enum, default_value_t = AcceptMode::default())]
    pub accept: AcceptMode,

    /// Most sockets still in their HTTP handshake at once. Past it accepted sockets wait in
    /// line for a slot (--max-waiting-sockets, --handshake-wait-ms); one that finds none in time
    /// is answered 503 and closed, so idle or slow sockets cannot lock out real clients.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_handshakes: u64,

    /// Most accepted sockets waiting for a handshake slot, as after a reconnect storm; past it
    /// the server stops accepting and the kernel's backlog holds the rest.
    #[arg(long, default_value_t = 8_192, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub max_waiting_sockets: u64,

    /// How long an accepted socket may wait for a handshake slot before it is answered 503.
    #[arg(long, default_value_t = 3_000, value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub handshake_wait_ms: u64,

    /// Largest HTTP request head (request line and headers) in bytes; larger gets HTTP 431.
    #[arg(long, default_value_t = 16 * 1024, value_parser = clap::value_parser!(u64).range(8_192..=1_048_576))]
    pub max_header_bytes: u64,

    /// Most HTTP request headers; more gets HTTP 431.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(8..=1_000))]
    pub max_headers: u64,

    /// Largest client message (and frame) in bytes; a larger one closes the connection with 1009.
    #[arg(long, default_value_t = 64 * 1024, value_parser = clap::value_parser!(u64).range(1_024..=64 * 1_048_576))]
    pub max_message_bytes: u64,

    /// Most client messages per second per connection, of every kind, with bursts up to the same
    /// number; past it each message is answered `error` (or `reject`) with code `rate_limited`.
    #[arg(long, default_value_t = 2_000, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_message_rate: u32,

    /// Longest client order id, in bytes; a longer one is rejected with `bad_id`.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=4_096))]
    pub max_order_id_bytes: u64,

    /// Serve an echo endpoint on /echo that returns every text and binary message through the
    /// same connection code as /ws (for conformance suites such as Autobahn). Off by default.
    #[arg(long)]
    pub echo: bool,

    /// Interval of WebSocket pings; a client silent for two intervals is closed (1008).
    #[arg(long, default_value_t = 15_000, value_parser = clap::value_parser!(u64).range(10..))]
    pub heartbeat_ms: u64,

    /// Accept browser handshakes only from this Origin (repeatable); others get HTTP 403.
    /// Without it every Origin is accepted.
    #[arg(long = "allow-origin", value_name = "ORIGIN")]
    pub allow_origin: Vec<String>,

    /// A client that has not finished the WebSocket handshake after this long is dropped.
    #[arg(long, default_value_t = 5_000)]
    pub handshake_timeout_ms: u64,

    /// Most bytes the kernel may hold unsent per client socket (TCP_NOTSENT_LOWAT, Linux). The
    /// rest waits in the server, where the hub can conflate it; it also makes a slow reader's
    /// progress visible within a few kilobytes.
    #[arg(long, default_value_t = 64 * 1024, value_parser = clap::value_parser!(u32).range(4_096..))]
    pub unsent_bytes: u32,

    /// A client whose socket accepts no byte for this long is closed (1008). A client that reads,
    /// however slowly, is conflated and kept.
    #[arg(long, default_value_t = 10_000)]
    pub stall_timeout_ms: u64,

    /// Frames a client may have queued before it is switched to conflation.
    #[arg(long, default_value_t = 1_024, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub queue_frames: u64,

    /// Bytes a client may have queued or in its write buffer before it is switched to
    /// conflation.
    #[arg(long, default_value_t = 4 * 1_048_576, value_parser = clap::value_parser!(u64).range(65_536..=1_073_741_824))]
    pub queue_bytes: u64,

    /// Bytes of answers (pongs, errors, order replies, the Close) a client may leave unread
    /// before the server stops reading it: TCP then holds the client back. One that stays
    /// that way for --stall-timeout-ms is closed (1008).
    #[arg(long, default_value_t = 65_536, value_parser = clap::value_parser!(u64).range(4_096..=1_073_741_824))]
    pub answer_queue_bytes: u64,

    /// Bytes queued for all clients together (market data, answers), at most. Past it the
    /// clients holding the most are conflated and not read until they drain; one that stays
    /// stuck for --stall-timeout-ms is closed (1008).
    #[arg(long, default_value_t = 512 * 1_048_576, value_parser = clap::value_parser!(u64).range(1_048_576..=1_099_511_627_776))]
    pub max_buffered_bytes: u64,

    /// Most microseconds a due event may be held back so that later ones share its writes (one
    /// frame per client for all of them). Shorter is lower latency, longer is cheaper per event.
    /// Default: from the rate the feed runs at: none up to 1,500 events/s (each event is written
    /// when due), then 1000, and one more microsecond per event/s above 3,000, up to 3000
    /// (reached at 5,000 events/s); with fewer than 59 clients at most 770 plus 38 a client,
    /// which keeps their writes within about 0.13 of a core.
    #[arg(long, value_parser = clap::value_parser!(u64).range(50..=1_000_000))]
    pub batch_us: Option<u64>,

    /// Recent events kept per symbol for clients that resume after a reconnect (`subscribe`
    /// with `resume`), and as many of each symbol's book (`resume.book_from`); 0 keeps none,
    /// and every reconnect gets snapshots and fresh books.
    #[arg(long, default_value_t = 4_096, value_parser = clap::value_parser!(u64).range(0..=1_000_000))]
    pub history_events: u64,

    /// Most bytes the recent events of all symbols may take together (96 per event); past it
    /// the oldest go first. The books' events take as much again at most (about 100 bytes
    /// each). 0 keeps none.
    #[arg(long, default_value_t = 64 * 1_048_576, value_parser = clap::value_parser!(u64).range(0..=68_719_476_736))]
    pub history_bytes: u64,

    /// Most events one resuming subscribe is sent again from history; the symbols past it get
    /// snapshots instead.
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(0..=100_000_000))]
    pub max_resume_events: u64,

    /// Largest order quantity accepted, in the instrument's units (shares, coins) whatever its lot.
    #[arg(long, default_value_t = 1_000_000)]
    pub max_order_qty: u64,

    /// Most resting orders per connection.
    #[arg(long, default_value_t = 1_000)]
    pub max_open_orders: usize,

    /// Most orders (and cancels) per second per connection; bursts up to the same number.
    #[arg(long, default_value_t = 1_000)]
    pub max_order_rate: u32,

    /// Take orders and cancels only from connections that sent `{"type":"auth","token":...}`
    /// with this token (quotes stay public); others get `reject` with code `unauthorized`. Five
    /// wrong tokens close the connection (1008). Prefer the environment variable or
    /// --order-token-file: a command line is visible to every user of the machine.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "TICKWIRE_ORDER_TOKEN",
        hide_env_values = true
    )]
    pub order_token: Option<Token>,

    /// Read the order token from this file (its content, trimmed; at most 1,024 bytes).
    #[arg(long, value_name = "FILE", conflicts_with = "order_token")]
    pub order_token_file: Option<PathBuf>,

    /// Serve https:// and wss:// with this certificate chain (PEM); needs --tls-key.
    #[arg(
        long,
        value_name = "FILE",
        requires = "tls_key",
        conflicts_with = "tls_self_signed"
    )]
    pub tls_cert: Option<PathBuf>,

    /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Serve https:// and wss:// with a certificate made at startup for localhost, 127.0.0.1
    /// and ::1. It is written to a file in the temporary directory, named on the `listening on`
    /// line, for clients to trust (`terminal --ca-cert FILE`).
    #[arg(long)]
    pub tls_self_signed: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 9001)),
            synth: SynthArgs::default(),
            ingest: crate::ingest::IngestArgs::default(),
            replay: None,
            record: None,
            record_rotate: None,
            speed: Speed::default(),
            looping: false,
            realtime_pacer: false,
            max_connections: 4_096,
            listen_backlog: 4_096,
            edges: 1,
            accept: AcceptMode::default(),
            max_handshakes: 256,
            max_waiting_sockets: 8_192,
            handshake_wait_ms: 3_000,
            max_header_bytes: 16 * 1024,
            max_headers: 64,
            max_message_bytes: 64 * 1024,
            max_message_rate: 2_000,
            max_order_id_bytes: 64,
            echo: false,
            heartbeat_ms: 15_000,
            allow_origin: Vec::new(),
            handshake_timeout_ms: 5_000,
            stall_timeout_ms: 10_000,
            queue_frames: 1_024,
            queue_bytes: 4 * 1_048_576,
            answer_queue_bytes: 65_536,
            max_buffered_bytes: 512 * 1_048_576,
            unsent_bytes: 64 * 1024,
            batch_us: None,
            history_events: 4_096,
            history_bytes: 64 * 1_048_576,
            max_resume_events: 100_000,
            max_order_qty: 1_000_000,
            max_open_orders: 1_000,
            max_order_rate: 1_000,
            order_token: None,
            order_token_file: None,
            tls_cert: None,
            tls_key: None,
            tls_self_signed: false,
        }
    }
}

impl Config {
    /// The order token from --order-token or --order-token-file, if either is set.
    pub fn order_token(&self) -> Result<Option<Token>, String> {
        match (&self.order_token, &self.order_token_file) {
            (Some(token), _) => Ok(Some(token.clone())),
            (None, Some(path)) => Token::from_file(path).map(Some),
            (None, None) => Ok(None),
        }
    }

    /// Where events come from: `--replay`, or else the synthesizer.
    pub fn source(&self) -> SourceChoice {
        match &self.replay {
            Some(file) => SourceChoice::Replay {
                file: file.clone(),
                speed: self.speed,
                looping: self.looping,
            },
            None => SourceChoice::Synth(self.synth.clone()),
        }
    }

    /// How the pacer releases events.
    pub fn pacing(&self) -> Pacing {
        Pacing {
            speed: self.speed,
            window: self.batch_us.map(Duration::from_micros),
            realtime: self.realtime_pacer,
            local_clients: true,
        }
    }

    /// The core's settings: order limits, history, resumes.
    pub fn core(&self) -> CoreSettings {
        let size = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        CoreSettings {
            orders: market::Limits {
                max_qty: i64::try_from(self.max_order_qty).unwrap_or(i64::MAX),
                max_open: self.max_open_orders,
                max_rate: self.max_order_rate,
            },
            history: HistoryLimits {
                events_per_symbol: size(self.history_events),
                bytes: size(self.history_bytes),
            },
            max_resume_events: self.max_resume_events,
            touch_from_quotes: true,
        }
    }

    /// The TLS settings of a server on `port`, if it serves TLS: loads `--tls-cert`/`--tls-key`,
    /// or makes and writes a self-signed certificate.
    pub fn tls(&self, port: u16) -> Result<Option<Tls>, String> {
        let identity = if self.tls_self_signed {
            Identity::SelfSigned
        } else if let (Some(cert), Some(key)) = (&self.tls_cert, &self.tls_key) {
            Identity::Files {
                cert: cert.clone(),
                key: key.clone(),
            }
        } else {
            return Ok(None);
        };
        Tls::new(&identity, port).map(Some)
    }

    /// Opens the source (a recording, or the synthesizer), to report a file that cannot be
    /// replayed before anything else starts.
    pub fn check_source(&self) -> Result<(), RecordingError> {
        if self.ingest.enabled() {
            return Ok(());
        }
        feed::open(&self.source()).map(|_| ())
    }

    /// What every connection's message handler answers from.
    pub(crate) fn context(
        &self,
        universe: Arc<Universe>,
        source: SourceInfo,
        epoch: String,
        order_token: Option<Token>,
        metrics: Arc<Metrics>,
    ) -> Context {
        let size = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        Context {
            universe,
            source,
            epoch,
            order_token,
            heartbeat_ms: self.heartbeat_ms,
            max_message: size(self.max_message_bytes),
            max_message_rate: self.max_message_rate,
            max_order_id: size(self.max_order_id_bytes),
            metrics,
            stale: None,
        }
    }

    /// What the edge needs: its limits, timeouts and switches.
    pub fn edge(&self) -> edge::Settings {
        let size = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        edge::Settings {
            max_connections: self.max_connections,
            max_handshakes: size(self.max_handshakes),
            max_header_bytes: size(self.max_header_bytes),
            max_headers: size(self.max_headers),
            handshake_timeout: Duration::from_millis(self.handshake_timeout_ms),
            handshake_wait: Duration::from_millis(self.handshake_wait_ms),
            max_waiting_sockets: size(self.max_waiting_sockets),
            allow_origin: self.allow_origin.clone(),
            echo: self.echo,
            max_message: size(self.max_message_bytes),
            max_message_rate: self.max_message_rate,
            max_order_id: size(self.max_order_id_bytes),
            heartbeat: Duration::from_millis(self.heartbeat_ms),
            stall_timeout: Duration::from_millis(self.stall_timeout_ms),
            unsent_bytes: self.unsent_bytes,
            outbox: outbox::Limits {
                data_frames: size(self.queue_frames),
                bytes: size(self.queue_bytes),
                replies: outbox::MAX_WAITING_REPLIES,
                answers: size(self.answer_queue_bytes),
            },
            max_buffered: size(self.max_buffered_bytes),
        }
    }
}

/// A rotation period: a duration of at least one second.
fn parse_rotation(text: &str) -> Result<Duration, String> {
    let period = humantime::parse_duration(text).map_err(|e| e.to_string())?;
    if period < Duration::from_secs(1) {
        return Err(format!("{text} is shorter than a second"));
    }
    Ok(period)
}
