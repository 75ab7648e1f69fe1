//! One WebSocket connection: a single task that reads client messages, writes what the hub queues,
//! keeps the heartbeat and completes the close handshake whichever side starts it.
//!
//! Reading and writing share one task (no split, no lock): each turn it takes everything queued,
//! feeds it to the socket and flushes once, so a client costs one socket write per hub pass.
//! A write is watched for progress, not for completion: a client that reads at all, however
//! slowly, is conflated by the hub and kept; one whose socket takes no byte for
//! `--stall-timeout-ms` is closed with 1008.

use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::Poll;
use std::time::Duration;

use futures_util::{FutureExt, SinkExt, StreamExt};
use protocol::close_code;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use crate::edge::{Upgraded, Ws};
use crate::handshake::Endpoint;
use crate::hub::{Command, Queues};
use crate::matching::ConnId;
use crate::server::Shared;
use crate::session::{Ending, Initiator, Session};

/// Client messages handled per turn before the queues get their turn again. What is left in the
/// reader's buffer is handled on the next turn without waiting for the socket.
const MAX_READS_PER_TURN: usize = 64;
/// Frames taken from a queue per write.
const MAX_FRAMES_PER_WRITE: usize = 256;
/// Replies to one client's orders that may wait in its queue.
const CTRL_QUEUE: usize = 4_096;
/// How long a closing handshake may take before the socket is dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);
/// The same for a client closed for not reading: its socket first has to drain what is queued.
const STALLED_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves one upgraded WebSocket until it closes. Errors are logged here, never returned.
pub async fn serve(upgraded: Upgraded, shared: Arc<Shared>, id: ConnId, peer: SocketAddr) {
    let Upgraded {
        mut ws,
        endpoint,
        protocol,
        slot,
        early_frames,
    } = upgraded;
    let queue_frames = usize::try_from(shared.config.queue_frames).unwrap_or(1_024);
    let (data_tx, mut data_rx) = mpsc::channel(queue_frames);
    let (ctrl_tx, mut ctrl_rx) = mpsc::channel(CTRL_QUEUE);
    let queued = Arc::new(AtomicUsize::new(0));
    let queues = Queues {
        data: data_tx,
        ctrl: ctrl_tx,
        queued_bytes: queued.clone(),
    };
    // The echo endpoint has no hub: its queues stay open and empty for the connection's life.
    let _idle_queues = match endpoint {
        Endpoint::Feed => {
            if shared
                .hub
                .send(Command::Connect { id, queues })
                .await
                .is_err()
            {
                let ending = shared.ending_on_shutdown();
                close(&mut ws, ending.code, &ending.reason, CLOSE_TIMEOUT).await;
                return;
            }
            None
        }
        Endpoint::Echo => Some(queues),
    };
    tracing::info!(%peer, conn = id, ?endpoint, protocol, "connected");

    let mut link = Link {
        written: ws.get_ref().written(),
        stall: shared.config.stall_timeout(),
        ws,
    };
    let heartbeat = shared.config.heartbeat();
    let mut ticker = tokio::time::interval_at(Instant::now() + heartbeat, heartbeat);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_heard = Instant::now();
    let mut frames: Vec<Utf8Bytes> = Vec::with_capacity(MAX_FRAMES_PER_WRITE);
    let mut replies: Vec<Utf8Bytes> = Vec::with_capacity(64);
    let mut out: Vec<Message> = Vec::with_capacity(8);
    let mut session = Session::new(&shared, id, endpoint);
    let mut buffered = early_frames;

    let mut ending = match endpoint {
        Endpoint::Feed => link.write([Message::Text(session.hello())]).await.err(),
        Endpoint::Echo => None,
    };
    // Registered once: creating the future each turn would lock the token's waiter list every time.
    let mut shutdown = pin!(shared.shutdown.cancelled());
    while ending.is_none() {
        tokio::select! {
            biased;
            () = &mut shutdown => ending = Some(shared.ending_on_shutdown()),
            n = ctrl_rx.recv_many(&mut replies, MAX_FRAMES_PER_WRITE) => {
                ending = if n == 0 { Some(dropped_by_hub(&shared)) } else { link.send_queued(&mut replies, &mut data_rx, &queued).await };
            }
            n = data_rx.recv_many(&mut frames, MAX_FRAMES_PER_WRITE) => {
                ending = if n == 0 { Some(dropped_by_hub(&shared)) } else { link.send_queued(&mut frames, &mut ctrl_rx, &queued).await };
            }
            // Wait on socket readiness rather than polling the WebSocket reader, which would zero
            // its read buffer on every turn of this loop; but not when the reader still holds
            // messages from the last read, which no new bytes may ever come to wake.
            readable = link.readable(buffered) => {
                if let Err(e) = readable {
                    ending = Some(Ending::transport(format!("socket error: {e}")));
                    break;
                }
                buffered = true;
                for _ in 0..MAX_READS_PER_TURN {
                    let Some(inbound) = link.ws.next().now_or_never() else {
                        buffered = false;
                        break;
                    };
                    last_heard = Instant::now();
                    ending = session.on_inbound(inbound, &mut out).await;
                    if ending.is_some() {
                        break;
                    }
                }
                // Replies to the messages before a protocol error still go out, ahead of the
                // Close; after the client's own Close nothing more may be sent.
                let open = ending.as_ref().is_none_or(|e| e.by == Initiator::Server);
                if open && !out.is_empty() {
                    let failed = link.write(out.drain(..)).await.err();
                    ending = ending.or(failed);
                }
                out.clear();
            }
            _ = ticker.tick() => {
                let silent = last_heard.elapsed();
                ending = if silent > heartbeat * 2 {
                    Some(Ending::server(close_code::POLICY, format!("no answer to pings for {} ms", silent.as_millis())))
                } else {
                    link.write([Message::Ping(tokio_tungstenite::tungstenite::Bytes::new())]).await.err()
                };
            }
        }
    }
    if endpoint == Endpoint::Feed {
        // Awaited, not tried: a lost disconnect would leave the hub holding this client's orders.
        let _ = shared.hub.send(Command::Disconnect { id }).await;
    }
    let ending = ending.unwrap_or_else(|| Ending::server(close_code::NORMAL, ""));
    let mut ws = link.ws;
    match ending.by {
        Initiator::Client => answer_close(&mut ws).await,
        Initiator::Server => {
            let patience = if ending.code == close_code::POLICY {
                STALLED_CLOSE_TIMEOUT
            } else {
                CLOSE_TIMEOUT
            };
            close(&mut ws, ending.code, &ending.reason, patience).await;
        }
        Initiator::Transport => {}
    }
    drop(slot);
    if ending.by == Initiator::Server && ending.code != close_code::GOING_AWAY {
        tracing::info!(%peer, conn = id, code = ending.code, reason = %ending.reason, "closed by the server");
    } else {
        tracing::info!(%peer, conn = id, code = ending.code, reason = %ending.reason, by = ?ending.by, "disconnected");
    }
}

/// The socket and what watches its writes.
struct Link {
    ws: Ws,
    /// Bytes the kernel has taken from this socket so far.
    written: Arc<AtomicU64>,
    stall: Duration,
}

impl Link {
    /// Resolves when the socket is readable, or at once when the reader may hold more messages.
    async fn readable(&self, buffered: bool) -> std::io::Result<()> {
        if buffered {
            return Ok(());
        }
        self.ws.get_ref().tcp().readable().await
    }

    /// Writes `batch` and whatever the other queue holds already, in one flush, empties `batch`,
    /// and gives the data queue's byte budget back.
    async fn send_queued(
        &mut self,
        batch: &mut Vec<Utf8Bytes>,
        other: &mut mpsc::Receiver<Utf8Bytes>,
        queued: &AtomicUsize,
    ) -> Option<Ending> {
        while batch.len() < 2 * MAX_FRAMES_PER_WRITE
            && let Ok(frame) = other.try_recv()
        {
            batch.push(frame);
        }
        let bytes: usize = batch.iter().map(|f| f.as_str().len()).sum();
        let ending = self.write(batch.drain(..).map(Message::Text)).await.err();
        // Control frames are counted too: the hub adds what it queues on either queue.
        queued.fetch_sub(bytes, Ordering::Relaxed);
        ending
    }

    /// Feeds every message and flushes once. The write may take as long as it needs while the
    /// socket keeps taking bytes; one that takes none for the stall timeout ends the client.
    async fn write(&mut self, messages: impl IntoIterator<Item = Message>) -> Result<(), Ending> {
        let ws = &mut self.ws;
        let mut work = pin!(async move {
            for message in messages {
                ws.feed(message).await?;
            }
            ws.flush().await
        });
        // The common case, a socket with room, finishes here without arming a timer.
        let done = if let Some(done) = (&mut work).now_or_never() {
            done
        } else {
            let check = (self.stall / 4).max(Duration::from_millis(5));
            let mut seen = self.written.load(Ordering::Relaxed);
            let mut progress_at = Instant::now();
            loop {
                tokio::select! {
                    done = &mut work => break done,
                    () = tokio::time::sleep(check) => {
                        let now = self.written.load(Ordering::Relaxed);
                        if now != seen {
                            (seen, progress_at) = (now, Instant::now());
                        } else if progress_at.elapsed() >= self.stall {
                            return Err(Ending::server(
                                close_code::POLICY,
                                format!("client not reading: nothing sent for {} ms", self.stall.as_millis()),
                            ));
                        }
                    }
                }
            }
        };
        done.map_err(|e| Ending::transport(format!("write failed: {e}")))
    }
}

/// The hub let go of this client: it failed, or the client let its reply queue fill.
fn dropped_by_hub(shared: &Shared) -> Ending {
    if shared.failed() || shared.shutdown.is_cancelled() {
        return shared.ending_on_shutdown();
    }
    Ending::server(
        close_code::POLICY,
        "dropped by the server: replies not read",
    )
}

/// Sends the Close reply the WebSocket layer queued when the client's Close arrived, then lets
/// the socket close: the server closes TCP first, as RFC 6455 section 7.1.1 asks. A flush, not
/// `close()`: once the peer has closed, tungstenite refuses to *send* a Close (`SendAfterClosing`)
/// and only a flush writes the reply it queued.
async fn answer_close(ws: &mut Ws) {
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, ws.flush()).await;
}

/// Sends a Close frame and waits, at most `patience`, for the client's answer.
///
/// While the Close (and whatever data is ahead of it) waits for room in the socket, what the
/// client sends is read and dropped: a client that floods without reading is blocked writing to
/// us, and only once its writes go through can it read our data and the Close. Without this it
/// would be reset with data it never got to read.
pub async fn close(ws: &mut Ws, code: u16, reason: &str, patience: Duration) {
    let frame = CloseFrame {
        code: code.into(),
        reason: reason.into(),
    };
    let _ = tokio::time::timeout(patience, async {
        if ws.feed(Message::Close(Some(frame))).await.is_err() {
            return;
        }
        let mut reading = true;
        let flushed = std::future::poll_fn(|cx| {
            while reading {
                match ws.poll_next_unpin(cx) {
                    Poll::Ready(Some(Ok(_))) => {}
                    Poll::Ready(Some(Err(_)) | None) => reading = false,
                    Poll::Pending => break,
                }
            }
            ws.poll_flush_unpin(cx)
        })
        .await;
        if flushed.is_err() {
            return;
        }
        if reading {
            while let Some(Ok(_)) = ws.next().await {}
        }
    })
    .await;
}
