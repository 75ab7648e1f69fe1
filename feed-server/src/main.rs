//! `feed-server`: parse flags, set up logging, bind, serve until SIGINT/SIGTERM.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use anyhow::Context;
use clap::parser::ValueSource;
use clap::{Args, CommandFactory, FromArgMatches, Parser, Subcommand};
use feed_server::Config;
use feed_server::generate::GenerateArgs;
use feed_server::import::ImportArgs;
use tokio_util::sync::CancellationToken;

/// Tickwire feed server: streams synthesized or replayed quotes and trades over WebSocket (path
/// /ws) and answers orders on the same socket. The same port serves the browser client at /,
/// /healthz and /metrics (Prometheus). Logs go to stderr; set the level with RUST_LOG (default
/// info).
#[derive(Debug, Parser)]
#[command(version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    tool: Option<Tool>,

    #[command(flatten)]
    config: Config,

    /// Runtime worker threads; 1 runs everything on one thread, which measured fastest.
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

/// Commands that make recordings instead of serving.
#[derive(Debug, Subcommand)]
enum Tool {
    /// Write a synthetic session to a recording, as fast as the disk allows; the same arguments
    /// give the same bytes.
    Generate(GenerateArgs),
    /// Turn tick data files (Tickwire CSV, Tardis.dev CSV, Databento DBN) into one recording,
    /// merged by time.
    Import(ImportArgs),
    /// Run the market core (source, sequencing, matching, history) for edges in other processes
    /// over a NATS bus (CLUSTER.md). It serves clients itself only if given --listen.
    Core(CoreArgs),
    /// Serve clients from a market core over a NATS bus (CLUSTER.md). Source flags are the
    /// core's, not the edge's.
    Edge(EdgeArgs),
}

/// The NATS bus a core and its edges share.
#[derive(Debug, Args)]
struct BusArgs {
    /// The NATS server: nats://HOST:PORT.
    #[arg(long, value_name = "URL")]
    bus: String,
    /// The first token of every subject, so several clusters can share one NATS server.
    #[arg(long, default_value = "tickwire", value_name = "NAME", value_parser = bus_prefix)]
    bus_prefix: String,
    /// Events an edge's subscription may hold before the NATS client drops them (the edge then
    /// repairs the gap from the core's history).
    #[arg(long, default_value_t = 65_536, value_name = "N")]
    bus_pending: usize,
}

impl BusArgs {
    fn settings(&self) -> feed_server::BusSettings {
        feed_server::BusSettings {
            url: self.bus.clone(),
            subjects: feed_server::Subjects::new(&self.bus_prefix),
            pending_events: self.bus_pending.max(1),
        }
    }
}

fn bus_prefix(prefix: &str) -> Result<String, String> {
    if !prefix.is_empty()
        && prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        Ok(prefix.to_owned())
    } else {
        Err("letters, digits, - and _ only".to_owned())
    }
}

#[derive(Debug, Args)]
struct CoreArgs {
    #[command(flatten)]
    bus: BusArgs,
    #[command(flatten)]
    config: Config,
}

#[derive(Debug, Args)]
struct EdgeArgs {
    #[command(flatten)]
    bus: BusArgs,
    /// Share --listen's port with other edge processes on this host (SO_REUSEPORT): the kernel
    /// spreads connections over them.
    #[arg(long)]
    reuse_port: bool,
    #[command(flatten)]
    config: Config,
}

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    // A core serves clients only when asked to listen.
    let core_listens = matches
        .subcommand_matches("core")
        .and_then(|m| m.value_source("listen"))
        == Some(ValueSource::CommandLine);
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // Colour only for a person at a terminal; logs captured to files stay plain text.
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let result = match cli.tool {
        Some(Tool::Generate(args)) => generate(&args),
        Some(Tool::Import(args)) => import(&args),
        Some(Tool::Core(args)) => core(args, core_listens),
        Some(Tool::Edge(args)) => edge(args),
        None => serve(cli),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("feed-server: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn runtime(threads: usize) -> anyhow::Result<tokio::runtime::Runtime> {
    if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    }
    .context("cannot start the async runtime")
}

/// A token cancelled on SIGINT or SIGTERM.
fn on_signal() -> CancellationToken {
    let shutdown = CancellationToken::new();
    let signal = shutdown.clone();
    tokio::spawn(async move {
        feed_server::shutdown::signal().await;
        tracing::info!("shutting down");
        signal.cancel();
    });
    shutdown
}

/// Says where clients connect (the line's third word is the URL) and sets up TLS.
fn announce(
    listener: &tokio::net::TcpListener,
    config: &Config,
) -> anyhow::Result<Option<feed_server::Tls>> {
    let addr = listener.local_addr()?;
    let tls = config.tls(addr.port()).map_err(anyhow::Error::msg)?;
    let scheme = if tls.is_some() { "wss" } else { "ws" };
    let mut stdout = std::io::stdout();
    // The URL is the line's third word, whatever follows it.
    match tls.as_ref().and_then(|t| t.self_signed.as_ref()) {
        Some(file) => writeln!(
            stdout,
            "listening on {scheme}://{addr}/ws (self-signed certificate: {}; trust it with --ca-cert)",
            file.display()
        )?,
        None => writeln!(stdout, "listening on {scheme}://{addr}/ws")?,
    }
    stdout.flush()?;
    Ok(tls)
}

fn core(args: CoreArgs, listens: bool) -> anyhow::Result<()> {
    runtime(1)?.block_on(async {
        let config = args.config;
        let (listener, tls) = if listens {
            let listener = feed_server::listen(&config)
                .with_context(|| format!("cannot listen on {}", config.listen))?;
            let tls = announce(&listener, &config)?;
            (Some(listener), tls)
        } else {
            (None, None)
        };
        println!(
            "market core on the bus at {} (prefix {})",
            args.bus.bus, args.bus.bus_prefix
        );
        let shutdown = on_signal();
        feed_server::run_core(listener, config, tls, args.bus.settings(), shutdown).await?;
        Ok(())
    })
}

fn edge(args: EdgeArgs) -> anyhow::Result<()> {
    runtime(1)?.block_on(async {
        let config = args.config;
        let listener = feed_server::listen_edge(&config, args.reuse_port)
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        let tls = announce(&listener, &config)?;
        let shutdown = on_signal();
        feed_server::run_edge(listener, config, tls, args.bus.settings(), shutdown).await?;
        Ok(())
    })
}

fn serve(cli: Cli) -> anyhow::Result<()> {
    runtime(cli.threads)?.block_on(async {
        let config = cli.config;
        let listener = feed_server::listen(&config)
            .with_context(|| {
                format!(
                    "cannot listen on {} (is another server using it? try --listen 127.0.0.1:0)",
                    config.listen
                )
            })?;
        let addr = listener.local_addr()?;
        let tls = announce(&listener, &config)?;
        if config.ingest.enabled() {
            let venues: Vec<String> = config
                .ingest
                .specs
                .iter()
                .map(|s| format!("{}:{}", s.venue, s.url.clone().unwrap_or_else(|| s.symbols.join(","))))
                .collect();
            tracing::info!(%addr, ingest = ?venues, "feed server ready; fetching the venues' instruments");
        } else if let Some(file) = &config.replay {
            tracing::info!(%addr, replay = %file.display(), speed = %config.speed, looping = config.looping, "feed server ready");
        } else {
            tracing::info!(%addr, rate = config.synth.rate, symbols = ?config.synth.symbols, "feed server ready");
        }
        let shutdown = on_signal();
        feed_server::run_with(listener, config, tls, shutdown).await?;
        Ok(())
    })
}

fn generate(args: &GenerateArgs) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let written = feed_server::generate::generate(args)?;
    let seconds = started.elapsed().as_secs_f64();
    println!(
        "wrote {} events ({:.1} MB) to {} in {seconds:.2} s ({:.0} events/s)",
        written.events,
        written.bytes as f64 / 1e6,
        args.out.display(),
        written.events as f64 / seconds.max(1e-9)
    );
    Ok(())
}

fn import(args: &ImportArgs) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let imported = feed_server::import::import(args)?;
    let seconds = started.elapsed().as_secs_f64();
    for note in &imported.notes {
        eprintln!("note: {note}");
    }
    println!(
        "imported {} rows into {} events for {} symbols ({:.1} MB) in {} in {seconds:.2} s ({:.0} rows/s)",
        imported.rows,
        imported.events,
        imported.symbols,
        imported.bytes as f64 / 1e6,
        args.out.display(),
        imported.rows as f64 / seconds.max(1e-9)
    );
    if imported.skipped > 0 {
        println!(
            "skipped {} rows with no event of their own (one-sided quotes, unchanged tops, MBO records before the end of their event)",
            imported.skipped
        );
    }
    if imported.out_of_order > 0 {
        println!(
            "{} rows were earlier than the row before them in their file; they were kept in file order",
            imported.out_of_order
        );
    }
    Ok(())
}
