//! One WebSocket connection: a single task that reads client messages, writes what the hub queues,
//! keeps the heartbeat and completes the close handshake whichever side starts it.
//!
//! The hub writes market data and order replies to the socket itself ([`super::outbox`]); this
//! task finishes what the socket could not take at once, when the hub wakes it. A write is watched
//! for progress, not for completion: a client that reads at all, however slowly, is conflated by
//! the hub and kept; one whose socket takes no byte for `--stall-timeout-ms` is closed with 1008.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use futures_util::{FutureExt, SinkExt, StreamExt};
use protocol::close_code;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;

use super::Edge;
use super::command::Command;
use super::ending::{Ending, Initiator};
use super::handler::Handler;
use super::handshake::Endpoint;
use super::http::{Upgraded, Ws};
use super::outbox::{Outbox, Outlet};
use crate::market::ConnId;
use crate::metrics::EdgeLabel;

/// Client messages handled per turn before the queues get their turn again. What is left in the
/// reader's buffer is handled on the next turn without waiting for the socket.
const MAX_READS_PER_TURN: usize = 64;
/// How long a closing handshake may take before the socket is dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);
/// The same for a client closed for not reading: its socket first has to drain what is queued.
const STALLED_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

/// Serves one upgraded WebSocket until it closes. Errors are logged here, never returned.
pub async fn serve(upgraded: Upgraded, edge: Arc<Edge>, id: ConnId, peer: SocketAddr) {
    let Upgraded {
        mut ws,
        endpoint,
        protocol,
        encoding,
        slot,
        early_frames,
    } = upgraded;
    let outbox = ws.get_ref().outbox().clone();
    if endpoint == Endpoint::Feed {
        let outlet = Outlet::new(outbox.clone());
        if edge
            .hub
            .send(Command::Connect { id, outlet })
            .await
            .is_err()
        {
            let ending = edge.ending_on_shutdown();
            close(&mut ws, ending.code, &ending.reason, CLOSE_TIMEOUT).await;
            return;
        }
    }
    tracing::info!(%peer, conn = id, ?endpoint, protocol, tls = edge.tls.is_some(), "connected");
    edge.metrics.connections.inc();
    let on_edge = edge
        .metrics
        .edge_connections
        .get_or_create_owned(&EdgeLabel {
            edge: edge.index as u64,
        });
    on_edge.inc();
    edge.metrics.connections_total.inc();

    let mut link = Link {
        outbox,
        stall: edge.settings.stall_timeout,
        ws,
    };
    let heartbeat = edge.settings.heartbeat;
    let mut ticker = tokio::time::interval_at(Instant::now() + heartbeat, heartbeat);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_heard = Instant::now();
    let mut out: Vec<Message> = Vec::with_capacity(8);
    let mut handler = Handler::new(&edge.context, id, endpoint, encoding);
    let mut buffered = early_frames;

    let mut ending = match endpoint {
        Endpoint::Feed => link.write(handler.greeting()).await.err(),
        Endpoint::Echo => None,
    };
    // Registered once: creating the future each turn would lock the token's waiter list every time.
    let mut shutdown = pin!(edge.shutdown.stopping());
    while ending.is_none() {
        // A client whose answers wait unread (or that holds the most while every outbox
        // together is past its cap) is not read until they drain: TCP holds it back.
        let backed_up = link.outbox.backed_up();
        tokio::select! {
            biased;
            () = &mut shutdown => ending = Some(edge.ending_on_shutdown()),
            () = link.outbox.wanted() => {
                ending = if link.outbox.released() {
                    Some(dropped_by_hub(&edge))
                } else {
                    link.drain().await.err()
                };
            }
            // Past the stall timeout without a byte taken, this ends the client with 1008. While
            // the server does not read, the client's silence is not held against it.
            drained = link.drain(), if backed_up => {
                last_heard = Instant::now();
                ending = drained.err();
            }
            // Wait on socket readiness rather than polling the WebSocket reader, which would zero
            // its read buffer on every turn of this loop; but not when the reader still holds
            // messages from the last read, which no new bytes may ever come to wake.
            readable = link.readable(buffered), if !backed_up => {
                if let Err(e) = readable {
                    ending = Some(Ending::transport(format!("socket error: {e}")));
                    break;
                }
                buffered = true;
                let mut answering = 0usize;
                link.outbox.hold();
                for _ in 0..MAX_READS_PER_TURN {
                    if answering > link.outbox.answer_limit() || link.outbox.backed_up() {
                        break;
                    }
                    let Some(inbound) = link.ws.next().now_or_never() else {
                        buffered = false;
                        break;
                    };
                    last_heard = Instant::now();
                    let before = out.len();
                    let handled = handler.on_inbound(inbound, &mut out);
                    answering = out[before..].iter().map(Message::len).fold(answering, usize::saturating_add);
                    match handled {
                        Ok(None) => {}
                        Ok(Some(command)) => {
                            if edge.hub.send(command).await.is_err() {
                                ending = Some(edge.ending_on_shutdown());
                                break;
                            }
                        }
                        Err(end) => {
                            ending = Some(end);
                            break;
                        }
                    }
                }
                link.outbox.send_held();
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
                let unanswered = |silent: Duration| Ending::server(close_code::POLICY, format!("no answer to pings for {} ms", silent.as_millis())).because("heartbeat");
                ending = if silent > heartbeat * 2 {
                    Some(unanswered(silent))
                } else {
                    // The ping goes out behind what the outbox holds. A client that reads a
                    // trickle keeps that write going (it never stalls) for as long as the hub
                    // refills the outbox, so the write gets until the heartbeat runs out.
                    let ping = link.write([Message::Ping(tokio_tungstenite::tungstenite::Bytes::new())]);
                    match tokio::time::timeout((heartbeat * 2).saturating_sub(silent), ping).await {
                        Ok(written) => written.err(),
                        Err(_) => Some(unanswered(last_heard.elapsed())),
                    }
                };
            }
        }
    }
    // Nothing of the hub's may follow a Close frame; what it already queued still goes first.
    link.outbox.close();
    if endpoint == Endpoint::Feed {
        // Awaited, not tried: a lost disconnect would leave the hub holding this client's orders.
        let _ = edge.hub.send(Command::Disconnect { id }).await;
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
    edge.metrics.connections.dec();
    on_edge.dec();
    edge.metrics.closed(ending.kind);
    if ending.by == Initiator::Server && ending.code != close_code::GOING_AWAY {
        tracing::info!(%peer, conn = id, code = ending.code, reason = %ending.reason, "closed by the server");
    } else {
        tracing::info!(%peer, conn = id, code = ending.code, reason = %ending.reason, by = ?ending.by, "disconnected");
    }
}

/// The socket and what watches its writes.
struct Link {
    ws: Ws,
    outbox: Arc<Outbox>,
    stall: Duration,
}

impl Link {
    /// Resolves when the socket is readable, or at once when the reader may hold more messages.
    async fn readable(&self, buffered: bool) -> std::io::Result<()> {
        if buffered {
            return Ok(());
        }
        self.outbox.socket().readable().await
    }

    /// Feeds every message and flushes once, which writes whatever else waits in the outbox too.
    async fn write(&mut self, messages: impl IntoIterator<Item = Message>) -> Result<(), Ending> {
        let ws = &mut self.ws;
        let work = async move {
            for message in messages {
                ws.feed(message).await?;
            }
            ws.flush().await
        };
        watch(&self.outbox, self.stall, work).await
    }

    /// Writes what the hub left in the outbox for want of room in the socket.
    async fn drain(&self) -> Result<(), Ending> {
        let outbox = &self.outbox;
        watch(
            outbox,
            self.stall,
            std::future::poll_fn(|cx| outbox.poll_drain(cx)),
        )
        .await
    }
}

/// Runs a write for as long as it needs while the socket keeps taking bytes; one that takes none
/// for the stall timeout ends the client.
async fn watch<E: std::fmt::Display>(
    outbox: &Outbox,
    stall: Duration,
    work: impl Future<Output = Result<(), E>>,
) -> Result<(), Ending> {
    let mut work = pin!(work);
    // The common case, a socket with room, finishes here without arming a timer.
    let done = if let Some(done) = (&mut work).now_or_never() {
        done
    } else {
        let check = (stall / 4).max(Duration::from_millis(5));
        let mut seen = outbox.written();
        let mut progress_at = Instant::now();
        loop {
            tokio::select! {
                done = &mut work => break done,
                () = tokio::time::sleep(check) => {
                    let now = outbox.written();
                    if now != seen {
                        (seen, progress_at) = (now, Instant::now());
                    } else if progress_at.elapsed() >= stall {
                        return Err(Ending::server(
                            close_code::POLICY,
                            format!("client not reading: nothing sent for {} ms", stall.as_millis()),
                        )
                        .because("stalled"));
                    }
                }
            }
        }
    };
    done.map_err(|e| Ending::transport(format!("write failed: {e}")))
}

/// The hub let go of this client: it failed, or the client let its reply queue fill.
fn dropped_by_hub(edge: &Edge) -> Ending {
    if edge.failed() || edge.shutdown.is_stopping() {
        return edge.ending_on_shutdown();
    }
    Ending::server(
        close_code::POLICY,
        "dropped by the server: replies not read",
    )
    .because("replies_not_read")
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
