//! `terminal record`: capture what a feed server sends into a recording that `feed-server
//! --replay` plays back.
//!
//! It subscribes, waits for each symbol's snapshot (which gives the header its tick size, lot
//! size and reference price), then writes every `quote` and `trade` as it arrives. `seq` is
//! checked per symbol; gaps (events the server conflated away) are counted and reported at the
//! end. Ctrl-C or the end of `--duration` closes the WebSocket with 1000 and finishes the file
//! (zstd frame closed, everything received written); the file is flushed every second meanwhile,
//! so a crash loses at most about a second.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use futures_util::{SinkExt, StreamExt};
use protocol::recording::{Header, SymbolInfo, Writer};
use protocol::{
    ClientMessage, Decimal, Sequence, ServerMessage, Snapshot, Step, Subscribe, Symbol,
};
use tokio_tungstenite::tungstenite::Message;

/// The arguments of `terminal record`.
#[derive(Debug, Clone, Args)]
pub struct RecordArgs {
    /// Feed server to record, e.g. ws://127.0.0.1:9001/ws.
    #[arg(long)]
    pub url: String,

    /// Symbols to record: a comma-separated list, or `*` for every symbol the server has.
    #[arg(long, default_value = "*")]
    pub symbols: String,

    /// Stop after this long (`30s`, `10m`); without it, record until Ctrl-C.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,

    /// Output file: `.jsonl`, or `.jsonl.zst` for zstd.
    #[arg(long)]
    pub out: PathBuf,

    /// The subprotocol to receive in: `json` (tickwire.v1.json) or `bin` (tickwire.v1.bin). The
    /// recording is the same either way.
    #[arg(long, default_value = "json")]
    pub encoding: protocol::Encoding,

    #[command(flatten)]
    pub tls: crate::tls::TlsArgs,
}

/// Progress so far, for the live display.
#[derive(Debug, Clone, Copy, Default)]
pub struct Progress {
    pub events: u64,
    /// Bytes of WebSocket payload received.
    pub bytes: u64,
    pub elapsed: Duration,
}

/// What a recording run did.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub events: u64,
    pub bytes_received: u64,
    pub file_bytes: u64,
    pub elapsed: Duration,
    /// Events missing from the `seq` sequence, per symbol.
    pub gaps: BTreeMap<Symbol, u64>,
    /// Snapshots that arrived after the start (the server re-synced a conflated client).
    pub resyncs: u64,
    /// Why the connection ended, if the server ended it.
    pub server_closed: Option<String>,
}

/// How long the server has to send every snapshot after the subscribe.
const SNAPSHOT_WAIT: Duration = Duration::from_secs(10);
/// Most events held while waiting for snapshots.
const MAX_EARLY_EVENTS: usize = 1_000_000;

/// Records until `stop` resolves, `--duration` passes or the server closes.
pub async fn record(
    args: &RecordArgs,
    stop: impl Future<Output = ()>,
    mut progress: impl FnMut(Progress),
) -> anyhow::Result<Summary> {
    let mut ws = crate::net::connect(&args.url, args.encoding)
        .await
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.url))?;
    let mut codec = crate::wire::Codec::new(args.encoding);
    let mut messages = Vec::new();
    let started = Instant::now();
    let mut summary = Summary::default();

    // The hello names what the server has.
    let hello = loop {
        let frame = next_data(&mut ws).await?;
        summary.bytes_received += frame.len() as u64;
        messages.clear();
        codec
            .decode(&frame, &mut messages)
            .context("the server sent something that is not Tickwire v1")?;
        if let Some(ServerMessage::Hello(h)) = messages.drain(..).next() {
            break h;
        }
    };
    let wanted = crate::symbols::pick(&args.symbols, &hello.symbols).map_err(anyhow::Error::msg)?;
    if wanted.is_empty() {
        bail!("nothing to record: the server has no symbols");
    }
    let subscribe = ClientMessage::Subscribe(Subscribe::to(wanted.clone()));
    ws.send(codec.encode(&subscribe)).await?;
    let start_ns = protocol::now_ns();

    // Snapshots first: they carry what the header needs.
    let mut snapshots: HashMap<Symbol, Snapshot> = HashMap::new();
    let mut early: Vec<ServerMessage> = Vec::new();
    let deadline = tokio::time::Instant::now() + SNAPSHOT_WAIT;
    while snapshots.len() < wanted.len() {
        let frame = tokio::time::timeout_at(deadline, next_data(&mut ws))
            .await
            .map_err(|_| {
                anyhow::anyhow!(
                    "the server sent {} of {} snapshots within {} s",
                    snapshots.len(),
                    wanted.len(),
                    SNAPSHOT_WAIT.as_secs()
                )
            })??;
        summary.bytes_received += frame.len() as u64;
        messages.clear();
        codec.decode(&frame, &mut messages)?;
        for m in messages.drain(..) {
            match m {
                ServerMessage::Snapshot(s) => {
                    snapshots.insert(s.symbol.clone(), s);
                }
                m @ (ServerMessage::Quote(_) | ServerMessage::Trade(_)) => {
                    if early.len() >= MAX_EARLY_EVENTS {
                        bail!("{MAX_EARLY_EVENTS} events arrived before the snapshots");
                    }
                    early.push(m);
                }
                ServerMessage::Error(e) => {
                    bail!("the server refused the subscription: {}", e.message)
                }
                _ => {}
            }
        }
    }
    let header = header(&wanted, &snapshots, start_ns, args);
    let mut writer = Writer::create(&args.out, &header, false)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let mut seqs: HashMap<Symbol, Sequence> = snapshots
        .iter()
        .map(|(s, snap)| {
            let mut seq = Sequence::new();
            seq.snapshot(snap.seq);
            (s.clone(), seq)
        })
        .collect();
    let mut keep =
        |m: &ServerMessage, summary: &mut Summary, writer: &mut Writer| -> anyhow::Result<()> {
            match m {
                ServerMessage::Quote(_) | ServerMessage::Trade(_) => {
                    if let Some((symbol, seq)) = m.market_seq() {
                        match seqs.entry(Symbol::from(symbol)).or_default().event(seq) {
                            // Already covered by the snapshot.
                            Step::Stale | Step::Unsynced => return Ok(()),
                            Step::Gap { missed } => {
                                *summary.gaps.entry(Symbol::from(symbol)).or_insert(0) += missed;
                            }
                            Step::First | Step::Next => {}
                        }
                    }
                    writer
                        .write_event(m)
                        .context("cannot write the recording")?;
                    summary.events += 1;
                }
                ServerMessage::Snapshot(s) => {
                    // A re-sync after conflation: events between were lost (counted as the gap).
                    summary.resyncs += 1;
                    if let Step::Gap { missed } =
                        seqs.entry(s.symbol.clone()).or_default().snapshot(s.seq)
                    {
                        *summary.gaps.entry(s.symbol.clone()).or_insert(0) += missed;
                    }
                }
                _ => {}
            }
            Ok(())
        };
    for m in &early {
        keep(m, &mut summary, &mut writer)?;
    }

    let mut stop = std::pin::pin!(stop);
    let until = args.duration.map(|d| tokio::time::Instant::now() + d);
    let mut flush = tokio::time::interval(Duration::from_secs(1));
    let mut show = tokio::time::interval(Duration::from_millis(250));
    loop {
        tokio::select! {
            () = &mut stop => break,
            () = sleep_until(until) => break,
            _ = flush.tick() => writer.flush().context("cannot write the recording")?,
            _ = show.tick() => progress(Progress { events: summary.events, bytes: summary.bytes_received, elapsed: started.elapsed() }),
            inbound = ws.next() => match inbound {
                Some(Ok(frame @ (Message::Text(_) | Message::Binary(_)))) => {
                    summary.bytes_received += frame.len() as u64;
                    messages.clear();
                    codec.decode(&frame, &mut messages)?;
                    for m in &messages {
                        keep(m, &mut summary, &mut writer)?;
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    summary.server_closed = Some(frame.map_or_else(|| "no code".to_owned(), |f| format!("{} {}", u16::from(f.code), f.reason)));
                    // Answer it, so the server sees a clean close.
                    let _ = ws.flush().await;
                    break;
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => {
                    summary.server_closed = Some(format!("connection lost: {e}"));
                    break;
                }
                None => {
                    summary.server_closed = Some("connection lost".to_owned());
                    break;
                }
            },
        }
    }
    if summary.server_closed.is_none() {
        crate::net::close(&mut ws, "recording done").await;
    }
    summary.elapsed = started.elapsed();
    summary.file_bytes = writer.finish().context("cannot finish the recording")?;
    Ok(summary)
}

async fn sleep_until(until: Option<tokio::time::Instant>) {
    match until {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// The next text or binary frame.
async fn next_data(ws: &mut crate::net::Ws) -> anyhow::Result<Message> {
    loop {
        match ws.next().await {
            Some(Ok(frame @ (Message::Text(_) | Message::Binary(_)))) => return Ok(frame),
            Some(Ok(Message::Close(f))) => bail!("the server closed the connection: {f:?}"),
            Some(Ok(_)) => {}
            Some(Err(e)) => bail!("connection lost: {e}"),
            None => bail!("connection lost"),
        }
    }
}

fn header(
    wanted: &[Symbol],
    snapshots: &HashMap<Symbol, Snapshot>,
    start_ns: u64,
    args: &RecordArgs,
) -> Header {
    let symbols = wanted
        .iter()
        .filter_map(|s| snapshots.get(s))
        .map(|s| SymbolInfo {
            symbol: s.symbol.clone(),
            tick_size: s.tick_size,
            // A Tickwire server writes sizes as lots times the lot size, so their scale is the
            // lot's; the finest among the snapshot's sizes is it.
            lot_size: Decimal::new(
                1,
                [s.bid_size, s.ask_size, s.last_size, s.volume]
                    .iter()
                    .map(Decimal::scale)
                    .max()
                    .unwrap_or(0),
            ),
            prev_close: s.prev_close,
        })
        .collect();
    let mut header = Header::new(
        "record",
        symbols,
        start_ns,
        format!(
            "terminal {} record --symbols {}",
            env!("CARGO_PKG_VERSION"),
            args.symbols
        ),
    );
    header.origin = Some(args.url.clone());
    header
}
