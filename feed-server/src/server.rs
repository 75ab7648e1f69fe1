//! The accept loop, the shared state connections see, and handles to run a server in-process.
//!
//! The hub task is supervised: if it ever ends while the server is not shutting down (a bug, a
//! panic), the server logs why, closes every client with 1011 and [`run`] returns an error, so an
//! operator's supervisor restarts the process instead of it running on half-alive.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use protocol::{SourceInfo, close_code};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::hub::{Command, Hub};
use crate::metrics::Metrics;
use crate::session::Ending;
use crate::tls::Tls;
use crate::universe::Universe;
use crate::{connection, edge, handshake, pacer, source};
use protocol::Token;

/// What every connection task reads.
#[derive(Debug)]
pub struct Shared {
    pub config: Config,
    pub universe: Arc<Universe>,
    /// What `hello` says about where events come from.
    pub source: SourceInfo,
    /// Commands to the hub. Bounded: a connection waits when the hub is busy.
    pub hub: mpsc::Sender<Command>,
    pub shutdown: CancellationToken,
    /// Connection slots (`--max-connections`), taken when a handshake is accepted.
    pub connections: Arc<Semaphore>,
    pub ws_config: WebSocketConfig,
    /// Why the server failed, once it has: connections then close with 1011, not 1001.
    pub failure: OnceLock<String>,
    pub metrics: Arc<Metrics>,
    /// `--tls-cert`/`--tls-self-signed`: every socket starts with a TLS handshake.
    pub tls: Option<Tls>,
    /// `--order-token`: orders need an `auth` first.
    pub order_token: Option<Token>,
}

impl Shared {
    /// Whether the server failed: the supervisor said so, or the hub is gone while nobody asked
    /// it to stop (a connection can see that before the supervisor does).
    pub fn failed(&self) -> bool {
        self.failure.get().is_some() || (self.hub.is_closed() && !self.shutdown.is_cancelled())
    }

    /// How a connection ends when the server stops: 1001, or 1011 if it failed.
    pub fn ending_on_shutdown(&self) -> Ending {
        if self.failed() {
            Ending::server(
                close_code::INTERNAL,
                "internal server error; the server is stopping",
            )
        } else {
            Ending::server(close_code::GOING_AWAY, "server shutting down")
        }
    }
}

/// Why [`run`] returned without being asked to.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    /// The hub task ended unexpectedly; clients were closed with 1011. Restart the server and
    /// report the logged cause.
    #[error("the market hub failed: {0}")]
    HubFailed(String),
    /// The source cannot start or cannot go on: a recording that cannot be read (`FILE:LINE:
    /// what is wrong`), or the pacing thread could not start.
    #[error("{0}")]
    Source(String),
    /// A setting cannot be used: a certificate or token file that cannot be read, say.
    #[error("{0}")]
    Config(String),
}

/// How long shutdown waits for connections to finish their close handshakes.
const DRAIN_TIMEOUT: Duration = Duration::from_millis(1_500);

/// The WebSocket settings every connection uses.
fn ws_config(config: &Config) -> WebSocketConfig {
    let max_message = config.max_message();
    // The write buffer holds a queue's worth of frames plus a reply or echo of the largest message.
    let max_write = config
        .queue_byte_limit()
        .saturating_add(max_message.saturating_mul(2))
        .max(16 * 1024 * 1024);
    // Client messages are small: a 1 KiB read buffer (which the reader zeroes, so it is resident
    // in every connection that ever sent a message) holds half a dozen orders; a larger message gets
    // the room it needs for its own read.
    WebSocketConfig::default()
        .read_buffer_size(1024)
        .write_buffer_size(64 * 1024)
        .max_write_buffer_size(max_write)
        .max_message_size(Some(max_message))
        .max_frame_size(Some(max_message))
}

/// Serves WebSocket clients on `listener` until `shutdown` is cancelled, then closes every
/// connection with 1001 and returns (within about 1.5 s). Returns an error if the hub failed.
/// TLS, if `config` asks for it, is set up here; see [`run_with`] to set it up beforehand.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: CancellationToken,
) -> Result<(), ServerError> {
    let port = listener.local_addr().map_or(0, |a| a.port());
    let tls = Tls::from_config(&config, port).map_err(ServerError::Config)?;
    run_with(listener, config, tls, shutdown).await
}

/// [`run`] with TLS already set up (the binary makes its certificate before it says where).
pub async fn run_with(
    listener: TcpListener,
    config: Config,
    tls: Option<Tls>,
    shutdown: CancellationToken,
) -> Result<(), ServerError> {
    let order_token = config.order_token().map_err(ServerError::Config)?;
    let source::Opened {
        universe,
        source,
        origin_ns,
        mut info,
    } = source::open(&config).map_err(|e| ServerError::Source(e.to_string()))?;
    let universe = Arc::new(universe);
    let (hub_tx, hub_rx) = mpsc::channel(4_096);
    let (events_tx, events_rx) = mpsc::channel(EVENT_BATCHES);
    let metrics = Arc::new(Metrics::new());
    let hub = Hub::new(universe.clone(), &config, metrics.clone());
    let origin = pacer::Origin::now(origin_ns);
    if info.kind == "replay" {
        info.replay_start_ns = Some(origin.wall_ns);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let (failed_tx, failed_rx) = oneshot::channel();
    let pacer = pacer::spawn(
        source,
        pacer::Pacing {
            speed: config.speed,
            window: config.batch_us.map(Duration::from_micros),
            realtime: config.realtime_pacer,
        },
        origin,
        events_tx,
        stop.clone(),
        failed_tx,
        metrics.clone(),
    )
    .map_err(|e| ServerError::Source(format!("cannot start the pacing thread: {e}")))?;
    let hub_task = tokio::spawn(hub.run(hub_rx, events_rx, shutdown.clone()));
    let mut shared = Shared::new(config, universe, info, hub_tx, shutdown, metrics);
    shared.tls = tls;
    shared.order_token = order_token;
    let shared = Arc::new(shared);
    let result = supervise(listener, shared, hub_task, failed_rx).await;
    stop.store(true, Ordering::Relaxed);
    // The pacer sleeps at most 50 ms at a time: it ends promptly.
    let _ = tokio::task::spawn_blocking(move || pacer.join()).await;
    result
}

/// Batches of due events the pacer may be ahead of the hub by; `--speed max` waits on it.
const EVENT_BATCHES: usize = 256;

impl Shared {
    fn new(
        config: Config,
        universe: Arc<Universe>,
        source: SourceInfo,
        hub: mpsc::Sender<Command>,
        shutdown: CancellationToken,
        metrics: Arc<Metrics>,
    ) -> Self {
        Self {
            universe,
            source,
            hub,
            shutdown,
            connections: Arc::new(Semaphore::new(config.max_connections)),
            ws_config: ws_config(&config),
            failure: OnceLock::new(),
            metrics,
            tls: None,
            order_token: None,
            config,
        }
    }
}

/// The accept loop, watching the hub task: returns on shutdown, or with an error once the hub
/// ended unasked (after every connection was closed with 1011).
async fn supervise(
    listener: TcpListener,
    shared: Arc<Shared>,
    mut hub_task: JoinHandle<()>,
    mut source_failed: oneshot::Receiver<String>,
) -> Result<(), ServerError> {
    let shutdown = shared.shutdown.clone();
    let handshakes = Arc::new(Semaphore::new(
        usize::try_from(shared.config.max_handshakes).unwrap_or(256),
    ));
    let tracker = TaskTracker::new();
    let next_id = AtomicU64::new(1);
    let mut failed = None;
    let mut source_running = true;

    loop {
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => break,
            why = &mut source_failed, if source_running => {
                // A closed channel is a source that ended or stopped normally.
                source_running = false;
                if let Ok(why) = why {
                    tracing::error!("{why}; closing every client with 1011 and stopping");
                    let _ = shared.failure.set(why.clone());
                    shutdown.cancel();
                    failed = Some(ServerError::Source(why));
                    break;
                }
                continue;
            }
            ended = &mut hub_task => {
                // On shutdown the hub stops too; only an ending nobody asked for is a failure.
                if shutdown.is_cancelled() && matches!(ended, Ok(())) {
                    break;
                }
                let why = match ended {
                    Ok(()) => "the hub task returned".to_owned(),
                    Err(e) if e.is_panic() => format!("the hub task panicked: {}", panic_message(e.into_panic().as_ref())),
                    Err(e) => format!("the hub task was cancelled: {e}"),
                };
                tracing::error!("{why}; closing every client with 1011 and stopping");
                let _ = shared.failure.set(why.clone());
                shutdown.cancel();
                failed = Some(ServerError::HubFailed(why));
                break;
            }
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
        let Ok(permit) = handshakes.clone().try_acquire_owned() else {
            tracing::debug!(%peer, "too many handshakes in progress; refused");
            shared.metrics.refused("busy");
            let _ = stream.try_write(edge::BUSY_RESPONSE);
            continue;
        };
        let id = next_id.fetch_add(1, Ordering::Relaxed);
        tracker.spawn(accept(stream, peer, shared.clone(), permit, id));
    }
    tracker.close();
    // While connections close, new requests are still answered: `/healthz` with 503, so that a
    // load balancer sees the server going, and handshakes with 503.
    let drained = tokio::time::timeout(DRAIN_TIMEOUT, async {
        let mut done = std::pin::pin!(tracker.wait());
        loop {
            tokio::select! {
                () = &mut done => break,
                accepted = listener.accept() => {
                    let Ok((stream, peer)) = accepted else { continue };
                    let Ok(permit) = handshakes.clone().try_acquire_owned() else { continue };
                    let id = next_id.fetch_add(1, Ordering::Relaxed);
                    tokio::spawn(tokio::time::timeout(DRAIN_TIMEOUT, accept(stream, peer, shared.clone(), permit, id)));
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
    hub_task.abort();
    match failed {
        Some(error) => Err(error),
        None => Ok(()),
    }
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned())
}

async fn accept(
    stream: TcpStream,
    peer: SocketAddr,
    shared: Arc<Shared>,
    handshake_permit: OwnedSemaphorePermit,
    id: u64,
) {
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!(%peer, "set_nodelay failed: {e}");
    }
    #[cfg(target_os = "linux")]
    if let Err(e) =
        socket2::SockRef::from(&stream).set_tcp_notsent_lowat(shared.config.unsent_bytes)
    {
        tracing::debug!(%peer, "TCP_NOTSENT_LOWAT failed: {e}");
    }
    // Sockets accepted while the server drains are answered, not dropped.
    let draining = shared.shutdown.is_cancelled();
    let shutdown = async {
        if draining {
            std::future::pending::<()>().await;
        } else {
            shared.shutdown.cancelled().await;
        }
    };
    let upgraded = tokio::select! {
        () = shutdown => return,
        result = tokio::time::timeout(shared.config.handshake_timeout(), exchange(stream, &shared)) => match result {
            Ok(Ok(upgraded)) => upgraded,
            Ok(Err(edge::NoUpgrade::Served(what))) => {
                tracing::debug!(%peer, "served {what}");
                return;
            }
            Ok(Err(edge::NoUpgrade::Refused(why))) => {
                tracing::info!(%peer, "handshake refused or failed: {why}");
                return;
            }
            Err(_) => {
                shared.metrics.refused("timeout");
                tracing::info!(%peer, "handshake timed out after {} ms", shared.config.handshake_timeout_ms);
                return;
            }
        },
    };
    drop(handshake_permit);
    connection::serve(upgraded, shared, id, peer).await;
}

/// The TLS handshake if the server has TLS, then the HTTP exchange.
async fn exchange(
    stream: TcpStream,
    shared: &Arc<Shared>,
) -> Result<edge::Upgraded, edge::NoUpgrade> {
    let Some(tls) = &shared.tls else {
        return edge::handshake(stream, shared).await;
    };
    match tls.acceptor.accept(stream).await {
        Ok(stream) => edge::handshake(stream, shared).await,
        Err(e) => {
            shared.metrics.refused("tls");
            Err(edge::NoUpgrade::Refused(format!(
                "TLS handshake failed: {e} (a plain http:// or ws:// client on a TLS port?)"
            )))
        }
    }
}

/// A server running on the current tokio runtime.
#[derive(Debug)]
pub struct ServerHandle {
    /// The address it listens on (the real port when started on port 0).
    pub addr: SocketAddr,
    pub shutdown: CancellationToken,
    pub task: tokio::task::JoinHandle<Result<(), ServerError>>,
}

impl ServerHandle {
    /// The WebSocket URL clients connect to.
    pub fn url(&self) -> String {
        format!("ws://{}{}", self.addr, handshake::WS_PATH)
    }

    /// The base of the server's HTTP address (`http://HOST:PORT`), for `/healthz` and the page.
    pub fn http_url(&self) -> String {
        format!("http://{}", self.addr)
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
    /// Why the server stopped, if it stopped by itself.
    failure: Arc<std::sync::Mutex<Option<String>>>,
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
        let failure = Arc::new(std::sync::Mutex::new(None));
        let failed = failure.clone();
        let thread = std::thread::Builder::new()
            .name("feed-server".into())
            .spawn(move || {
                let outcome = runtime.block_on(async move {
                    match TcpListener::from_std(std_listener) {
                        Ok(listener) => run(listener, config, token)
                            .await
                            .map_err(|e| e.to_string()),
                        Err(e) => Err(format!("cannot listen: {e}")),
                    }
                });
                if let Err(why) = outcome {
                    tracing::error!("embedded feed server stopped: {why}");
                    *failed
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(why);
                }
            })?;
        Ok(Self {
            addr,
            shutdown,
            thread: Some(thread),
            failure,
        })
    }

    /// Why the server stopped by itself (a failed source or hub), if it did.
    pub fn failure(&self) -> Option<String> {
        self.failure
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SymbolChoice;
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;

    #[tokio::test]
    async fn a_failed_hub_closes_clients_with_1011_and_the_server_reports_it() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let config = Config::default();
        let universe = Arc::new(Universe::new(&SymbolChoice::Default, 1));
        let (hub_tx, mut hub_rx) = mpsc::channel(16);
        // A hub that serves connections, then fails on the first subscription.
        let hub_task = tokio::spawn(async move {
            let mut connected = Vec::new();
            while let Some(command) = hub_rx.recv().await {
                match command {
                    Command::Connect { outlet, .. } => connected.push(outlet),
                    Command::Subscribe { .. } => panic!("injected hub failure"),
                    _ => {}
                }
            }
        });
        let info = crate::source::open(&config).unwrap().info;
        let shared = Arc::new(Shared::new(
            config,
            universe,
            info,
            hub_tx,
            CancellationToken::new(),
            Arc::default(),
        ));
        let (_source_ok, source_failed) = oneshot::channel();
        let server = tokio::spawn(supervise(listener, shared, hub_task, source_failed));
        let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
            .await
            .unwrap();
        ws.send(Message::text(r#"{"type":"subscribe","symbols":["AAPL"]}"#))
            .await
            .unwrap();
        let close = loop {
            match ws.next().await {
                Some(Ok(Message::Close(frame))) => break frame,
                Some(Ok(_)) => {}
                other => panic!("no Close frame: {other:?}"),
            }
        };
        assert_eq!(close.map(|f| u16::from(f.code)), Some(close_code::INTERNAL));
        let ended = tokio::time::timeout(Duration::from_secs(5), server)
            .await
            .unwrap()
            .unwrap();
        assert!(
            matches!(&ended, Err(ServerError::HubFailed(why)) if why.contains("injected hub failure")),
            "{ended:?}"
        );
    }
}
