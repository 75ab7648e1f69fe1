//! The outcome of a benchmark: one serializable report, its table for people, which side limited
//! the run, and `--compare` of two saved reports.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;
use serde_json::Value;

use super::stats::Percentiles;
use crate::format::nanos;

/// Everything a run measured, as `--json` writes it.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub tickwire_version: String,
    pub params: Params,
    /// What the server said about itself in `hello`.
    pub server: Option<ServerSide>,
    pub host: Host,
    /// The measured window (after the warm-up), in seconds.
    pub window_s: f64,
    pub tick_latency: Percentiles,
    pub order_rtt: Percentiles,
    pub order_send_lateness: Percentiles,
    pub deliveries: u64,
    pub deliveries_per_s: f64,
    pub frames: u64,
    pub frames_per_s: f64,
    /// WebSocket payload bytes received by the subscribers.
    pub bytes: u64,
    pub mb_per_s: f64,
    /// Payload bytes per delivered event (frame overhead and snapshots included).
    pub bytes_per_delivery: f64,
    /// Events missing from the per-symbol `seq` sequences (jumps, and re-sync snapshots ahead of
    /// the last event seen), and in how many jumps.
    pub gaps: u64,
    pub gap_jumps: u64,
    pub out_of_order: u64,
    pub resyncs: u64,
    pub orders: OrderCounts,
    /// Over the whole run, warm-up included.
    pub errors: u64,
    pub error_kinds: BTreeMap<String, u64>,
    pub cpu: Cpu,
    pub memory: Memory,
    pub limited_by: Limit,
    /// With `--churn`: what the connections that dropped and resumed saw.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub churn: Option<Churn>,
    /// With `--channels book`: what the subscribers' books saw.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub books: Option<Books>,
    /// With several `--url`s: each server's share of the connections and deliveries.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub per_url: Vec<UrlShare>,
}

/// One of several `--url`s.
#[derive(Debug, Clone, Serialize)]
pub struct UrlShare {
    pub url: String,
    /// Subscriber connections made to it over the run (reconnects included).
    pub connections: u64,
    /// Deliveries in the measured window.
    pub deliveries: u64,
    pub deliveries_per_s: f64,
}

/// The books the subscribers kept (`--channels book`), in the measured window. Book updates
/// count among the deliveries, and their latency (`ts_ns` to arrival) in the tick latency.
#[derive(Debug, Clone, Serialize)]
pub struct Books {
    pub depth: u32,
    /// `book_update`s applied with their checksum right, and per second.
    pub updates: u64,
    pub updates_per_s: f64,
    /// Whole `book`s received (on subscribing, after a resync, after conflation).
    pub books: u64,
    /// Checksums that did not match (must be 0), book `seq` gaps, and the fresh books asked
    /// for after either.
    pub mismatches: u64,
    pub gaps: u64,
    pub resyncs: u64,
}

/// Connections dropped on purpose and resumed (`--churn`), in the measured window.
#[derive(Debug, Clone, Serialize)]
pub struct Churn {
    /// Drops asked for, per second.
    pub rate: f64,
    pub drops: u64,
    pub resumes: u64,
    /// Symbols continued from history, and symbols given a snapshot instead, over all resumes.
    pub recovered: u64,
    pub snapshot: u64,
    /// Events missing on connections that resumed (0 when every resume was exact).
    pub gaps: u64,
    /// From a drop to the first event produced after the resume was asked for.
    pub first_live_event: Percentiles,
}

/// The run's settings.
#[derive(Debug, Clone, Serialize)]
pub struct Params {
    /// `synthetic`, `replay` (both in-process) or `url`.
    pub source: String,
    pub url: String,
    pub replay: Option<String>,
    pub speed: Option<String>,
    pub rate: Option<u64>,
    pub clients: usize,
    pub symbols: String,
    pub subscribed_symbols: usize,
    pub order_rate: f64,
    pub order_connections: usize,
    pub duration_s: f64,
    pub warmup_s: f64,
    pub client_threads: usize,
    pub realtime_orders: bool,
    pub server_cpus: Option<String>,
    pub client_cpus: Option<String>,
    pub server_pid: Option<u32>,
    /// `json` or `bin`: the subprotocol the subscribers and orders spoke.
    pub encoding: String,
    /// `--channels`: `quotes`, `book` or `quotes,book`.
    pub channels: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServerSide {
    pub name: String,
    pub version: String,
    pub source: Option<protocol::SourceInfo>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Host {
    pub os: String,
    pub arch: String,
    pub cpus: usize,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct OrderCounts {
    pub sent: u64,
    pub acked: u64,
    pub rejected: u64,
    pub rejected_by_code: BTreeMap<String, u64>,
    pub missing: u64,
    pub fills: u64,
    /// Whether the order thread ran with a real-time priority.
    pub realtime: bool,
}

/// The busiest thread of one side and the share of the window it was on a CPU.
#[derive(Debug, Clone, Serialize)]
pub struct Busiest {
    pub thread: String,
    pub busy: f64,
}

/// CPU time each side used over the window, in cores (1.0 = one core all the time).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Cpu {
    pub client_cores: Option<f64>,
    /// Cores the side could have used: its CPUs (affinity), at most one per busy thread.
    pub client_capacity: Option<f64>,
    pub client_busiest: Option<Busiest>,
    pub client_us_per_delivery: Option<f64>,
    pub server_cores: Option<f64>,
    pub server_capacity: Option<f64>,
    pub server_busiest: Option<Busiest>,
    pub server_us_per_delivery: Option<f64>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Memory {
    pub client_rss_bytes: Option<u64>,
    /// The server's resident memory before the subscribers connected and at the end of the
    /// window (known with `--server-pid`).
    pub server_rss_before_bytes: Option<u64>,
    pub server_rss_after_bytes: Option<u64>,
    pub server_bytes_per_connection: Option<f64>,
}

/// Which side limited the run, and why that is the verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Limit {
    /// `server`, `client`, `both`, `source` or `machine`.
    pub side: String,
    pub why: String,
}

/// A thread on a CPU this share of the window counts as saturated.
const SATURATED: f64 = 0.9;

/// Decides which side limited the run: a side whose busiest thread was nearly always on a CPU,
/// or whose threads together used nearly all the cores they may run on, could not have gone
/// faster; if neither, clients that missed events point at the machine, and otherwise the
/// source's pace set the load.
pub fn limited_by(cpu: &Cpu, gaps: u64) -> Limit {
    let busy = |b: &Option<Busiest>, cores: Option<f64>, capacity: Option<f64>| {
        let thread = b.as_ref().map_or(0.0, |b| b.busy);
        let side = match (cores, capacity) {
            (Some(c), Some(cap)) if cap > 0.0 => c / cap,
            _ => 0.0,
        };
        thread.max(side)
    };
    let describe = |b: &Option<Busiest>| {
        b.as_ref().map_or_else(
            || "unknown".to_owned(),
            |b| format!("`{}` {:.0}%", b.thread, b.busy * 100.0),
        )
    };
    let (s, c) = (
        busy(&cpu.server_busiest, cpu.server_cores, cpu.server_capacity),
        busy(&cpu.client_busiest, cpu.client_cores, cpu.client_capacity),
    );
    let side = |cores: Option<f64>, capacity: Option<f64>| match (cores, capacity) {
        (Some(c), Some(cap)) => format!("{c:.2} of {cap:.0} cores"),
        _ => "unknown".to_owned(),
    };
    let threads = format!(
        "server {} (busiest thread {}), client {} (busiest thread {})",
        side(cpu.server_cores, cpu.server_capacity),
        describe(&cpu.server_busiest),
        side(cpu.client_cores, cpu.client_capacity),
        describe(&cpu.client_busiest)
    );
    let (side, why) = if s >= SATURATED && c >= SATURATED {
        ("both", format!("both sides ran out of CPU ({threads})"))
    } else if s >= SATURATED {
        ("server", format!("the server ran out of CPU ({threads})"))
    } else if c >= SATURATED {
        (
            "client",
            format!(
                "the bench client ran out of CPU ({threads}): use more --client-threads or cores"
            ),
        )
    } else if gaps > 0 {
        (
            "machine",
            format!(
                "no thread was saturated, yet {gaps} events were conflated away: the sides likely \
                 share a core or the machine is busy ({threads})"
            ),
        )
    } else {
        let unknown = if cpu.server_busiest.is_none() {
            "; the server's CPU is unknown (give --server-pid)"
        } else {
            ""
        };
        (
            "source",
            format!(
                "neither side was saturated: the feed's pace set the load ({threads}){unknown}"
            ),
        )
    };
    Limit {
        side: side.to_owned(),
        why,
    }
}

/// `1234567` as `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The run in a line, for titles.
pub fn title(r: &Report) -> String {
    let p = &r.params;
    let source = match p.source.as_str() {
        "synthetic" => format!("synthetic {}/s", p.rate.unwrap_or(0)),
        "replay" => format!(
            "replay {} at {}",
            p.replay.as_deref().unwrap_or("?"),
            p.speed.as_deref().unwrap_or("1")
        ),
        _ => p.url.clone(),
    };
    let orders = if p.order_rate > 0.0 {
        format!(", {} orders/s", p.order_rate)
    } else {
        String::new()
    };
    format!(
        "{source}, {} clients x {} symbols{orders}, {} s, {}",
        p.clients, p.subscribed_symbols, p.duration_s, p.encoding
    )
}

/// The report as a table.
pub fn table(r: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "tickwire bench: {}", title(r));
    if let Some(s) = &r.server {
        let _ = writeln!(out, "server: {} {}", s.name, s.version);
    }
    let _ = writeln!(
        out,
        "\n{:<22} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
        "", "count", "p50", "p90", "p99", "p99.9", "p99.99", "max", "mean"
    );
    let mut row = |name: &str, p: &Percentiles| {
        if p.count == 0 {
            let _ = writeln!(
                out,
                "{name:<22} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
                0, "-", "-", "-", "-", "-", "-", "-"
            );
            return;
        }
        let _ = writeln!(
            out,
            "{name:<22} {:>10} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
            p.count,
            nanos(p.p50_ns),
            nanos(p.p90_ns),
            nanos(p.p99_ns),
            nanos(p.p999_ns),
            nanos(p.p9999_ns),
            nanos(p.max_ns),
            nanos(p.mean_ns as u64)
        );
    };
    row("tick latency", &r.tick_latency);
    if r.params.order_rate > 0.0 {
        row("order round trip", &r.order_rtt);
        row("order send lateness", &r.order_send_lateness);
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "deliveries   {}/s ({} in {:.1} s)",
        thousands(r.deliveries_per_s as u64),
        thousands(r.deliveries),
        r.window_s
    );
    let _ = writeln!(
        out,
        "frames       {}/s, {:.1} MB/s of payload, {:.1} bytes per delivery",
        thousands(r.frames_per_s as u64),
        r.mb_per_s,
        r.bytes_per_delivery
    );
    let _ = writeln!(
        out,
        "gaps         {} events missing in {} jumps; {} re-syncs, {} out of order",
        r.gaps, r.gap_jumps, r.resyncs, r.out_of_order
    );
    if r.params.order_rate > 0.0 {
        let o = &r.orders;
        let by_code: Vec<String> = o
            .rejected_by_code
            .iter()
            .map(|(c, n)| format!("{c} {n}"))
            .collect();
        let _ = writeln!(
            out,
            "orders       {} sent, {} acked, {} rejected{}, {} missing, {} fills",
            o.sent,
            o.acked,
            o.rejected,
            if by_code.is_empty() {
                String::new()
            } else {
                format!(" ({})", by_code.join(", "))
            },
            o.missing,
            o.fills
        );
    }
    if let Some(b) = &r.books {
        let _ = writeln!(
            out,
            "books        {}/s updates at depth {} ({} in all), {} books; {} checksum mismatches, {} gaps, {} re-syncs",
            thousands(b.updates_per_s as u64),
            b.depth,
            thousands(b.updates),
            b.books,
            b.mismatches,
            b.gaps,
            b.resyncs
        );
    }
    if let Some(c) = &r.churn {
        let _ = writeln!(
            out,
            "churn        {} drops at {}/s, {} resumes: {} symbols recovered, {} from snapshot, {} events missing after a resume",
            c.drops, c.rate, c.resumes, c.recovered, c.snapshot, c.gaps
        );
        let p = &c.first_live_event;
        if p.count > 0 {
            let _ = writeln!(
                out,
                "             drop to first fresh event: p50 {}, p99 {}, max {}",
                nanos(p.p50_ns),
                nanos(p.p99_ns),
                nanos(p.max_ns)
            );
        }
    }
    for share in &r.per_url {
        let _ = writeln!(
            out,
            "url          {}: {} connections, {} deliveries ({:.0}/s)",
            share.url, share.connections, share.deliveries, share.deliveries_per_s
        );
    }
    let _ = writeln!(out, "errors       {}", r.errors);
    for (what, n) in &r.error_kinds {
        let _ = writeln!(out, "             {n} x {what}");
    }
    let side = |cores: Option<f64>,
                capacity: Option<f64>,
                busiest: &Option<Busiest>,
                per: Option<f64>| match cores {
        None => "unknown".to_owned(),
        Some(c) => {
            let mut s = format!("{c:.3} cores");
            if let Some(cap) = capacity {
                let _ = write!(s, " of {cap:.0} usable");
            }
            if let Some(b) = busiest {
                let _ = write!(s, ", busiest thread `{}` {:.0}%", b.thread, b.busy * 100.0);
            }
            if let Some(p) = per {
                let _ = write!(s, ", {p:.3} us per delivery");
            }
            s
        }
    };
    let c = &r.cpu;
    let _ = writeln!(
        out,
        "client cpu   {}",
        side(
            c.client_cores,
            c.client_capacity,
            &c.client_busiest,
            c.client_us_per_delivery
        )
    );
    let server = if c.server_cores.is_none() && r.params.source == "url" {
        "unknown (give --server-pid)".to_owned()
    } else {
        side(
            c.server_cores,
            c.server_capacity,
            &c.server_busiest,
            c.server_us_per_delivery,
        )
    };
    let _ = writeln!(out, "server cpu   {server}");
    let m = &r.memory;
    if let (Some(before), Some(after)) = (m.server_rss_before_bytes, m.server_rss_after_bytes) {
        let _ = writeln!(
            out,
            "server rss   {:.1} MB before the clients, {:.1} MB after{}",
            before as f64 / 1e6,
            after as f64 / 1e6,
            m.server_bytes_per_connection
                .map(|b| format!(" ({:.1} kB per connection)", b / 1e3))
                .unwrap_or_default()
        );
    }
    let _ = writeln!(
        out,
        "limited by   {}: {}",
        r.limited_by.side, r.limited_by.why
    );
    out
}

/// Every number in two reports side by side, with the ratio B/A; settings that differ are
/// listed first.
pub fn compare(a: &Value, b: &Value) -> String {
    let (mut fa, mut fb) = (BTreeMap::new(), BTreeMap::new());
    flatten("", a, &mut fa);
    flatten("", b, &mut fb);
    let mut keys: Vec<&String> = fa.keys().chain(fb.keys()).collect();
    keys.sort();
    keys.dedup();
    let width = keys.iter().map(|k| k.len()).max().unwrap_or(0).max(6);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<width$} {:>16} {:>16} {:>9}",
        "figure", "A", "B", "B/A"
    );
    for key in keys {
        let (x, y) = (fa.get(key), fb.get(key));
        let show = |v: Option<&Value>| match v {
            None | Some(Value::Null) => "-".to_owned(),
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n
                .as_u64()
                .map_or_else(|| format!("{:.3}", n.as_f64().unwrap_or(0.0)), thousands),
            Some(v) => v.to_string(),
        };
        let ratio = match (x.and_then(Value::as_f64), y.and_then(Value::as_f64)) {
            (Some(x), Some(y)) if x.abs() > 0.0 => format!("{:.3}", y / x),
            (Some(_), Some(y)) if y.abs() <= 0.0 => "=".to_owned(),
            _ if x == y => "=".to_owned(),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "{key:<width$} {:>16} {:>16} {ratio:>9}",
            show(x),
            show(y)
        );
    }
    out
}

fn flatten(prefix: &str, v: &Value, out: &mut BTreeMap<String, Value>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                flatten(&format!("{prefix}.{i}"), v, out);
            }
        }
        leaf => {
            out.insert(prefix.to_owned(), leaf.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(clippy::unnecessary_wraps)]
    fn busiest(thread: &str, busy: f64) -> Option<Busiest> {
        Some(Busiest {
            thread: thread.to_owned(),
            busy,
        })
    }

    #[test]
    fn the_saturated_side_is_named() {
        let cpu = |s, c| Cpu {
            server_busiest: s,
            client_busiest: c,
            ..Cpu::default()
        };
        let v = limited_by(&cpu(busiest("feed-server", 0.97), busiest("c", 0.3)), 0);
        assert_eq!(v.side, "server");
        assert!(v.why.contains("`feed-server` 97%"), "{}", v.why);
        assert_eq!(
            limited_by(&cpu(busiest("s", 0.2), busiest("c", 0.95)), 9).side,
            "client"
        );
        assert_eq!(
            limited_by(&cpu(busiest("s", 0.95), busiest("c", 0.95)), 0).side,
            "both"
        );
        assert_eq!(
            limited_by(&cpu(busiest("s", 0.2), busiest("c", 0.3)), 5).side,
            "machine"
        );
        // Two server threads sharing the one CPU they are pinned to, neither busy alone.
        let shared = Cpu {
            server_cores: Some(0.99),
            server_capacity: Some(1.0),
            ..cpu(busiest("feed-server", 0.69), busiest("c", 0.3))
        };
        let v = limited_by(&shared, 0);
        assert_eq!(v.side, "server");
        assert!(v.why.contains("0.99 of 1 cores"), "{}", v.why);
        let v = limited_by(&cpu(None, busiest("c", 0.3)), 0);
        assert_eq!(v.side, "source");
        assert!(v.why.contains("--server-pid"));
    }

    #[test]
    fn counts_read_with_thousands_separators() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn compare_lists_every_figure_with_its_ratio() {
        let a = serde_json::json!({"deliveries_per_s": 100.0, "tick_latency": {"p50_ns": 800}, "params": {"source": "url"}, "only_a": 1, "zero": 0});
        let b = serde_json::json!({"deliveries_per_s": 150.0, "tick_latency": {"p50_ns": 200}, "params": {"source": "synthetic"}, "zero": 0});
        let text = compare(&a, &b);
        let line = |key: &str| {
            text.lines()
                .find(|l| l.starts_with(key))
                .unwrap_or_else(|| panic!("{key} in {text}"))
                .split_whitespace()
                .collect::<Vec<_>>()
        };
        assert_eq!(
            line("deliveries_per_s"),
            ["deliveries_per_s", "100.000", "150.000", "1.500"]
        );
        assert_eq!(
            line("tick_latency.p50_ns"),
            ["tick_latency.p50_ns", "800", "200", "0.250"]
        );
        assert_eq!(line("params.source"), ["params.source", "url", "synthetic"]);
        assert_eq!(line("only_a"), ["only_a", "1", "-"]);
        assert_eq!(line("zero"), ["zero", "0", "0", "="]);
    }
}
