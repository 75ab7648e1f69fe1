//! One benchmark run: start or reach the server, connect the subscribers, start the orders,
//! warm up, measure the window, and gather what was measured.

use std::sync::atomic::AtomicU64;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use hdrhistogram::Histogram;
use protocol::{ClientMessage, Hello, ServerMessage, Subscribe, Symbol, now_ns};

use super::system::{self, ThreadCpu};
use super::{BenchArgs, assemble, orders, plot, report::Report, subscribers};

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
    let order_connections = args.order_connections();
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
            synth: feed_server::SynthArgs {
                rate: args.rate,
                ..feed_server::SynthArgs::default()
            },
            replay: args.replay.clone(),
            speed: args.speed.unwrap_or_default(),
            looping: true,
            max_connections: connections + 16,
            ..feed_server::Config::default()
        };
        if config.replay.is_some() {
            // Fail here, with the file's own error, rather than as refused connections.
            config.check_source().map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        Some(feed_server::ThreadedServer::start(config).context("cannot start the feed server")?)
    } else {
        None
    };
    let urls = match (&server, &args.url) {
        (Some(server), _) => vec![server.url()],
        (None, Some(list)) => crate::net::parse_urls(list).map_err(anyhow::Error::msg)?,
        (None, None) => bail!("no server to drive"),
    };
    let url = urls.first().cloned().unwrap_or_default();
    if let Some(cpus) = &client_cpus {
        system::pin(0, cpus).map_err(|e| anyhow::anyhow!("--client-cpus: {e}"))?;
    }
    let me = std::process::id();

    let hello = probe(&url, args.encoding)?;
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

    let mut codec = crate::wire::Codec::new(args.encoding);
    codec.learn(&hello.symbols);
    let subscribers = subscribers::Subscribers::start(subscribers::Plan {
        connects: urls.iter().map(|_| AtomicU64::new(0)).collect(),
        urls: urls.clone(),
        encoding: args.encoding,
        subscribe: codec.encode(&ClientMessage::Subscribe(Subscribe {
            channels: Some(args.channels.0.clone()),
            depth: args.channels.book().then_some(args.depth),
            ..Subscribe::to(subscribe.clone())
        })),
        symbols: subscribe,
        index,
        clients,
        threads: args.client_threads as usize,
        churn: args.churn,
        channels: args.channels.0.clone(),
        depth: args.channels.book().then_some(args.depth),
    })?;
    let connect_deadline = Instant::now()
        + CONNECT_TIME_PER_1000
            .saturating_mul(u32::try_from(clients.div_ceil(1_000)).unwrap_or(u32::MAX))
            .max(Duration::from_secs(10));
    let connect_start = Instant::now();
    while subscribers.settled() < clients {
        if Instant::now() > connect_deadline {
            let (settled, errors) = (subscribers.settled(), subscribers.errors());
            subscribers.stop();
            bail!(
                "only {settled} of {clients} subscribers connected in {:?}: {:?}",
                connect_start.elapsed(),
                errors.0
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
                urls: urls.clone(),
                symbols: order_symbols,
                rate: args.order_rate,
                connections: order_connections,
                start_ns,
                until_ns: measure_from_ns.saturating_add(nanos(args.duration)),
                grace: args.grace,
                token: args.token.clone(),
                codec: codec.clone(),
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
        tick(Phase::WarmingUp, start, 0.0, 0);
    });

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
    let remote = args
        .server_pid
        .zip(remote_before)
        .map(|(pid, before)| system::used(&before, &system::threads(pid)));
    let server_rss_after = args.server_pid.and_then(system::rss_bytes);
    let client_rss = system::rss_bytes(me);
    let errors = subscribers.errors();
    let connects = subscribers.connects();
    subscribers.stop();
    let orders = orders.map(orders::Orders::join);
    let server_failure = server
        .as_ref()
        .and_then(feed_server::ThreadedServer::failure);
    drop(server);
    if let Some(why) = server_failure {
        bail!("the in-process feed server stopped: {why}");
    }
    let (server_threads, client_threads) = if in_process {
        let (server, client): (Vec<ThreadCpu>, Vec<ThreadCpu>) = own
            .into_iter()
            .partition(|t| SERVER_THREADS.contains(&t.name.as_str()));
        (Some(server), client)
    } else {
        (remote, own)
    };
    Ok(assemble::outcome(
        args,
        assemble::Measured {
            url,
            connects,
            hello,
            clients,
            window,
            tally,
            orders,
            errors,
            client_threads,
            server_threads,
            client_rss,
            server_rss_before,
            server_rss_after,
        },
    ))
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
fn probe(url: &str, encoding: protocol::Encoding) -> anyhow::Result<Hello> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        use futures_util::StreamExt;
        let mut ws = crate::net::connect(url, encoding)
            .await
            .map_err(|e| anyhow::anyhow!("{url}: {e}"))?;
        let mut codec = crate::wire::Codec::new(encoding);
        let mut messages = Vec::new();
        let hello = tokio::time::timeout(Duration::from_secs(5), async {
            while let Some(frame) = ws.next().await {
                let frame = match frame {
                    Ok(frame) => frame,
                    Err(e) => bail!("{url}: {e}"),
                };
                messages.clear();
                codec
                    .decode(&frame, &mut messages)
                    .with_context(|| format!("{url} does not speak Tickwire v1"))?;
                if let Some(ServerMessage::Hello(h)) = messages.drain(..).next() {
                    return Ok(h);
                }
            }
            bail!("{url} closed before its hello")
        })
        .await
        .map_err(|_| anyhow::anyhow!("{url} sent no hello within 5 s"))??;
        crate::net::close(&mut ws, super::DONE).await;
        Ok(hello)
    })
}

/// The subscribe list and the symbols orders go to, checked against the server's list.
fn subscription(symbols: &str, hello: &Hello) -> anyhow::Result<(Vec<Symbol>, Vec<Symbol>)> {
    let picked = crate::symbols::pick(symbols, &hello.symbols)
        .map_err(|e| anyhow::anyhow!("--symbols: {e}"))?;
    if symbols.trim() == "*" {
        // `*` itself, so that a server with thousands of symbols gets a short subscribe.
        return Ok((vec![Symbol::from("*")], picked));
    }
    Ok((picked.clone(), picked))
}
