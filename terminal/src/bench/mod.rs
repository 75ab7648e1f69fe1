//! `terminal bench`: a latency benchmark for market data over WebSocket.
//!
//! Subscribers (`--clients`) receive the feed and record tick latency per event; orders go out
//! open loop at `--order-rate` on their own connections and thread, and their round trips are
//! measured from the scheduled send time. The feed comes from an in-process server (synthesizing
//! or replaying a recording, on its own runtime and threads) or from any server at `--url`.
//!
//! # Layout
//! - this file: the flags and the run, from starting the server to the report.
//! - [`subscribers`]: the subscriber connections and their tallies; [`scan`] reads frames cheaply.
//! - [`orders`]: the open-loop order schedule and its round trips.
//! - [`stats`]: percentiles and `.hgrm` files; [`plot`]: the latency-by-percentile picture.
//! - [`report`]: the report, its table, the verdict on what limited the run, and `--compare`.
//! - [`system`]: CPU per thread, memory, the fd limit and pinning, from the OS.

mod orders;
pub mod plot;
pub mod report;
mod scan;
pub mod stats;
mod subscribers;
pub mod system;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use feed_server::pacer::Speed;
use hdrhistogram::Histogram;
use protocol::{ClientMessage, Hello, ServerMessage, Subscribe, Symbol, encode_client, now_ns};

use report::{Busiest, Cpu, Host, Memory, OrderCounts, Params, Report, ServerSide};
use stats::Percentiles;
use system::ThreadCpu;

/// The arguments of `terminal bench`.
#[derive(Debug, Clone, Args)]
pub struct BenchArgs {
    /// Drive this server (any server speaking Tickwire v1) instead of an in-process one.
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

    /// Orders per second, sent open loop on a fixed schedule (0: none). Market orders for one
    /// unit, alternately buy and sell, round-robin over the symbols.
    #[arg(long, default_value_t = 100.0)]
    pub order_rate: f64,

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
}

/// The threads of an in-process server, by name.
const SERVER_THREADS: &[&str] = &["feed-server", "tickwire-pacer"];
/// How long the subscribers have to connect, per thousand clients (at least 10 s in all).
const CONNECT_TIME_PER_1000: Duration = Duration::from_secs(10);

/// A live reading, once a second.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub phase: Phase,
    /// Since the start of the phase.
    pub elapsed: Duration,
    pub connected: usize,
    pub deliveries_per_s: f64,
    /// Tick latency p99 over the last second.
    pub tick_p99_ns: u64,
    /// Order round trip p99 over the last second.
    pub order_p99_ns: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Connecting,
    WarmingUp,
    Measuring,
}

/// A finished run: the report and the histograms behind it.
#[derive(Debug)]
pub struct Outcome {
    pub report: Report,
    pub tick: Histogram<u64>,
    pub order_rtt: Histogram<u64>,
    pub order_send_lateness: Histogram<u64>,
}

/// Runs a benchmark, calling `progress` about once a second.
pub fn run(args: &BenchArgs, mut progress: impl FnMut(&Progress)) -> anyhow::Result<Outcome> {
    if !(args.order_rate.is_finite() && (0.0..=1_000_000.0).contains(&args.order_rate)) {
        bail!("--order-rate must be between 0 and 1000000");
    }
    if args.duration.is_zero() {
        bail!("--duration must be longer than zero");
    }
    if let Some(path) = &args.plot {
        plot::check_path(path).map_err(anyhow::Error::msg)?;
    }
    let clients = usize::try_from(args.clients).context("--clients is too large")?;
    let order_connections = if args.order_rate > 0.0 {
        args.order_connections.map_or_else(
            || (args.order_rate / orders::PER_CONNECTION_RATE).ceil() as usize,
            |n| n as usize,
        )
    } else {
        0
    };
    let connections = clients + order_connections + 1;
    let in_process = args.url.is_none();
    let per_connection = if in_process { 2 } else { 1 };
    system::raise_fd_limit(connections as u64 * per_connection + 64).map_err(anyhow::Error::msg)?;
    let server_cpus = args
        .server_cpus
        .as_deref()
        .map(system::parse_cpus)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--server-cpus: {e}"))?;
    let client_cpus = args
        .client_cpus
        .as_deref()
        .map(system::parse_cpus)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--client-cpus: {e}"))?;

    // The server starts first, so that pinning this thread afterwards is inherited by the
    // client threads only.
    let server = if in_process {
        let config = feed_server::Config {
            listen: "127.0.0.1:0".parse()?,
            rate: args.rate,
            replay: args.replay.clone(),
            speed: args.speed.unwrap_or_default(),
            looping: true,
            max_connections: connections + 16,
            ..feed_server::Config::default()
        };
        if config.replay.is_some() {
            // Fail here, with the file's own error, rather than as refused connections.
            feed_server::source::open(&config).map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        Some(feed_server::ThreadedServer::start(config).context("cannot start the feed server")?)
    } else {
        None
    };
    let url = server.as_ref().map_or_else(
        || args.url.clone().unwrap_or_default(),
        feed_server::ThreadedServer::url,
    );
    if let Some(cpus) = &client_cpus {
        system::pin(0, cpus).map_err(|e| anyhow::anyhow!("--client-cpus: {e}"))?;
    }
    let me = std::process::id();

    let hello = probe(&url)?;
    if let Some(cpus) = &server_cpus {
        for t in system::threads(me) {
            if SERVER_THREADS.contains(&t.name.as_str()) {
                system::pin(t.tid, cpus).map_err(|e| anyhow::anyhow!("--server-cpus: {e}"))?;
            }
        }
    }
    let (subscribe, order_symbols) = subscription(&args.symbols, &hello)?;
    let index = hello
        .symbols
        .iter()
        .enumerate()
        .map(|(i, s)| (Box::from(s.as_str()), i))
        .collect();
    let server_rss_before = args.server_pid.and_then(system::rss_bytes);

    let subscribers = subscribers::Subscribers::start(subscribers::Plan {
        url: url.clone(),
        subscribe: encode_client(&ClientMessage::Subscribe(Subscribe { symbols: subscribe })),
        index,
        clients,
        threads: args.client_threads as usize,
    })?;
    let connect_deadline = Instant::now()
        + CONNECT_TIME_PER_1000
            .saturating_mul(u32::try_from(clients.div_ceil(1_000)).unwrap_or(u32::MAX))
            .max(Duration::from_secs(10));
    let connect_start = Instant::now();
    while subscribers.settled() < clients {
        if Instant::now() > connect_deadline {
            bail!(
                "only {} of {clients} subscribers connected in {:?}: {:?}",
                subscribers.settled(),
                connect_start.elapsed(),
                subscribers.errors().0
            );
        }
        std::thread::sleep(Duration::from_millis(100));
        progress(&Progress {
            phase: Phase::Connecting,
            elapsed: connect_start.elapsed(),
            connected: subscribers.settled(),
            deliveries_per_s: 0.0,
            tick_p99_ns: 0,
            order_p99_ns: None,
        });
    }
    let failed = subscribers.errors();
    if failed.total() >= clients as u64 {
        subscribers.stop();
        bail!("no subscriber could connect: {:?}", failed.0);
    }

    let start = Instant::now();
    let start_ns = now_ns();
    let nanos = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
    let measure_from_ns = start_ns.saturating_add(nanos(args.warmup));
    let orders = if order_connections > 0 {
        Some(orders::Orders::start(
            orders::Plan {
                url: url.clone(),
                symbols: order_symbols,
                rate: args.order_rate,
                connections: order_connections,
                start_ns,
                until_ns: measure_from_ns.saturating_add(nanos(args.duration)),
                grace: args.grace,
            },
            measure_from_ns,
            args.realtime_orders,
        )?)
    } else {
        None
    };
    let mut tick = |phase: Phase, since: Instant, deliveries_per_s: f64, tick_p99_ns: u64| {
        let order_p99_ns = orders.as_ref().map(|o| {
            let h = o.recent();
            if h.is_empty() {
                0
            } else {
                h.value_at_quantile(0.99)
            }
        });
        progress(&Progress {
            phase,
            elapsed: since.elapsed(),
            connected: clients,
            deliveries_per_s,
            tick_p99_ns,
            order_p99_ns,
        });
    };
    sleep_with_progress(start + args.warmup, |_| {
        let (_, recent) = subscribers.progress();
        let _ = recent;
        tick(Phase::WarmingUp, start, 0.0, 0);
    });

    let server_threads_of = |all: Vec<ThreadCpu>| -> (Vec<ThreadCpu>, Vec<ThreadCpu>) {
        if in_process {
            all.into_iter()
                .partition(|t| SERVER_THREADS.contains(&t.name.as_str()))
        } else {
            (Vec::new(), all)
        }
    };
    let own_before = system::threads(me);
    let remote_before = args.server_pid.map(system::threads);
    subscribers.open_window();
    let window_start = Instant::now();
    let mut last = (window_start, 0u64);
    sleep_with_progress(window_start + args.duration, |now| {
        let (deliveries, recent) = subscribers.progress();
        let dt = now.duration_since(last.0).as_secs_f64().max(1e-9);
        let rate = deliveries.saturating_sub(last.1) as f64 / dt;
        last = (now, deliveries);
        let p99 = if recent.is_empty() {
            0
        } else {
            recent.value_at_quantile(0.99)
        };
        tick(Phase::Measuring, window_start, rate, p99);
    });
    let tally = subscribers.close_window();
    let window = window_start.elapsed();
    let own = system::used(&own_before, &system::threads(me));
    let remote =
        remote_before.map(|b| system::used(&b, &system::threads(args.server_pid.unwrap_or(0))));
    let server_rss_after = args.server_pid.and_then(system::rss_bytes);
    let client_rss = system::rss_bytes(me);
    let errors_so_far = subscribers.errors();
    subscribers.stop();
    let order_tally = orders.map(orders::Orders::join);
    let server_failure = server
        .as_ref()
        .and_then(feed_server::ThreadedServer::failure);
    drop(server);
    if let Some(why) = server_failure {
        bail!("the in-process feed server stopped: {why}");
    }

    let window_s = window.as_secs_f64().max(1e-9);
    let (server_threads, client_threads) = server_threads_of(own);
    let server_threads = if in_process {
        Some(server_threads)
    } else {
        remote
    };
    let cpu = cpu_figures(
        &client_threads,
        server_threads.as_deref(),
        window,
        tally.deliveries,
    );
    let mut errors = errors_so_far;
    let mut order_counts = OrderCounts::default();
    let (order_rtt, order_send_lateness) = match order_tally {
        Some(t) => {
            errors.merge(&t.errors);
            order_counts = OrderCounts {
                sent: t.sent,
                acked: t.acked,
                rejected: t.rejected_total(),
                rejected_by_code: t.rejected.clone(),
                missing: t.missing,
                fills: t.fills,
                realtime: t.realtime,
            };
            (t.rtt, t.send_lateness)
        }
        None => (crate::latency::histogram(), crate::latency::histogram()),
    };
    let per_connection = match (server_rss_before, server_rss_after) {
        (Some(b), Some(a)) => {
            Some(a.saturating_sub(b) as f64 / (clients + order_connections) as f64)
        }
        _ => None,
    };
    let limited_by = report::limited_by(&cpu, tally.gaps);
    let report = Report {
        tickwire_version: env!("CARGO_PKG_VERSION").to_owned(),
        params: Params {
            source: match (&args.url, &args.replay) {
                (Some(_), _) => "url",
                (None, Some(_)) => "replay",
                (None, None) => "synthetic",
            }
            .to_owned(),
            url: url.clone(),
            replay: args.replay.as_ref().map(|p| p.display().to_string()),
            speed: args
                .replay
                .as_ref()
                .map(|_| args.speed.unwrap_or_default().to_string()),
            rate: (in_process && args.replay.is_none()).then_some(args.rate),
            clients,
            symbols: args.symbols.clone(),
            subscribed_symbols: if args.symbols.trim() == "*" {
                hello.symbols.len()
            } else {
                args.symbols
                    .split(',')
                    .filter(|s| !s.trim().is_empty())
                    .count()
            },
            order_rate: args.order_rate,
            order_connections,
            duration_s: args.duration.as_secs_f64(),
            warmup_s: args.warmup.as_secs_f64(),
            client_threads: args.client_threads as usize,
            realtime_orders: args.realtime_orders,
            server_cpus: args.server_cpus.clone(),
            client_cpus: args.client_cpus.clone(),
            server_pid: args.server_pid,
        },
        server: Some(ServerSide {
            name: hello.server.name.clone(),
            version: hello.server.version.clone(),
            source: hello.source.clone(),
        }),
        host: Host {
            os: std::env::consts::OS.to_owned(),
            arch: std::env::consts::ARCH.to_owned(),
            cpus: std::thread::available_parallelism().map_or(0, usize::from),
        },
        window_s,
        tick_latency: Percentiles::of(&tally.tick),
        order_rtt: Percentiles::of(&order_rtt),
        order_send_lateness: Percentiles::of(&order_send_lateness),
        deliveries: tally.deliveries,
        deliveries_per_s: tally.deliveries as f64 / window_s,
        frames: tally.frames,
        frames_per_s: tally.frames as f64 / window_s,
        bytes: tally.bytes,
        mb_per_s: tally.bytes as f64 / 1e6 / window_s,
        gaps: tally.gaps,
        gap_jumps: tally.gap_jumps,
        out_of_order: tally.out_of_order,
        resyncs: tally.resyncs,
        orders: order_counts,
        errors: errors.total(),
        error_kinds: errors.0,
        cpu,
        memory: Memory {
            client_rss_bytes: client_rss,
            server_rss_before_bytes: server_rss_before,
            server_rss_after_bytes: server_rss_after,
            server_bytes_per_connection: per_connection,
        },
        limited_by,
    };
    Ok(Outcome {
        report,
        tick: tally.tick,
        order_rtt,
        order_send_lateness,
    })
}

/// Sleeps until `until`, calling `each` about once a second and at the end.
fn sleep_with_progress(until: Instant, mut each: impl FnMut(Instant)) {
    loop {
        let now = Instant::now();
        if now >= until {
            each(now);
            return;
        }
        std::thread::sleep((until - now).min(Duration::from_secs(1)));
        let now = Instant::now();
        if now < until {
            each(now);
        }
    }
}

/// Reads the server's `hello`, then closes.
fn probe(url: &str) -> anyhow::Result<Hello> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        use futures_util::StreamExt;
        let mut ws = crate::net::connect(url)
            .await
            .map_err(|e| anyhow::anyhow!("{url}: {e}"))?;
        let mut decoder = protocol::Decoder::new();
        let mut messages = Vec::new();
        let hello = tokio::time::timeout(Duration::from_secs(5), async {
            while let Some(frame) = ws.next().await {
                let text = match frame {
                    Ok(tokio_tungstenite::tungstenite::Message::Text(t)) => t,
                    Ok(_) => continue,
                    Err(e) => bail!("{url}: {e}"),
                };
                messages.clear();
                decoder
                    .server_frame(text.as_bytes(), &mut messages)
                    .with_context(|| format!("{url} does not speak Tickwire v1"))?;
                if let Some(ServerMessage::Hello(h)) = messages.drain(..).next() {
                    return Ok(h);
                }
            }
            bail!("{url} closed before its hello")
        })
        .await
        .map_err(|_| anyhow::anyhow!("{url} sent no hello within 5 s"))??;
        subscribers::close(&mut ws).await;
        Ok(hello)
    })
}

/// The subscribe list and the symbols orders go to, checked against the server's list.
fn subscription(symbols: &str, hello: &Hello) -> anyhow::Result<(Vec<Symbol>, Vec<Symbol>)> {
    if symbols.trim() == "*" {
        return Ok((vec![Symbol::from("*")], hello.symbols.clone()));
    }
    let list: Vec<Symbol> = symbols
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(Symbol::from)
        .collect();
    if list.is_empty() {
        bail!("--symbols: give a comma-separated list or `*`");
    }
    let unknown: Vec<&str> = list
        .iter()
        .filter(|s| !hello.symbols.contains(s))
        .map(Symbol::as_str)
        .collect();
    if !unknown.is_empty() {
        let some: Vec<&str> = hello.symbols.iter().take(20).map(Symbol::as_str).collect();
        bail!(
            "the server does not have {} (it has {}{})",
            unknown.join(", "),
            some.join(", "),
            if hello.symbols.len() > 20 {
                ", ..."
            } else {
                ""
            }
        );
    }
    Ok((list.clone(), list))
}

/// Cores used per side and the busiest thread of each.
fn cpu_figures(
    client: &[ThreadCpu],
    server: Option<&[ThreadCpu]>,
    window: Duration,
    deliveries: u64,
) -> Cpu {
    let window_ns = window.as_nanos().max(1) as f64;
    let cores =
        |threads: &[ThreadCpu]| threads.iter().map(|t| t.cpu_ns).sum::<u64>() as f64 / window_ns;
    let busiest = |threads: &[ThreadCpu]| {
        threads.iter().max_by_key(|t| t.cpu_ns).map(|t| Busiest {
            thread: t.name.clone(),
            busy: t.cpu_ns as f64 / window_ns,
        })
    };
    let per_delivery = |threads: &[ThreadCpu]| {
        (deliveries > 0)
            .then(|| threads.iter().map(|t| t.cpu_ns).sum::<u64>() as f64 / 1e3 / deliveries as f64)
    };
    // The cores a side could use: the CPUs its threads may run on, at most one per thread that
    // did anything (1% of the window).
    let capacity = |threads: &[ThreadCpu]| {
        let mut cpus: Vec<usize> = threads
            .iter()
            .flat_map(|t| t.allowed.iter().copied())
            .collect();
        cpus.sort_unstable();
        cpus.dedup();
        let active = threads
            .iter()
            .filter(|t| t.cpu_ns as f64 >= window_ns / 100.0)
            .count()
            .max(1);
        (!cpus.is_empty()).then(|| cpus.len().min(active) as f64)
    };
    let known = !client.is_empty();
    Cpu {
        client_cores: known.then(|| cores(client)),
        client_capacity: capacity(client),
        server_capacity: server.and_then(capacity),
        client_busiest: busiest(client),
        client_us_per_delivery: if known { per_delivery(client) } else { None },
        server_cores: server.filter(|s| !s.is_empty()).map(cores),
        server_busiest: server.and_then(busiest),
        server_us_per_delivery: server.filter(|s| !s.is_empty()).and_then(per_delivery),
    }
}

/// Writes the `--json`, `--hgrm` and `--plot` outputs that were asked for.
pub fn write_outputs(args: &BenchArgs, outcome: &Outcome) -> anyhow::Result<()> {
    let r = &outcome.report;
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(r)?;
        std::fs::write(path, text + "\n")
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    let mut histograms = vec![("tick_latency", &outcome.tick)];
    if r.params.order_rate > 0.0 {
        histograms.push(("order_rtt", &outcome.order_rtt));
        histograms.push(("order_send_lateness", &outcome.order_send_lateness));
    }
    if let Some(dir) = &args.hgrm {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        for (name, h) in &histograms {
            let path = dir.join(format!("{name}.hgrm"));
            let mut text = Vec::new();
            stats::write_hgrm(h, &mut text)?;
            std::fs::write(&path, text)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
    }
    if let Some(path) = &args.plot {
        let mut series = vec![("tick latency", &outcome.tick)];
        if r.params.order_rate > 0.0 {
            series.push((
                "order round trip (from the scheduled send)",
                &outcome.order_rtt,
            ));
        }
        plot::plot(path, &report::title(r), &series).map_err(anyhow::Error::msg)?;
    }
    Ok(())
}

/// `--compare A B`: both reports side by side.
pub fn compare(a: &std::path::Path, b: &std::path::Path) -> anyhow::Result<String> {
    let read = |p: &std::path::Path| -> anyhow::Result<serde_json::Value> {
        let text =
            std::fs::read_to_string(p).with_context(|| format!("cannot read {}", p.display()))?;
        serde_json::from_str(&text)
            .with_context(|| format!("{} is not a bench report", p.display()))
    };
    Ok(report::compare(&read(a)?, &read(b)?))
}
