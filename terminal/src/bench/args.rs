//! The flags of `terminal bench`.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use protocol::recording::Speed;

use super::orders::PER_CONNECTION_RATE;

pub use crate::channels::Channels;

/// The arguments of `terminal bench`.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Drive this server (any server speaking Tickwire v1) instead of an in-process one; or
    /// several, comma-separated (edges of a cluster): subscribers are spread over them in turn,
    /// fail over to the next when a connection drops, and the report shows each one's share.
    /// Order connections are spread the same way (the servers must share one symbol list, as
    /// the edges of a cluster do).
    #[arg(long, conflicts_with_all = ["replay", "synth", "rate", "speed", "server_cpus"])]
    pub url: Option<String>,

    /// Replay this recording (looping) in an in-process server.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["synth", "rate"])]
    pub replay: Option<PathBuf>,

    /// Synthesize in an in-process server at --rate (the default source).
    #[arg(long)]
    pub synth: bool,

    /// Replay speed: `1` as recorded, `10` ten times faster, `max` as fast as it goes.
    #[arg(long, requires = "replay")]
    pub speed: Option<Speed>,

    /// Events per second the in-process server synthesizes, all symbols together.
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub rate: u64,

    /// Subscriber connections.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub clients: u64,

    /// What each subscriber subscribes to: a comma-separated list, or `*` for every symbol.
    #[arg(long, default_value = "*")]
    pub symbols: String,

    /// What each subscriber streams of them: `quotes` (quotes and trades), `book` (the order
    /// book at --depth, every checksum verified, a fresh book asked for on a mismatch or a gap),
    /// or `quotes,book`.
    #[arg(long, default_value = "quotes")]
    pub channels: Channels,

    /// Book levels per side with `--channels book` (1 to 50).
    #[arg(long, default_value_t = protocol::DEFAULT_BOOK_DEPTH, value_parser = clap::value_parser!(u32).range(1..=50))]
    pub depth: u32,

    /// Orders per second, sent open loop on a fixed schedule (0: none). Market orders for one
    /// unit, alternately buy and sell, round-robin over the symbols.
    #[arg(long, default_value_t = 100.0)]
    pub order_rate: f64,

    /// Subscriber connections per second, over all subscribers, that drop (without a Close, as
    /// a network failure would) and reconnect with `resume`, spread evenly over the measured
    /// window. The report then counts resumes, symbols recovered and re-snapshotted, gaps on
    /// resumed connections and the time from a drop to the first fresh event. 0: none.
    #[arg(long, default_value_t = 0.0, value_parser = churn_rate)]
    pub churn: f64,

    /// Connections the orders are spread over [default: one per 500 orders/s].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=1_000))]
    pub order_connections: Option<u64>,

    /// How long to measure, after the warm-up (`10s`, `1m`).
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    pub duration: Duration,

    /// How long to run before measuring; nothing in it counts.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub warmup: Duration,

    /// How long answers to the last orders are awaited; orders unanswered by then are missing.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    pub grace: Duration,

    /// Write the report as JSON, with the run's parameters and versions.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,

    /// Write HdrHistogram percentile distributions (`.hgrm`, values in microseconds) here.
    #[arg(long, value_name = "DIR")]
    pub hgrm: Option<PathBuf>,

    /// Draw latency by percentile to this `.svg` or `.png` file.
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,

    /// With --url: the server's process id, to report its CPU and memory.
    #[arg(long, requires = "url")]
    pub server_pid: Option<u32>,

    /// Give the order thread a real-time priority (SCHED_FIFO; needs CAP_SYS_NICE), so that it
    /// sends on time even when it shares a core with busy subscribers.
    #[arg(long)]
    pub realtime_orders: bool,

    /// Threads the subscribers run on (each a single-threaded runtime).
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=256))]
    pub client_threads: u64,

    /// Pin the in-process server's threads to these CPUs (`0`, `0-1`); Linux only.
    #[arg(long, value_name = "CPUS")]
    pub server_cpus: Option<String>,

    /// Pin the bench's own threads to these CPUs; Linux only.
    #[arg(long, value_name = "CPUS")]
    pub client_cpus: Option<String>,

    /// Print two saved `--json` reports side by side with the ratio B/A, and run nothing.
    #[arg(long, num_args = 2, value_names = ["A", "B"],
          conflicts_with_all = ["url", "replay", "synth", "json", "hgrm", "plot", "server_pid"])]
    pub compare: Option<Vec<PathBuf>>,

    /// With --url: the server's order token (feed-server --order-token), sent on every order
    /// connection before its first order.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "TICKWIRE_ORDER_TOKEN",
        hide_env_values = true
    )]
    pub token: Option<protocol::Token>,

    /// The subprotocol subscribers and orders speak: `json` or `bin` (tickwire.v1.bin).
    #[arg(long, default_value = "json")]
    pub encoding: protocol::Encoding,

    #[command(flatten)]
    pub tls: crate::tls::TlsArgs,
}

impl BenchArgs {
    /// Connections the orders go out on: `--order-connections`, or one per 500 orders/s.
    pub fn order_connections(&self) -> usize {
        if self.order_rate <= 0.0 {
            return 0;
        }
        self.order_connections.map_or_else(
            || (self.order_rate / PER_CONNECTION_RATE).ceil() as usize,
            |n| n as usize,
        )
    }

    /// `synthetic` or `replay` (in-process), or `url`.
    pub fn source(&self) -> &'static str {
        match (&self.url, &self.replay) {
            (Some(_), _) => "url",
            (None, Some(_)) => "replay",
            (None, None) => "synthetic",
        }
    }
}

fn churn_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if rate.is_finite() && (0.0..=100_000.0).contains(&rate) => Ok(rate),
        _ => Err(format!(
            "`{text}` is not a rate from 0 to 100000 connections per second"
        )),
    }
}
