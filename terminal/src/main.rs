//! `terminal`: parse flags and settings, start logging (to a file), start the embedded feed server
//! when no `--url` is given, and run the TUI.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use terminal::bench::BenchArgs;
use terminal::record::RecordArgs;
use terminal::state::Setup;

/// Tickwire terminal: live quotes, orders and latency over WebSocket. Without --url it starts an
/// embedded feed server on a free loopback port and connects to it.
///
/// Settings file (TOML): $XDG_CONFIG_HOME/tickwire/terminal.toml (default
/// ~/.config/tickwire/terminal.toml), with `watchlist = ["AAPL", ...]`, `default_qty = 100`,
/// `confirm_notional = 100000` (orders worth more ask for a confirmation) and `url = "ws://..."`;
/// flags override it.
///
/// Keys: Up/Down or j/k select, Tab switches pane, b/s order, c cancel, a/d add/remove symbol,
/// A alert, p positions, 1-9 watchlists, ? help, q quit.
#[derive(Debug, Parser)]
#[command(version, args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,

    /// Feed server to connect to, e.g. ws://127.0.0.1:9001/ws; or several, comma-separated (edges
    /// of a cluster): on a disconnect the terminal tries the next and resumes. Default: an
    /// embedded server.
    #[arg(long)]
    url: Option<String>,

    /// Watchlist: comma-separated symbols, or `*` for every symbol the server has.
    #[arg(long)]
    symbols: Option<String>,

    /// Settings file [default: ~/.config/tickwire/terminal.toml].
    #[arg(long)]
    config: Option<PathBuf>,

    /// Default order quantity [default: 100].
    #[arg(long)]
    qty: Option<String>,

    /// Log file [default: $TMPDIR/tickwire-terminal.log]. Level from RUST_LOG (default info).
    #[arg(long)]
    log_file: Option<PathBuf>,

    /// The server's order token (feed-server --order-token), sent in an `auth` message on every
    /// connection; without it such a server rejects orders as `unauthorized`.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "TICKWIRE_ORDER_TOKEN",
        hide_env_values = true
    )]
    token: Option<protocol::Token>,

    /// The subprotocol to speak: `json` (tickwire.v1.json) or `bin` (tickwire.v1.bin, the same
    /// messages in binary frames).
    #[arg(long, default_value = "json")]
    encoding: protocol::Encoding,

    #[command(flatten)]
    tls: terminal::tls::TlsArgs,
}

/// What the terminal does besides the TUI.
#[derive(Debug, Subcommand)]
enum Command {
    /// Record a live feed into a recording (`.jsonl` or `.jsonl.zst`) that `feed-server
    /// --replay` plays back.
    Record(RecordArgs),
    /// Benchmark a feed server: tick latency to many subscribers and the round trip of open-loop
    /// orders, with HDR percentiles, CPU per side, and JSON, `.hgrm` and plot outputs.
    Bench(Box<BenchArgs>),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Some(Command::Record(args)) => record(&args),
        Some(Command::Bench(args)) => bench(&args),
        None => run(cli),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("terminal: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging(path: Option<PathBuf>) -> anyhow::Result<PathBuf> {
    let path = path.unwrap_or_else(|| std::env::temp_dir().join("tickwire-terminal.log"));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .with_context(|| format!("cannot open log file {}", path.display()))?;
    tracing_subscriber::fmt()
        .with_writer(std::sync::Mutex::new(file))
        .with_ansi(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    Ok(path)
}

fn run(cli: Cli) -> anyhow::Result<()> {
    if let Some(url) = &cli.url {
        terminal::net::parse_urls(url).map_err(anyhow::Error::msg)?;
    }
    terminal::tls::trust(&cli.tls).map_err(anyhow::Error::msg)?;
    {
        use std::io::IsTerminal;
        if !(std::io::stdin().is_terminal() && std::io::stdout().is_terminal()) {
            anyhow::bail!(
                "the terminal UI needs an interactive terminal on stdin and stdout; for scripts, \
                 use `terminal record` or `terminal bench`"
            );
        }
    }
    let log = init_logging(cli.log_file)?;
    let settings = terminal::config::load(cli.config.as_deref())?;
    let setup = Setup::new(&settings, cli.symbols.as_deref(), cli.qty.as_deref())?;

    // The embedded server lives on its own thread and runtime; dropping it shuts it down.
    let (urls, _embedded) = if let Some(url) = cli.url.or(settings.url) {
        let urls = terminal::net::parse_urls(&url).map_err(anyhow::Error::msg)?;
        (urls, None)
    } else {
        let config = feed_server::Config {
            listen: "127.0.0.1:0".parse()?,
            ..feed_server::Config::default()
        };
        let server = feed_server::ThreadedServer::start(config)
            .context("cannot start the embedded feed server")?;
        (vec![server.url()], Some(server))
    };
    let url = urls.first().cloned().unwrap_or_default();
    let persist = cli
        .config
        .clone()
        .or_else(terminal::config::default_path)
        .map(|path| terminal::app::Persist {
            path,
            lists: !setup.watchlist_from_flag(),
        });
    tracing::info!(%url, log = %log.display(), "terminal starting");

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let state = setup.state(url.clone(), cli.token.clone(), std::time::Instant::now());
        let (command_tx, command_rx) = tokio::sync::mpsc::channel(1_024);
        let (event_tx, event_rx) = tokio::sync::mpsc::channel(8_192);
        let mut net = tokio::spawn(terminal::net::run(urls, cli.encoding, command_rx, event_tx));
        // ratatui::init restores the terminal on panic as well.
        let mut tui = ratatui::init();
        let result = terminal::app::run(&mut tui, state, command_tx, event_rx, persist).await;
        ratatui::restore();
        // The app dropped its command sender: the network task now closes with 1000 and waits
        // for the server's answer. Give it that long, then stop it whatever it is doing.
        let closing = tokio::time::timeout(std::time::Duration::from_secs(2), &mut net).await;
        if closing.is_err() {
            net.abort();
        }
        result
    })
}

/// `terminal record`: a progress line on stderr while it runs, a summary on stdout at the end.
fn record(args: &RecordArgs) -> anyhow::Result<()> {
    terminal::tls::trust(&args.tls).map_err(anyhow::Error::msg)?;
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} recording {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    let summary = runtime.block_on(terminal::record::record(
        args,
        async {
            let _ = tokio::signal::ctrl_c().await;
        },
        |p| {
            let seconds = p.elapsed.as_secs_f64().max(1e-9);
            let connection = match (p.reconnecting, p.reconnects) {
                (true, _) => ", connection lost: reconnecting".to_owned(),
                (false, 0) => String::new(),
                (false, n) => format!(", {n} reconnects"),
            };
            bar.set_message(format!(
                "{} events, {:.1} MB, {:.0} s, {:.0} events/s{connection}",
                p.events,
                p.bytes as f64 / 1e6,
                p.elapsed.as_secs_f64(),
                p.events as f64 / seconds
            ));
            bar.tick();
        },
    ));
    bar.finish_and_clear();
    let summary = summary?;
    let seconds = summary.elapsed.as_secs_f64().max(1e-9);
    println!(
        "recorded {} events in {:.1} s ({:.0} events/s, {:.1} MB received) to {} ({:.1} MB)",
        summary.events,
        summary.elapsed.as_secs_f64(),
        summary.events as f64 / seconds,
        summary.bytes_received as f64 / 1e6,
        args.out.display(),
        summary.file_bytes as f64 / 1e6
    );
    if let Some(why) = &summary.server_closed {
        println!(
            "the connection dropped {} time(s) (last: {why}); made again {} time(s)",
            summary.drops, summary.reconnects
        );
    }
    if let Some(b) = &summary.books {
        println!(
            "books at depth {}: {} updates written, every checksum checked; {} mismatches, {} gaps, {} fresh books asked for",
            b.depth, b.updates, b.mismatches, b.gaps, b.resyncs
        );
    }
    if summary.resumed + summary.resumed_from_snapshot > 0 {
        println!(
            "resumed: {} symbols continued from where they were, {} from a snapshot",
            summary.resumed, summary.resumed_from_snapshot
        );
    }
    if summary.epoch_changes > 0 {
        println!(
            "the server restarted {} time(s) (a new epoch): every symbol re-synced from a snapshot",
            summary.epoch_changes
        );
    }
    if summary.gaps.is_empty() {
        println!("no gaps: every seq arrived");
    } else {
        let missing: u64 = summary.gaps.values().sum();
        let worst: Vec<String> = summary
            .gaps
            .iter()
            .map(|(s, n)| format!("{s} {n}"))
            .collect();
        println!(
            "gaps: {missing} events missing ({} re-syncs), by symbol: {}",
            summary.resyncs,
            worst.join(", ")
        );
    }
    Ok(())
}

/// `terminal bench`: a progress line on stderr while it runs, the table on stdout at the end.
fn bench(args: &BenchArgs) -> anyhow::Result<()> {
    use terminal::bench::Phase;
    use terminal::bench::report::thousands;
    use terminal::format::nanos as duration;
    terminal::tls::trust(&args.tls).map_err(anyhow::Error::msg)?;
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    if let Some(files) = &args.compare {
        if let [a, b] = files.as_slice() {
            print!("{}", terminal::bench::compare(a, b)?);
        }
        return Ok(());
    }
    let bar = indicatif::ProgressBar::new_spinner();
    bar.set_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    let outcome = terminal::bench::run(args, |p| {
        let message = match p.phase {
            Phase::Connecting => format!(
                "connecting: {} of {} subscribers",
                p.connected, args.clients
            ),
            Phase::WarmingUp => format!("warming up: {:.0} s", p.elapsed.as_secs_f64()),
            Phase::Measuring => {
                let orders = p
                    .order_p99_ns
                    .map(|o| format!(", order p99 {}", duration(o)))
                    .unwrap_or_default();
                format!(
                    "{:.0} s: {} deliveries/s, tick p99 {}{orders}",
                    p.elapsed.as_secs_f64(),
                    thousands(p.deliveries_per_s as u64),
                    duration(p.tick_p99_ns)
                )
            }
        };
        bar.set_message(message);
        bar.tick();
    });
    bar.finish_and_clear();
    let outcome = outcome?;
    print!("{}", terminal::bench::report::table(&outcome.report));
    terminal::bench::write_outputs(args, &outcome)
}
