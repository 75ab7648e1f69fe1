//! `terminal record`: capture what a feed server sends into a recording that `feed-server
//! --replay` plays back.
//!
//! With `--channels quotes,book` it also records each symbol's order book at `--depth` (a
//! version-2 recording: `book` and `book_update` lines, each checked before it is written; see
//! [`books`]).
//!
//! It subscribes, waits for each symbol's snapshot (which gives the header its tick size, lot
//! size and reference price), then writes every `quote` and `trade` as it arrives. `seq` is
//! checked per symbol; gaps (events the server conflated away) are counted and reported at the
//! end. A connection that drops is made again (with backoff) and resumes where it left off: the
//! server sends the events it missed, so the file has no hole. Across a server restart (a new
//! epoch) every symbol re-syncs from a snapshot, which the summary notes. Ctrl-C or the end of
//! `--duration` closes the WebSocket with 1000 and finishes the file (zstd frame closed,
//! everything received written); the file is flushed every second meanwhile, so a crash loses at
//! most about a second.

mod books;

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Args;
use futures_util::{SinkExt, StreamExt};
use protocol::recording::{Header, SymbolInfo, Writer};
use protocol::{
    ClientMessage, Decimal, Resume, Sequence, ServerMessage, Snapshot, Step, Subscribe, Symbol,
};
use tokio_tungstenite::tungstenite::Message;

/// The arguments of `terminal record`.
#[derive(Debug, Clone, Args)]
pub struct RecordArgs {
    /// Feed server to record, e.g. ws://127.0.0.1:9001/ws; or several, comma-separated (edges of
    /// a cluster): after a drop the recording goes on from the next, resuming where it left off.
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

    /// What to record: `quotes` (quotes and trades), or `quotes,book` to add each symbol's order
    /// book at --depth (a version-2 recording; every checksum is checked before a line is
    /// written, and a book out of step is fetched again).
    #[arg(long, default_value = "quotes")]
    pub channels: crate::channels::Channels,

    /// Book levels per side with `--channels quotes,book` (1 to 50).
    #[arg(long, default_value_t = protocol::DEFAULT_BOOK_DEPTH, value_parser = clap::value_parser!(u32).range(1..=50))]
    pub depth: u32,

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
    /// Connections made again after a drop.
    pub reconnects: u64,
    /// The connection is down and being made again.
    pub reconnecting: bool,
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
    /// Why the connection last ended other than by the recorder itself (it was then made
    /// again, and the recording went on).
    pub server_closed: Option<String>,
    /// Connections that dropped, and those made again after a drop.
    pub drops: u64,
    pub reconnects: u64,
    /// Symbols that resumed without a gap, and those that got a snapshot, over every resume.
    pub resumed: u64,
    pub resumed_from_snapshot: u64,
    /// Server restarts seen (a new epoch in `hello`): every symbol re-synced from a snapshot.
    pub epoch_changes: u64,
    /// With `--channels quotes,book`: what the books saw.
    pub books: Option<BookSummary>,
}

/// The books of a recording.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BookSummary {
    pub depth: u32,
    /// `book_update`s written (each checked).
    pub updates: u64,
    pub mismatches: u64,
    pub gaps: u64,
    /// Fresh books asked for after a mismatch or a gap.
    pub resyncs: u64,
}

/// The subscription a recording makes: its channels, depth and, after a drop, where to resume.
fn subscription(args: &RecordArgs, symbols: Vec<Symbol>, resume: Option<Resume>) -> ClientMessage {
    let book = args.channels.book();
    ClientMessage::Subscribe(Subscribe {
        channels: book.then(|| args.channels.0.clone()),
        depth: book.then_some(args.depth),
        ..Subscribe::resuming(symbols, resume)
    })
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
    if !args.channels.0.contains(&protocol::Channel::Quotes) {
        bail!(
            "--channels must include quotes: its snapshots give the recording each symbol's tick and lot size"
        );
    }
    let mut urls =
        crate::net::Failover::new(crate::net::parse_urls(&args.url).map_err(anyhow::Error::msg)?);
    // The first URL that answers; each is tried once.
    let mut failures = Vec::new();
    let mut ws = loop {
        match crate::net::connect(urls.current(), args.encoding).await {
            Ok(ws) => break ws,
            Err(e) => failures.push(format!("{}: {e}", urls.current())),
        }
        if failures.len() == urls.all().len() {
            anyhow::bail!("{}", failures.join("; "));
        }
        urls.advance();
    };
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
    let subscribe = subscription(args, wanted.clone(), None);
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
                m @ (ServerMessage::Quote(_)
                | ServerMessage::Trade(_)
                | ServerMessage::Book(_)
                | ServerMessage::BookUpdate(_)) => {
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
    let writer = Writer::create(&args.out, &header, false)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    let streams: HashMap<Symbol, Sequence> = snapshots
        .iter()
        .map(|(s, snap)| {
            let mut seq = Sequence::new();
            seq.snapshot(snap.seq);
            (s.clone(), seq)
        })
        .collect();
    let mut tape = Tape {
        writer,
        streams,
        summary,
        epoch: hello.epoch.clone(),
        books: args
            .channels
            .book()
            .then(|| books::Books::new(args.depth as usize)),
        resync: Vec::new(),
    };
    for m in &early {
        tape.keep(m)?;
    }
    tape.ask_for_books(args, &mut ws, &codec).await?;

    let mut stop = std::pin::pin!(stop);
    let until = args.duration.map(|d| tokio::time::Instant::now() + d);
    let mut flush = tokio::time::interval(Duration::from_secs(1));
    let mut show = tokio::time::interval(Duration::from_millis(250));
    let show_progress = |tape: &Tape, reconnecting: bool| Progress {
        events: tape.summary.events,
        bytes: tape.summary.bytes_received,
        elapsed: started.elapsed(),
        reconnects: tape.summary.reconnects,
        reconnecting,
    };
    // Whether `ws` is a live connection (not one that dropped while the recording ended).
    let mut live = true;
    'recording: loop {
        let lost = tokio::select! {
            () = &mut stop => break,
            () = sleep_until(until) => break,
            _ = flush.tick() => {
                tape.writer.flush().context("cannot write the recording")?;
                None
            }
            _ = show.tick() => {
                progress(show_progress(&tape, false));
                None
            }
            inbound = ws.next() => match inbound {
                Some(Ok(frame @ (Message::Text(_) | Message::Binary(_)))) => {
                    tape.summary.bytes_received += frame.len() as u64;
                    messages.clear();
                    codec.decode(&frame, &mut messages)?;
                    for m in &messages {
                        tape.keep(m)?;
                    }
                    match tape.ask_for_books(args, &mut ws, &codec).await {
                        Ok(()) => None,
                        Err(e) => Some(format!("connection lost: {e}")),
                    }
                }
                Some(Ok(Message::Close(frame))) => {
                    // Answer it, so the server sees a clean close.
                    let _ = ws.flush().await;
                    Some(frame.map_or_else(|| "no code".to_owned(), |f| format!("{} {}", u16::from(f.code), f.reason)))
                }
                Some(Ok(_)) => None,
                Some(Err(e)) => Some(format!("connection lost: {e}")),
                None => Some("connection lost".to_owned()),
            },
        };
        let Some(why) = lost else { continue };
        live = false;
        tape.summary.drops += 1;
        tracing::warn!("{why}; reconnecting");
        tape.summary.server_closed = Some(why);
        // Connect again, with backoff, until it works or the recording ends.
        let mut attempt = 0;
        loop {
            let wait = crate::net::backoff(attempt, rand::random::<f64>());
            attempt = attempt.saturating_add(1);
            let mut waiting = std::pin::pin!(tokio::time::sleep(wait));
            loop {
                tokio::select! {
                    () = &mut stop => break 'recording,
                    () = sleep_until(until) => break 'recording,
                    _ = show.tick() => progress(show_progress(&tape, true)),
                    () = &mut waiting => break,
                }
            }
            // The next server of the list (the same one if there is only one).
            urls.advance();
            match tape.rejoin(args, urls.current(), &wanted).await {
                Ok((again, again_codec)) => {
                    (ws, codec) = (again, again_codec);
                    tape.summary.reconnects += 1;
                    live = true;
                    break;
                }
                Err(e) => tracing::warn!("reconnecting: {e:#}"),
            }
        }
    }
    if live {
        crate::net::close(&mut ws, "recording done").await;
    }
    let mut summary = tape.summary;
    summary.books = tape.books.map(|b| BookSummary {
        depth: args.depth,
        updates: b.updates,
        mismatches: b.mismatches,
        gaps: b.gaps,
        resyncs: b.resyncs,
    });
    summary.elapsed = started.elapsed();
    summary.file_bytes = tape
        .writer
        .finish()
        .context("cannot finish the recording")?;
    Ok(summary)
}

/// The file being written and the streams it follows.
struct Tape {
    writer: Writer,
    streams: HashMap<Symbol, Sequence>,
    summary: Summary,
    /// The epoch the streams' `seq`s are from.
    epoch: Option<String>,
    books: Option<books::Books>,
    /// Symbols whose book must be fetched again.
    resync: Vec<Symbol>,
}

impl Tape {
    /// Writes a quote or trade that continues its stream, and counts gaps and re-syncs.
    fn keep(&mut self, m: &ServerMessage) -> anyhow::Result<()> {
        let summary = &mut self.summary;
        match m {
            ServerMessage::Quote(_) | ServerMessage::Trade(_) => {
                if let Some((symbol, seq)) = m.market_seq() {
                    match self
                        .streams
                        .entry(Symbol::from(symbol))
                        .or_default()
                        .event(seq)
                    {
                        // Already covered by the snapshot, or from before a resumed stream's
                        // snapshot.
                        Step::Stale | Step::Unsynced => return Ok(()),
                        Step::Gap { missed } => {
                            *summary.gaps.entry(Symbol::from(symbol)).or_insert(0) += missed;
                        }
                        Step::First | Step::Next => {}
                    }
                }
                self.writer
                    .write_event(m)
                    .context("cannot write the recording")?;
                summary.events += 1;
            }
            ServerMessage::Snapshot(s) => {
                // A re-sync after conflation: events between were lost (counted as the gap).
                summary.resyncs += 1;
                if let Step::Gap { missed } = self
                    .streams
                    .entry(s.symbol.clone())
                    .or_default()
                    .snapshot(s.seq)
                {
                    *summary.gaps.entry(s.symbol.clone()).or_insert(0) += missed;
                }
            }
            ServerMessage::Resumed(r) => {
                summary.resumed += r.recovered_count;
                summary.resumed_from_snapshot += r.snapshot_count;
            }
            ServerMessage::Book(b) | ServerMessage::BookUpdate(b) => {
                let Some(books) = self.books.as_mut() else {
                    return Ok(());
                };
                match books.keep(b, matches!(m, ServerMessage::Book(_))) {
                    books::Keep::Write => {
                        self.writer
                            .write_event(m)
                            .context("cannot write the recording")?;
                    }
                    books::Keep::Skip => {}
                    books::Keep::Resync => self.resync.push(b.symbol.clone()),
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Asks for a fresh `book` of every symbol whose book fell out of step.
    async fn ask_for_books(
        &mut self,
        args: &RecordArgs,
        ws: &mut crate::net::Ws,
        codec: &crate::wire::Codec,
    ) -> anyhow::Result<()> {
        if self.resync.is_empty() {
            return Ok(());
        }
        let symbols = std::mem::take(&mut self.resync);
        let again = ClientMessage::Subscribe(Subscribe {
            channels: Some(vec![protocol::Channel::Book]),
            depth: Some(args.depth),
            ..Subscribe::to(symbols)
        });
        ws.send(codec.encode(&again)).await?;
        Ok(())
    }

    /// A new connection, resuming the streams if the server is the same session (the same
    /// epoch); after a restart every stream starts again from its snapshot.
    async fn rejoin(
        &mut self,
        args: &RecordArgs,
        url: &str,
        wanted: &[Symbol],
    ) -> anyhow::Result<(crate::net::Ws, crate::wire::Codec)> {
        let mut ws = crate::net::connect(url, args.encoding)
            .await
            .map_err(|e| anyhow::anyhow!("{url}: {e}"))?;
        let mut codec = crate::wire::Codec::new(args.encoding);
        let mut messages = Vec::new();
        let hello = tokio::time::timeout(SNAPSHOT_WAIT, async {
            loop {
                let frame = next_data(&mut ws).await?;
                messages.clear();
                codec.decode(&frame, &mut messages)?;
                if let Some(ServerMessage::Hello(h)) = messages.drain(..).next() {
                    return anyhow::Ok(h);
                }
            }
        })
        .await
        .map_err(|_| anyhow::anyhow!("no hello within {} s", SNAPSHOT_WAIT.as_secs()))??;
        let resume = match (&hello.epoch, &self.epoch) {
            (Some(new), Some(old)) if new == old => {
                let mut from = BTreeMap::new();
                for (symbol, stream) in &mut self.streams {
                    if let Some(last) = stream.last() {
                        from.insert(symbol.clone(), last);
                    }
                    stream.resume();
                }
                // Books in step resume too: the updates missed come, or a fresh `book`.
                let book_from = self
                    .books
                    .as_ref()
                    .map(books::Books::resume_points)
                    .unwrap_or_default();
                Some(Resume {
                    book_from,
                    ..Resume::quotes(new.clone(), from)
                })
            }
            _ => {
                self.summary.epoch_changes += 1;
                for stream in self.streams.values_mut() {
                    *stream = Sequence::awaiting_snapshot();
                }
                if let Some(books) = self.books.as_mut() {
                    books.restart();
                }
                None
            }
        };
        self.epoch = hello.epoch;
        self.resync.clear();
        let subscribe = subscription(args, wanted.to_vec(), resume);
        ws.send(codec.encode(&subscribe)).await?;
        Ok((ws, codec))
    }
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
            "terminal {} record --symbols {} --channels {}{}",
            env!("CARGO_PKG_VERSION"),
            args.symbols,
            args.channels.names(),
            if args.channels.book() {
                format!(" --depth {}", args.depth)
            } else {
                String::new()
            }
        ),
    );
    header.origin = Some(args.url.clone());
    if args.channels.book() {
        header = header.with_book_depth(args.depth);
    }
    header
}
