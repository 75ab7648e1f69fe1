//! The accept loop, the shared state connections see, and handles to run a server in-process.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::connection;
use crate::handshake::{self, Admission};
use crate::hub::{Command, Hub};
use crate::universe::Universe;

/// What every connection task reads.
#[derive(Debug)]
pub struct Shared {
    pub config: Config,
    pub universe: Arc<Universe>,
    /// Commands to the hub. Bounded: a connection waits when the hub is busy.
    pub hub: mpsc::Sender<Command>,
    pub shutdown: CancellationToken,
    /// Largest client message; a bigger one closes the connection with 1009.
    pub max_message: usize,
}

/// How long shutdown waits for connections to finish their close handshakes.
const DRAIN_TIMEOUT: Duration = Duration::from_millis(1_500);

/// Serves WebSocket clients on `listener` until `shutdown` is cancelled, then closes every
/// connection with 1001 and returns (within about 1.5 s).
pub async fn run(listener: TcpListener, config: Config, shutdown: CancellationToken) {
    let universe = Arc::new(Universe::new(&config.symbols, config.seed));
    let (hub_tx, hub_rx) = mpsc::channel(4_096);
    let hub = Hub::new(universe.clone(), &config);
    let hub_task = tokio::spawn(hub.run(hub_rx, shutdown.clone()));
    let limit = Arc::new(Semaphore::new(config.max_connections));
    let shared = Arc::new(Shared {
        universe,
        hub: hub_tx,
        shutdown: shutdown.clone(),
        max_message: protocol::MAX_CLIENT_MESSAGE_BYTES,
        config,
    });
    let ws_config = WebSocketConfig::default()
        .read_buffer_size(8 * 1024)
        .write_buffer_size(64 * 1024)
        .max_write_buffer_size(16 * 1024 * 1024)
        .max_message_size(Some(shared.max_message))
        .max_frame_size(Some(shared.max_message));
    let tracker = TaskTracker::new();
    let next_id = AtomicU64::new(1);

    loop {
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of file descriptors and the like: pause rather than spin.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let permit = limit.clone().try_acquire_owned().ok();
        let id = next_id.fetch_add(1, Ordering::Relaxed);
        tracker.spawn(accept(stream, peer, shared.clone(), ws_config, permit, id));
    }
    tracker.close();
    if tokio::time::timeout(DRAIN_TIMEOUT, tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            open = tracker.len(),
            "connections still closing at shutdown; dropping them"
        );
    }
    hub_task.abort();
}

async fn accept(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    ws_config: WebSocketConfig,
    permit: Option<tokio::sync::OwnedSemaphorePermit>,
    id: u64,
) {
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(%peer, "set_nodelay failed: {e}");
    }
    let admission = Admission {
        allowed_origins: &shared.config.allow_origin,
        has_capacity: permit.is_some(),
    };
    let callback = |request: &_, response| handshake::admit(&admission, request, response);
    let handshake =
        tokio_tungstenite::accept_hdr_async_with_config(stream, callback, Some(ws_config));
    let ws = tokio::select! {
        () = shared.shutdown.cancelled() => return,
        result = tokio::time::timeout(shared.config.handshake_timeout(), handshake) => match result {
            Ok(Ok(ws)) => ws,
            Ok(Err(e)) => {
                tracing::info!(%peer, "handshake refused or failed: {e}");
                return;
            }
            Err(_) => {
                tracing::info!(%peer, "handshake timed out after {} ms", shared.config.handshake_timeout_ms);
                return;
            }
        },
    };
    connection::serve(ws, shared, id, peer).await;
    drop(permit);
}

/// A server running on the current tokio runtime.
#[derive(Debug)]
pub struct ServerHandle {
    /// The address it listens on (the real port when started on port 0).
    pub addr: SocketAddr,
    pub shutdown: CancellationToken,
    pub task: tokio::task::JoinHandle<()>,
}

impl ServerHandle {
    /// The WebSocket URL clients connect to.
    pub fn url(&self) -> String {
        format!("ws://{}{}", self.addr, handshake::WS_PATH)
    }

    /// Cancels and waits for the server to finish closing.
    pub async fn stop(self) {
        self.shutdown.cancel();
        let _ = self.task.await;
    }
}

/// Binds `config.listen` and serves in a new task.
pub async fn spawn(config: Config) -> std::io::Result<ServerHandle> {
    let listener = TcpListener::bind(config.listen).await?;
    let addr = listener.local_addr()?;
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(run(listener, config, shutdown.clone()));
    Ok(ServerHandle {
        addr,
        shutdown,
        task,
    })
}

/// A server running on its own thread and single-threaded runtime, for embedding in an
/// application that must not share its runtime (the terminal).
#[derive(Debug)]
pub struct ThreadedServer {
    pub addr: SocketAddr,
    shutdown: CancellationToken,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ThreadedServer {
    /// Binds `config.listen` and serves on a new thread.
    pub fn start(config: Config) -> std::io::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let std_listener = std::net::TcpListener::bind(config.listen)?;
        std_listener.set_nonblocking(true)?;
        let addr = std_listener.local_addr()?;
        let shutdown = CancellationToken::new();
        let token = shutdown.clone();
        let thread = std::thread::Builder::new()
            .name("feed-server".into())
            .spawn(move || {
                runtime.block_on(async move {
                    match TcpListener::from_std(std_listener) {
                        Ok(listener) => run(listener, config, token).await,
                        Err(e) => tracing::error!("embedded feed server cannot listen: {e}"),
                    }
                });
            })?;
        Ok(Self {
            addr,
            shutdown,
            thread: Some(thread),
        })
    }

    pub fn url(&self) -> String {
        format!("ws://{}{}", self.addr, handshake::WS_PATH)
    }
}

impl Drop for ThreadedServer {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
