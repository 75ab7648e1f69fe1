//! The accept loop: each socket gets a task that runs its TLS and HTTP handshakes (within
//! `--handshake-timeout-ms`, one of `--max-handshakes`), then serves the connection. While every
//! slot is taken, accepted sockets wait in the [`Lobby`]. At shutdown it stops accepting and,
//! while connections close, still answers newcomers.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::{Instant, sleep_until};
use tokio_util::task::TaskTracker;

use super::http::{self, NoUpgrade, Upgraded};
use super::lobby::Lobby;
use super::sockets::Sockets;
use super::{Edge, connection};

/// How long shutdown waits for connections to finish their close handshakes.
pub const DRAIN_TIMEOUT: Duration = Duration::from_millis(1_500);

/// The canned answer when `--max-handshakes` sockets are already in their handshake.
pub const BUSY_RESPONSE: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: 68\r\nconnection: close\r\n\r\ntoo many handshakes in progress (--max-handshakes); try again later\n";

/// Serves the edge's `sockets` until it stops, then waits (at most [`DRAIN_TIMEOUT`]) for its
/// connections to close.
pub async fn run(sockets: &mut Sockets, edge: Arc<Edge>) {
    let handshakes = Arc::new(Semaphore::new(edge.settings.max_handshakes));
    let tracker = TaskTracker::new();
    let next_id = AtomicU64::new(crate::bus::first_id(edge.index));
    let mut lobby = Lobby::new(
        edge.settings.max_waiting_sockets,
        edge.settings.handshake_wait,
    );
    loop {
        let deadline = lobby.deadline();
        tokio::select! {
            biased;
            () = edge.shutdown.stopping() => break,
            // The first in line takes the next free slot.
            permit = handshakes.clone().acquire_owned(), if !lobby.is_empty() => {
                if let (Ok(permit), Some(next)) = (permit, lobby.next()) {
                    let id = next_id.fetch_add(1, Ordering::Relaxed);
                    tracker.spawn(socket(next.stream, next.peer, edge.clone(), permit, id));
                }
            }
            () = sleep_until(deadline.unwrap_or_else(far_future)), if deadline.is_some() => {
                for stale in lobby.expired(Instant::now()) {
                    tracing::debug!(peer = %stale.peer, "no handshake slot in time; refused");
                    edge.metrics.refused("busy");
                    let _ = stale.stream.try_write(BUSY_RESPONSE);
                }
            }
            // A full lobby stops accepting: the kernel's backlog holds the rest.
            accepted = sockets.accept(), if !lobby.is_full() => match accepted {
                Ok((stream, peer)) => {
                    // Nobody jumps the line: a slot goes to a newcomer only if nobody waits.
                    let free = if lobby.is_empty() {
                        handshakes.clone().try_acquire_owned().ok()
                    } else {
                        None
                    };
                    match free {
                        Some(permit) => {
                            let id = next_id.fetch_add(1, Ordering::Relaxed);
                            tracker.spawn(socket(stream, peer, edge.clone(), permit, id));
                        }
                        None => lobby.join(stream, peer, Instant::now()),
                    }
                }
                Err(e) => {
                    // Out of file descriptors and the like: pause rather than spin.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    // Those still waiting are served like newcomers while connections close.
    for waiting in lobby.leave() {
        if let Ok(permit) = handshakes.clone().try_acquire_owned() {
            let id = next_id.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(tokio::time::timeout(
                DRAIN_TIMEOUT,
                socket(waiting.stream, waiting.peer, edge.clone(), permit, id),
            ));
        }
    }
    tracker.close();
    // While connections close, new requests are still answered: `/healthz` with 503, so that a
    // load balancer sees the server going, and handshakes with 503.
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        let mut done = std::pin::pin!(tracker.wait());
        loop {
            tokio::select! {
                () = &mut done => break,
                accepted = sockets.accept() => {
                    let Ok((stream, peer)) = accepted else { continue };
                    let Ok(permit) = handshakes.clone().try_acquire_owned() else { continue };
                    let id = next_id.fetch_add(1, Ordering::Relaxed);
                    tokio::spawn(tokio::time::timeout(DRAIN_TIMEOUT, socket(stream, peer, edge.clone(), permit, id)));
                }
            }
        }
    });
    if drained.await.is_err() {
        tracing::warn!(
            open = tracker.len(),
            "connections still closing at shutdown; dropping them"
        );
    }
}

/// One accepted socket, from its handshakes to the end of its connection.
async fn socket(
    stream: TcpStream,
    peer: SocketAddr,
    edge: Arc<Edge>,
    handshake_permit: OwnedSemaphorePermit,
    id: u64,
) {
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(%peer, "set_nodelay failed: {e}");
    }
    #[cfg(target_os = "linux")]
    if let Err(e) =
        socket2::SockRef::from(&stream).set_tcp_notsent_lowat(edge.settings.unsent_bytes)
    {
        tracing::debug!(%peer, "TCP_NOTSENT_LOWAT failed: {e}");
    }
    // Sockets accepted while the server drains are answered, not dropped.
    let draining = edge.shutdown.is_stopping();
    let shutdown = async {
        if draining {
            std::future::pending::<()>().await;
        } else {
            edge.shutdown.stopping().await;
        }
    };
    let timeout = edge.settings.handshake_timeout;
    let upgraded = tokio::select! {
        () = shutdown => return,
        result = tokio::time::timeout(timeout, handshakes(stream, &edge)) => match result {
            Ok(Ok(upgraded)) => upgraded,
            Ok(Err(NoUpgrade::Served(what))) => {
                tracing::debug!(%peer, "served {what}");
                return;
            }
            Ok(Err(NoUpgrade::Refused(why))) => {
                tracing::info!(%peer, "handshake refused or failed: {why}");
                return;
            }
            Err(_) => {
                edge.metrics.refused("timeout");
                tracing::info!(%peer, "handshake timed out after {} ms", timeout.as_millis());
                return;
            }
        },
    };
    drop(handshake_permit);
    connection::serve(upgraded, edge, id, peer).await;
}

/// The TLS handshake if the edge has TLS, then the HTTP exchange.
async fn handshakes(stream: TcpStream, edge: &Arc<Edge>) -> Result<Upgraded, NoUpgrade> {
    let Some(tls) = &edge.tls else {
        return http::exchange(stream, edge).await;
    };
    match tls.acceptor.accept(stream).await {
        Ok(stream) => http::exchange(stream, edge).await,
        Err(e) => {
            edge.metrics.refused("tls");
            Err(NoUpgrade::Refused(format!(
                "TLS handshake failed: {e} (a plain http:// or ws:// client on a TLS port?)"
            )))
        }
    }
}

/// A deadline for a timer that is not armed.
fn far_future() -> Instant {
    Instant::now() + Duration::from_secs(86_400)
}
