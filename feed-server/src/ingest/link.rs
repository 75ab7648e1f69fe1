//! One venue's WebSocket connection, kept up for as long as the server runs: connect, let the
//! adapter subscribe, hand it every message, do what it asks (events to the hub, messages to the
//! venue, REST snapshots), and reconnect with jittered exponential backoff after a close, an
//! error, or a stream silent for longer than the watchdog allows. The venue's pings are
//! answered by the WebSocket layer as messages are read. Nothing here stops the server: an
//! unreachable venue is logged, counted and tried again.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use rand::Rng;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_util::sync::CancellationToken;

use super::adapter::{Adapter, Fetch, Out};
use super::rest;
use crate::feed::event::{Due, Extras};
use crate::metrics::ingest::{IngestMetrics, VenueLabel};
use protocol::recording::Stream;

/// How a venue connection behaves; `feed-server --help` documents each flag.
#[derive(Debug, Clone)]
pub struct LinkSettings {
    /// A stream with no message (of any kind) for this long is reconnected.
    pub silence: Duration,
    /// The first reconnect waits about this long; each failure doubles it up to `backoff_max`.
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// Longest wait for a connection (TCP, TLS and the WebSocket handshake) or a REST answer.
    pub timeout: Duration,
    /// Largest WebSocket message or REST body accepted from a venue.
    pub max_message_bytes: usize,
}

impl Default for LinkSettings {
    fn default() -> Self {
        Self {
            silence: Duration::from_secs(30),
            backoff_min: Duration::from_millis(250),
            backoff_max: Duration::from_secs(30),
            timeout: Duration::from_secs(10),
            max_message_bytes: 16 * 1_048_576,
        }
    }
}

/// The wait before attempt `n` (0-based) after failures: doubling from `min` to `max`, each
/// drawn between half and all of it so that many servers do not reconnect in step.
pub fn backoff(settings: &LinkSettings, n: u32) -> Duration {
    let full = settings
        .backoff_min
        .saturating_mul(1_u32.checked_shl(n.min(20)).unwrap_or(u32::MAX))
        .min(settings.backoff_max);
    full.mul_f64(rand::rng().random_range(0.5..=1.0))
}

fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// Why a connection ended.
enum Ended {
    Shutdown,
    Lost(String),
}

type Fetched = (u64, Fetch, Result<Vec<u8>, String>);

/// Runs one venue's connection until `shutdown`.
pub async fn run(
    venue: &'static str,
    mut adapter: Box<dyn Adapter>,
    stale: super::stale::VenueMark,
    settings: LinkSettings,
    events: mpsc::Sender<Vec<Due>>,
    metrics: Arc<IngestMetrics>,
    shutdown: CancellationToken,
) {
    let mut failures = 0_u32;
    let mut generation = 0_u64;
    let (fetched_tx, mut fetched_rx) = mpsc::channel::<Fetched>(64);
    loop {
        generation += 1;
        let mut link = Link {
            venue,
            settings: &settings,
            events: &events,
            metrics: &metrics,
            fetched_tx: &fetched_tx,
            generation,
            fetch_failures: HashMap::new(),
            got_message: false,
            stale: &stale,
        };
        let ended = link
            .session(adapter.as_mut(), &mut fetched_rx, &shutdown)
            .await;
        metrics
            .connected
            .get_or_create(&VenueLabel { venue })
            .set(0);
        stale.set(true);
        match ended {
            Ended::Shutdown => return,
            Ended::Lost(why) => {
                if link.got_message {
                    failures = 0;
                }
                let wait = backoff(&settings, failures);
                failures = failures.saturating_add(1);
                tracing::warn!(venue, "{why}; reconnecting in {} ms", wait.as_millis());
                metrics
                    .reconnects
                    .get_or_create(&VenueLabel { venue })
                    .inc();
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(wait) => {}
                }
            }
        }
    }
}

struct Link<'a> {
    venue: &'static str,
    settings: &'a LinkSettings,
    events: &'a mpsc::Sender<Vec<Due>>,
    metrics: &'a Arc<IngestMetrics>,
    fetched_tx: &'a mpsc::Sender<Fetched>,
    generation: u64,
    /// Consecutive failed fetches per symbol, for their backoff.
    fetch_failures: HashMap<usize, u32>,
    got_message: bool,
    /// The venue's symbols on the board of stale sources: live while connected.
    stale: &'a super::stale::VenueMark,
}

impl Link<'_> {
    async fn session(
        &mut self,
        adapter: &mut dyn Adapter,
        fetched_rx: &mut mpsc::Receiver<Fetched>,
        shutdown: &CancellationToken,
    ) -> Ended {
        let url = adapter.url();
        let config = WebSocketConfig::default()
            .max_message_size(Some(self.settings.max_message_bytes))
            .max_frame_size(Some(self.settings.max_message_bytes));
        let connector = match rest::tls_client() {
            Ok(tls) => Some(tokio_tungstenite::Connector::Rustls(tls)),
            Err(why) => return Ended::Lost(why),
        };
        let connecting = tokio_tungstenite::connect_async_tls_with_config(
            url.as_str(),
            Some(config),
            true,
            connector,
        );
        let mut ws = tokio::select! {
            () = shutdown.cancelled() => return Ended::Shutdown,
            result = tokio::time::timeout(self.settings.timeout, connecting) => match result {
                Ok(Ok((ws, _))) => ws,
                Ok(Err(e)) => return Ended::Lost(format!("cannot connect to {url}: {e}")),
                Err(_) => return Ended::Lost(format!("cannot connect to {url}: no answer within {} ms", self.settings.timeout.as_millis())),
            }
        };
        tracing::info!(venue = self.venue, %url, "connected");
        let label = VenueLabel { venue: self.venue };
        self.metrics.connected.get_or_create(&label).set(1);
        self.stale.set(false);
        let mut out = Out::default();
        adapter.on_connected(&mut out);
        if let Err(why) = self.carry_out(&mut out, now_ns(), &mut ws).await {
            return Ended::Lost(why);
        }
        let mut unreadable_logged = 0_u32;
        loop {
            tokio::select! {
                () = shutdown.cancelled() => {
                    // Complete the close handshake, briefly.
                    let _ = tokio::time::timeout(Duration::from_secs(1), async {
                        let _ = ws.close(None).await;
                        while let Some(Ok(_)) = ws.next().await {}
                    })
                    .await;
                    return Ended::Shutdown;
                }
                next = tokio::time::timeout(self.settings.silence, ws.next()) => {
                    let message = match next {
                        Err(_) => return Ended::Lost(format!(
                            "no message for {} ms (--ingest-silence-ms)",
                            self.settings.silence.as_millis()
                        )),
                        Ok(None) => return Ended::Lost("the venue closed the connection".to_owned()),
                        Ok(Some(Err(e))) => return Ended::Lost(format!("the connection failed: {e}")),
                        Ok(Some(Ok(message))) => message,
                    };
                    let recv_ns = now_ns();
                    self.got_message = true;
                    let text = match &message {
                        Message::Text(text) => text.as_str(),
                        Message::Close(frame) => {
                            let why = frame.as_ref().map_or_else(String::new, |f| format!(" ({} {})", f.code, f.reason));
                            // Answer the close, then reconnect (Binance closes every 24 hours).
                            let _ = tokio::time::timeout(Duration::from_secs(1), async {
                                while let Some(Ok(_)) = ws.next().await {}
                            }).await;
                            return Ended::Lost(format!("the venue closed the connection{why}"));
                        }
                        // Pings are answered by the WebSocket layer; binary is not used.
                        _ => {
                            self.metrics.message(self.venue, recv_ns / 1_000_000, None);
                            continue;
                        }
                    };
                    out.clear();
                    if let Err(why) = adapter.on_text(text, recv_ns, &mut out) {
                        self.metrics.unreadable.get_or_create(&label).inc();
                        if unreadable_logged < 20 {
                            unreadable_logged += 1;
                            tracing::warn!(venue = self.venue, "skipped a message: {why}");
                        }
                    }
                    let lag = out.exch_ts_ns.map(|t| recv_ns.saturating_sub(t));
                    self.metrics.message(self.venue, recv_ns / 1_000_000, lag);
                    if let Err(why) = self.carry_out(&mut out, recv_ns, &mut ws).await {
                        return Ended::Lost(why);
                    }
                }
                Some((generation, fetch, body)) = fetched_rx.recv() => {
                    if generation != self.generation {
                        continue;
                    }
                    out.clear();
                    let failed = body.is_err();
                    adapter.on_fetched(&fetch, body, &mut out);
                    let again = out.fetch.iter().any(|f| f.symbol == fetch.symbol);
                    let count = self.fetch_failures.entry(fetch.symbol).or_default();
                    *count = if failed || again { count.saturating_add(1) } else { 0 };
                    if let Err(why) = self.carry_out(&mut out, now_ns(), &mut ws).await {
                        return Ended::Lost(why);
                    }
                }
            }
        }
    }

    /// Does what the adapter asked: events to the hub, messages to the venue, fetches.
    async fn carry_out<S>(&mut self, out: &mut Out, recv_ns: u64, ws: &mut S) -> Result<(), String>
    where
        S: futures_util::Sink<Message, Error = tokio_tungstenite::tungstenite::Error> + Unpin,
    {
        for cause in out.resyncs.drain(..) {
            self.metrics.resync(self.venue, cause.label());
        }
        if !out.events.is_empty() {
            let mut given = out.extras.drain(..).peekable();
            let exch_ts_ns = out.exch_ts_ns;
            let batch: Vec<Due> = out
                .events
                .drain(..)
                .enumerate()
                .map(|(i, event)| {
                    let extras = match given.next_if(|(at, _)| *at == i) {
                        Some((_, extras)) => extras.or_exch_ts(exch_ts_ns),
                        None if event.stream() == Stream::Quotes => {
                            Extras::new(exch_ts_ns, None, None)
                        }
                        None => Extras::NONE,
                    };
                    Due {
                        due_ns: recv_ns,
                        event,
                        extras,
                    }
                })
                .collect();
            // The hub stopping is the server stopping: shutdown ends this task.
            let _ = self.events.send(batch).await;
        }
        for text in out.send.drain(..) {
            ws.send(Message::text(text))
                .await
                .map_err(|e| format!("cannot send to the venue: {e}"))?;
        }
        for fetch in out.fetch.drain(..) {
            let failures = self.fetch_failures.get(&fetch.symbol).copied().unwrap_or(0);
            let wait = if failures == 0 {
                Duration::ZERO
            } else {
                backoff(self.settings, failures - 1)
            };
            let (tx, generation) = (self.fetched_tx.clone(), self.generation);
            let (timeout, max) = (self.settings.timeout, self.settings.max_message_bytes);
            tokio::spawn(async move {
                tokio::time::sleep(wait).await;
                let body = rest::get(&fetch.url, timeout, max).await;
                let _ = tx.send((generation, fetch, body)).await;
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_its_ceiling_with_jitter() {
        let settings = LinkSettings::default();
        for n in 0..30 {
            let wait = backoff(&settings, n);
            let full = settings
                .backoff_min
                .saturating_mul(1 << n.min(20))
                .min(settings.backoff_max);
            assert!(
                wait <= full && wait >= full / 2,
                "{n}: {wait:?} of {full:?}"
            );
        }
    }
}
