//! `feed-server`: parse flags, set up logging, bind, serve until SIGINT/SIGTERM.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use feed_server::Config;
use tokio_util::sync::CancellationToken;

/// Tickwire feed server: streams synthesized quotes and trades over WebSocket (path /ws) and
/// answers orders on the same socket. Logs go to stderr; set the level with RUST_LOG (default info).
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    #[command(flatten)]
    config: Config,

    /// Runtime worker threads; 1 runs everything on one thread, which measured fastest.
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        // Colour only for a person at a terminal; logs captured to files stay plain text.
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    match serve(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("feed-server: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn serve(cli: Cli) -> anyhow::Result<()> {
    let runtime = if cli.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(cli.threads)
            .enable_all()
            .build()
    }
    .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let config = cli.config;
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .with_context(|| {
                format!(
                    "cannot listen on {} (is another server using it? try --listen 127.0.0.1:0)",
                    config.listen
                )
            })?;
        let addr = listener.local_addr()?;
        let mut stdout = std::io::stdout();
        writeln!(stdout, "listening on ws://{addr}/ws")?;
        stdout.flush()?;
        tracing::info!(%addr, rate = config.rate, symbols = ?config.symbols, "feed server ready");
        let shutdown = CancellationToken::new();
        let signal = shutdown.clone();
        tokio::spawn(async move {
            feed_server::shutdown::signal().await;
            tracing::info!("shutting down");
            signal.cancel();
        });
        feed_server::run(listener, config, shutdown).await?;
        Ok(())
    })
}
