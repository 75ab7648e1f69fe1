//! From what a run measured to its [`Report`].

use hdrhistogram::Histogram;
use protocol::Hello;

use super::orders::OrderTally;
use super::report::{
    self, Busiest, Churn, Cpu, Host, Memory, OrderCounts, Params, Report, ServerSide,
};
use super::stats::Percentiles;
use super::subscribers::{Errors, Tally};
use super::system::ThreadCpu;
use super::{BenchArgs, Outcome};

/// The raw results of a run.
#[derive(Debug)]
pub(super) struct Measured {
    pub url: String,
    /// With several URLs: each with the connections made to it.
    pub connects: Vec<(String, u64)>,
    pub hello: Hello,
    pub clients: usize,
    pub window: std::time::Duration,
    pub tally: Tally,
    pub orders: Option<OrderTally>,
    /// Errors the subscribers met over the whole run (the orders' are in `orders`).
    pub errors: Errors,
    pub client_threads: Vec<ThreadCpu>,
    /// The server's threads, when known (in-process, or with `--server-pid`).
    pub server_threads: Option<Vec<ThreadCpu>>,
    pub client_rss: Option<u64>,
    pub server_rss_before: Option<u64>,
    pub server_rss_after: Option<u64>,
}

/// The report and the histograms behind it.
pub(super) fn outcome(args: &BenchArgs, m: Measured) -> Outcome {
    let mut errors = m.errors;
    let order_connections = args.order_connections();
    let in_process = args.url.is_none();
    let window_s = m.window.as_secs_f64().max(1e-9);
    let cpu = cpu_figures(
        &m.client_threads,
        m.server_threads.as_deref(),
        m.window,
        m.tally.deliveries,
    );
    let mut order_counts = OrderCounts::default();
    let (order_rtt, order_send_lateness): (Histogram<u64>, Histogram<u64>) = match m.orders {
        Some(t) => {
            errors.merge(&t.errors);
            order_counts = OrderCounts {
                sent: t.sent,
                acked: t.acked,
                rejected: t.rejected_total(),
                rejected_by_code: t.rejected,
                missing: t.missing,
                fills: t.fills,
                realtime: t.realtime,
            };
            (t.rtt, t.send_lateness)
        }
        None => (crate::latency::histogram(), crate::latency::histogram()),
    };
    let per_connection = match (m.server_rss_before, m.server_rss_after) {
        (Some(b), Some(a)) => {
            Some(a.saturating_sub(b) as f64 / (m.clients + order_connections) as f64)
        }
        _ => None,
    };
    let limited_by = report::limited_by(&cpu, m.tally.gaps);
    let report = Report {
        tickwire_version: env!("CARGO_PKG_VERSION").to_owned(),
        params: Params {
            source: args.source().to_owned(),
            url: m.url,
            replay: args.replay.as_ref().map(|p| p.display().to_string()),
            speed: args
                .replay
                .as_ref()
                .map(|_| args.speed.unwrap_or_default().to_string()),
            rate: (in_process && args.replay.is_none()).then_some(args.rate),
            clients: m.clients,
            symbols: args.symbols.clone(),
            subscribed_symbols: if args.symbols.trim() == "*" {
                m.hello.symbols.len()
            } else {
                args.symbols
                    .split(',')
                    .filter(|s| !s.trim().is_empty())
                    .count()
            },
            order_rate: args.order_rate,
            order_connections,
            encoding: match args.encoding {
                protocol::Encoding::Json => "json".to_owned(),
                protocol::Encoding::Bin => "bin".to_owned(),
            },
            duration_s: args.duration.as_secs_f64(),
            warmup_s: args.warmup.as_secs_f64(),
            client_threads: args.client_threads as usize,
            realtime_orders: args.realtime_orders,
            server_cpus: args.server_cpus.clone(),
            client_cpus: args.client_cpus.clone(),
            server_pid: args.server_pid,
            channels: args.channels.names(),
        },
        server: Some(ServerSide {
            name: m.hello.server.name.clone(),
            version: m.hello.server.version.clone(),
            source: m.hello.source.clone(),
        }),
        host: Host {
            os: std::env::consts::OS.to_owned(),
            arch: std::env::consts::ARCH.to_owned(),
            cpus: std::thread::available_parallelism().map_or(0, usize::from),
        },
        window_s,
        tick_latency: Percentiles::of(&m.tally.tick),
        order_rtt: Percentiles::of(&order_rtt),
        order_send_lateness: Percentiles::of(&order_send_lateness),
        deliveries: m.tally.deliveries,
        deliveries_per_s: m.tally.deliveries as f64 / window_s,
        frames: m.tally.frames,
        frames_per_s: m.tally.frames as f64 / window_s,
        bytes: m.tally.bytes,
        mb_per_s: m.tally.bytes as f64 / 1e6 / window_s,
        bytes_per_delivery: m.tally.bytes as f64 / (m.tally.deliveries.max(1) as f64),
        gaps: m.tally.gaps,
        gap_jumps: m.tally.gap_jumps,
        out_of_order: m.tally.out_of_order,
        resyncs: m.tally.resyncs,
        orders: order_counts,
        errors: errors.total(),
        error_kinds: errors.0,
        cpu,
        memory: Memory {
            client_rss_bytes: m.client_rss,
            server_rss_before_bytes: m.server_rss_before,
            server_rss_after_bytes: m.server_rss_after,
            server_bytes_per_connection: per_connection,
        },
        limited_by,
        per_url: if m.connects.len() > 1 {
            m.connects
                .iter()
                .enumerate()
                .map(|(i, (url, connections))| {
                    let deliveries = m.tally.by_url.get(i).copied().unwrap_or(0);
                    report::UrlShare {
                        url: url.clone(),
                        connections: *connections,
                        deliveries,
                        deliveries_per_s: deliveries as f64 / window_s,
                    }
                })
                .collect()
        } else {
            Vec::new()
        },
        books: args.channels.book().then(|| report::Books {
            depth: args.depth,
            updates: m.tally.book_updates,
            updates_per_s: m.tally.book_updates as f64 / window_s,
            books: m.tally.books,
            mismatches: m.tally.book_mismatches,
            gaps: m.tally.book_gaps,
            resyncs: m.tally.book_resyncs,
        }),
        churn: (args.churn > 0.0).then(|| Churn {
            rate: args.churn,
            drops: m.tally.churned,
            resumes: m.tally.resumes,
            recovered: m.tally.recovered,
            snapshot: m.tally.resnapshotted,
            gaps: m.tally.resume_gaps,
            first_live_event: Percentiles::of(&m.tally.rejoin),
        }),
    };
    Outcome {
        report,
        tick: m.tally.tick,
        order_rtt,
        order_send_lateness,
    }
}

/// Cores used per side and the busiest thread of each.
fn cpu_figures(
    client: &[ThreadCpu],
    server: Option<&[ThreadCpu]>,
    window: std::time::Duration,
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
