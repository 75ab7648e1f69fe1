//! Running a server: assembles the feed (source and pacer), the hub with its market core and
//! fan-out, and the edge, then supervises them. Also the handles to run a server in-process
//! ([`spawn`], [`ThreadedServer`]). Nothing else imports this file. `cluster.rs`: a core and its
//! edges in separate processes, joined by NATS.
//!
//! The hub task is supervised: if it ever ends while the server is not shutting down (a bug, a
//! panic), the server logs why, closes every client with 1011 and [`run`] returns an error, so an
//! operator's supervisor restarts the process instead of it running on half-alive.

pub mod cluster;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use protocol::{SourceInfo, Token};

use crate::bus::nats::{BusSettings, core_link, hello};
use crate::bus::{ToCore, ToEdge};
use crate::config::Config;
use crate::edge::Command;
use crate::edge::follower::Follower;
use crate::edge::handshake::WS_PATH;
use crate::edge::sockets::{AcceptMode, Sockets, Unstarted};
use crate::edge::tls::Tls;
use crate::edge::{self, Edge};
use crate::feed::universe::Universe;
use crate::feed::{self, pacer};
use crate::hub::Hub;
use crate::market::View;
use crate::metrics::Metrics;
use crate::shutdown::Shutdown;

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

/// Serves WebSocket clients on `listener` until `shutdown` is cancelled, then closes every
/// connection with 1001 and returns (within about 1.5 s). Returns an error if the hub failed.
/// TLS, if `config` asks for it, is set up here; see [`run_with`] to set it up beforehand.
pub async fn run(
    listener: TcpListener,
    config: Config,
    shutdown: CancellationToken,
) -> Result<(), ServerError> {
    let port = listener.local_addr().map_or(0, |a| a.port());
    let tls = config.tls(port).map_err(ServerError::Config)?;
    run_with(listener, config, tls, shutdown).await
}

/// [`run`] with TLS already set up (the binary makes its certificate before it says where).
pub async fn run_with(
    listener: TcpListener,
    config: Config,
    tls: Option<Tls>,
    shutdown: CancellationToken,
) -> Result<(), ServerError> {
    serve(Some(listener), config, tls, None, shutdown).await
}

/// A market core that also feeds edges over a NATS bus.
pub struct CoreBus {
    pub client: async_nats::Client,
    pub settings: BusSettings,
}

/// Serves: clients on `listener` if there is one, edges over `bus` if there is one.
pub(crate) async fn serve(
    listener: Option<TcpListener>,
    config: Config,
    tls: Option<Tls>,
    bus: Option<CoreBus>,
    shutdown: CancellationToken,
) -> Result<(), ServerError> {
    let order_token = config.order_token().map_err(ServerError::Config)?;
    let (universe, source, origin_ns, mut info, carries_books) = if config.ingest.enabled() {
        let opened = match crate::ingest::open(&config.ingest, &shutdown).await {
            Ok(opened) => opened,
            // Stopped while waiting for a venue: not a failure.
            Err(_) if shutdown.is_cancelled() => return Ok(()),
            Err(why) => return Err(ServerError::Source(why)),
        };
        // Live books carry every change themselves, like a recording's book lines.
        (
            opened.universe,
            Feed::Live(opened.live),
            0,
            opened.info,
            true,
        )
    } else {
        let opened =
            feed::open(&config.source()).map_err(|e| ServerError::Source(e.to_string()))?;
        (
            opened.universe,
            Feed::Paced(opened.source),
            opened.origin_ns,
            opened.info,
            opened.carries_books,
        )
    };
    let universe = Arc::new(universe);
    let (hub_tx, hub_rx) = mpsc::channel(COMMANDS);
    let (events_tx, events_rx) = mpsc::channel(EVENT_BATCHES);
    let metrics = Arc::new(Metrics::new());
    // Edges beyond the first: a queue from the core to each, one from all of them to the core.
    let others = usize::try_from(config.edges.saturating_sub(1)).unwrap_or(0);
    let (to_core, from_edges) = mpsc::channel(COMMANDS);
    let (mut to_edges, edge_queues): (Vec<_>, Vec<_>) =
        (0..others).map(|_| mpsc::channel(EDGE_BATCHES)).unzip();
    // The bus is one more edge to the hub, after the local ones.
    let bus_queue = bus.as_ref().map(|_| {
        let (tx, rx) = mpsc::channel(EDGE_BATCHES);
        to_edges.push(tx);
        rx
    });
    // The recorder follows the core like one more edge, after the bus.
    let record_queue = config.record.as_ref().map(|_| {
        let (tx, rx) = mpsc::channel(EDGE_BATCHES);
        to_edges.push(tx);
        rx
    });
    let settings = crate::market::CoreSettings {
        touch_from_quotes: !carries_books,
        ..config.core()
    };
    // A live source says which symbols' venue stream is down; the hub tells the clients.
    let stale = match &source {
        Feed::Live(live) => Some(live.stale()),
        Feed::Paced(_) => None,
    };
    let mut hub = Hub::new(universe.clone(), settings, metrics.clone()).with_remotes(to_edges);
    if let Some(stale) = &stale {
        hub = hub.with_stale(stale.clone());
    }
    let epoch = hub.epoch().to_owned();
    let origin = pacer::Origin::now(origin_ns);
    if info.kind == "replay" {
        info.replay_start_ns = Some(origin.wall_ns);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let (failed_tx, failed_rx) = oneshot::channel();
    let shutdown = Arc::new(Shutdown::new(shutdown));
    let (pacer, venues) = match source {
        Feed::Paced(source) => {
            let pacer = pacer::spawn(
                source,
                pacer::Pacing {
                    // Edges over the bus batch what arrives together; their clients are theirs.
                    local_clients: bus.is_none(),
                    ..config.pacing()
                },
                origin,
                events_tx,
                stop.clone(),
                failed_tx,
                metrics.clone(),
            )
            .map_err(|e| ServerError::Source(format!("cannot start the pacing thread: {e}")))?;
            (Some(pacer), Vec::new())
        }
        // A venue that fails is retried, never a reason to stop: `failed_tx` is never sent.
        Feed::Live(live) => {
            let venues = live.spawn(&events_tx, &metrics.ingest, shutdown.token());
            drop(failed_tx);
            (None, venues)
        }
    };
    let recorder = match (&config.record, record_queue) {
        (Some(path), Some(queue)) => {
            let settings = crate::recorder::RecordSettings {
                path: path.clone(),
                rotate: config.record_rotate,
                created_by: format!(
                    "feed-server {} --record {}",
                    env!("CARGO_PKG_VERSION"),
                    path.display()
                ),
                origin: match &info.file {
                    Some(file) => format!("{} {file}", info.kind),
                    None => info.kind.clone(),
                },
            };
            Some(
                crate::recorder::spawn(settings, universe.clone(), queue)
                    .map_err(|e| ServerError::Config(format!("cannot start the recorder: {e}")))?,
            )
        }
        _ => None,
    };
    let hub_task = tokio::spawn(hub.run(hub_rx, events_rx, from_edges, shutdown.token().clone()));
    let bus_task = match (bus, bus_queue) {
        (Some(CoreBus { client, settings }), Some(queue)) => {
            let hello = hello::Hello::new(&epoch, &info, &universe);
            Some(tokio::spawn(core_link::run(
                client,
                settings,
                hello,
                others + 1,
                universe.clone(),
                queue,
                to_core.clone(),
                metrics.clone(),
                shutdown.token().clone(),
            )))
        }
        _ => None,
    };
    let greeting = Greeting {
        universe,
        source: info,
        epoch,
        order_token,
        stale,
    };
    let capacity = edge::Capacity::new(&config.edge(), &metrics);
    // The first edge's sockets, and each other edge's: its own listener on the port, or what
    // the first edge deals it.
    let (mut sockets, beside): (Option<Sockets>, Vec<std::io::Result<Unstarted>>) = match listener {
        Some(listener) if others > 0 && config.accept == AcceptMode::RoundRobin => {
            let (dealer, queues) = Sockets::dealer(listener, others);
            let dealt = queues
                .into_iter()
                .map(|q| Ok(Unstarted::Dealt(q)))
                .collect();
            (Some(dealer), dealt)
        }
        Some(listener) => {
            let own = (0..others)
                .map(|_| bind_beside(&listener, &config).map(Unstarted::Listener))
                .collect();
            (Some(Sockets::Listener(listener)), own)
        }
        None => {
            let none = (0..others)
                .map(|_| Err(std::io::Error::other("no --listen address")))
                .collect();
            (None, none)
        }
    };
    let mut threads = Vec::with_capacity(others);
    for (k, (queue, its_sockets)) in edge_queues.into_iter().zip(beside).enumerate() {
        let started = Other {
            index: k + 1,
            sockets: its_sockets,
            queue,
            to_core: to_core.clone(),
        }
        .spawn(
            &config,
            &greeting,
            &shutdown,
            &metrics,
            tls.as_ref(),
            &capacity,
        );
        match started {
            Ok(thread) => threads.push(thread),
            Err(e) => {
                shutdown.fail(format!("cannot start edge {}: {e}", k + 1));
                break;
            }
        }
    }
    drop(to_core);
    let edge = make_edge(
        0,
        &config,
        &greeting,
        hub_tx,
        shutdown.clone(),
        metrics,
        tls,
        capacity,
    );
    let accepting = async {
        match &mut sockets {
            Some(sockets) => edge::accept::run(sockets, edge).await,
            None => shutdown.stopping().await,
        }
    };
    let result = supervise(accepting, &shutdown, hub_task, failed_rx).await;
    if let Some(task) = bus_task {
        let _ = task.await;
    }
    stop.store(true, Ordering::Relaxed);
    // The pacer sleeps at most 50 ms at a time, and the other edges drain like this one: they
    // end promptly.
    for venue in venues {
        let _ = venue.await;
    }
    let _ = tokio::task::spawn_blocking(move || {
        if let Some(pacer) = pacer {
            let _ = pacer.join();
        }
        for thread in threads {
            let _ = thread.join();
        }
        // The hub is gone, so the recorder's queue has closed: it finishes its file.
        if let Some(recorder) = recorder {
            let _ = recorder.join();
        }
    })
    .await;
    result
}

/// Where a server's events come from: a source the pacer times, or live venues.
enum Feed {
    Paced(Box<dyn feed::source::Source>),
    Live(crate::ingest::Live),
}

/// Requests from connections (and from other edges) the core may be behind by.
const COMMANDS: usize = 4_096;
/// Batches of events the core may be ahead of another edge by; then it waits for that edge.
const EDGE_BATCHES: usize = 1_024;

/// An edge beyond the first, before its thread starts.
struct Other {
    index: usize,
    sockets: std::io::Result<Unstarted>,
    queue: mpsc::Receiver<ToEdge>,
    to_core: mpsc::Sender<ToCore>,
}

impl Other {
    /// Starts the edge on its own thread and runtime: its accept loop on its sockets, and its
    /// follower of the core's events.
    fn spawn(
        self,
        config: &Config,
        greeting: &Greeting,
        shutdown: &Arc<Shutdown>,
        metrics: &Arc<Metrics>,
        tls: Option<&Tls>,
        capacity: &edge::Capacity,
    ) -> std::io::Result<std::thread::JoinHandle<()>> {
        let Self {
            index,
            sockets,
            queue,
            to_core,
        } = self;
        let sockets = sockets?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (commands_tx, commands_rx) = mpsc::channel(COMMANDS);
        let universe = greeting.universe.clone();
        let settings = config.core();
        let view = View::new(
            &universe,
            greeting.epoch.clone(),
            settings.history,
            settings.max_resume_events,
            metrics.clone(),
        );
        let follower = Follower::new(universe, view, to_core, metrics.clone(), true);
        let edge = make_edge(
            index,
            config,
            greeting,
            commands_tx,
            shutdown.clone(),
            metrics.clone(),
            tls.cloned(),
            capacity.clone(),
        );
        let token = shutdown.token().clone();
        std::thread::Builder::new()
            .name(format!("tickwire-edge-{index}"))
            .spawn(move || {
                runtime.block_on(async move {
                    let mut sockets = match sockets.start() {
                        Ok(sockets) => sockets,
                        Err(e) => {
                            tracing::error!(edge = index, "cannot listen: {e}");
                            return;
                        }
                    };
                    let following = tokio::spawn(follower.run(queue, commands_rx, token));
                    edge::accept::run(&mut sockets, edge).await;
                    let _ = following.await;
                });
            })
    }
}

/// What a connection's `hello` and handler say about the server.
#[derive(Clone)]
struct Greeting {
    universe: Arc<Universe>,
    source: SourceInfo,
    epoch: String,
    order_token: Option<Token>,
    /// Which symbols' source is stale, where the source can say.
    stale: Option<tokio::sync::watch::Receiver<crate::bitset::BitSet>>,
}

/// Edge `index` of a server: its settings from `config`, forwarding to `hub` (the hub itself for
/// edge 0, the edge's follower for the others).
#[allow(clippy::too_many_arguments)] // each is a distinct part the edge is built from
fn make_edge(
    index: usize,
    config: &Config,
    greeting: &Greeting,
    hub: mpsc::Sender<Command>,
    shutdown: Arc<Shutdown>,
    metrics: Arc<Metrics>,
    tls: Option<Tls>,
    capacity: edge::Capacity,
) -> Arc<Edge> {
    let Greeting {
        universe,
        source,
        epoch,
        order_token,
        stale,
    } = greeting.clone();
    let mut context = config.context(universe, source, epoch, order_token, metrics.clone());
    context.stale = stale;
    Arc::new(Edge::new(
        index,
        config.edge(),
        context,
        hub,
        shutdown,
        metrics,
        tls,
        capacity,
    ))
}

/// Batches of due events the pacer may be ahead of the hub by; `--speed max` waits on it.
const EVENT_BATCHES: usize = 256;

/// Runs the edge's accept loop while watching the hub task and the source: returns once the
/// edge has stopped and drained, with an error if the hub or the source failed (every
/// connection was then closed with 1011).
async fn supervise(
    accepting: impl Future<Output = ()>,
    shutdown: &Shutdown,
    mut hub_task: JoinHandle<()>,
    mut source_failed: oneshot::Receiver<String>,
) -> Result<(), ServerError> {
    let mut accepting = std::pin::pin!(accepting);
    let mut failed = None;
    let (mut source_running, mut hub_running) = (true, true);
    loop {
        tokio::select! {
            () = &mut accepting => break,
            why = &mut source_failed, if source_running => {
                // A closed channel is a source that ended or stopped normally.
                source_running = false;
                if let Ok(why) = why {
                    tracing::error!("{why}; closing every client with 1011 and stopping");
                    shutdown.fail(why.clone());
                    failed.get_or_insert(ServerError::Source(why));
                }
            }
            ended = &mut hub_task, if hub_running => {
                hub_running = false;
                // On shutdown the hub stops too; only an ending nobody asked for is a failure.
                if shutdown.is_stopping() && matches!(ended, Ok(())) {
                    continue;
                }
                let why = match ended {
                    Ok(()) => "the hub task returned".to_owned(),
                    Err(e) if e.is_panic() => format!("the hub task panicked: {}", panic_message(e.into_panic().as_ref())),
                    Err(e) => format!("the hub task was cancelled: {e}"),
                };
                tracing::error!("{why}; closing every client with 1011 and stopping");
                shutdown.fail(why.clone());
                failed.get_or_insert(ServerError::HubFailed(why));
            }
        }
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
        format!("ws://{}{}", self.addr, WS_PATH)
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

/// Binds `config.listen` with the listen backlog `--listen-backlog` asks for (tokio's default is
/// 1,024). Must be called inside a tokio runtime. Logs when the kernel caps the backlog lower.
pub fn listen(config: &Config) -> std::io::Result<TcpListener> {
    let std_listener = bind(config)?;
    TcpListener::from_std(std_listener)
}

/// [`listen`] as a std listener (non-blocking), for a runtime that is not started yet.
fn bind(config: &Config) -> std::io::Result<std::net::TcpListener> {
    let listener = bind_at(config.listen, config)?;
    if let Some(cap) = somaxconn()
        && cap < u64::from(config.listen_backlog)
    {
        tracing::warn!(
            "--listen-backlog {} is capped by the kernel at {cap} (net.core.somaxconn); raise it with `sysctl -w net.core.somaxconn={}` for bursts of reconnects",
            config.listen_backlog,
            config.listen_backlog
        );
    }
    Ok(listener)
}

/// Another edge's listener on the same address and port as `first`'s.
fn bind_beside(first: &TcpListener, config: &Config) -> std::io::Result<std::net::TcpListener> {
    bind_at(first.local_addr()?, config)
}

fn bind_at(addr: SocketAddr, config: &Config) -> std::io::Result<std::net::TcpListener> {
    bind_shared(
        addr,
        config,
        config.edges > 1 && config.accept == AcceptMode::ReusePort,
    )
}

/// Binds `addr`, sharing the port with other listeners when `reuse_port` (edges of one server,
/// or edge processes started with `--reuse-port`).
fn bind_shared(
    addr: SocketAddr,
    config: &Config,
    reuse_port: bool,
) -> std::io::Result<std::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    // A restarted server takes its port back while old connections linger in TIME_WAIT.
    socket.set_reuse_address(true)?;
    // Several edges listen on one port; the kernel spreads connections over them.
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    let backlog = i32::try_from(config.listen_backlog).unwrap_or(i32::MAX);
    socket.listen(backlog)?;
    Ok(socket.into())
}

/// The kernel's cap on listen backlogs, where it says.
fn somaxconn() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Binds `config.listen` and serves in a new task.
pub async fn spawn(config: Config) -> std::io::Result<ServerHandle> {
    let listener = listen(&config)?;
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
        let std_listener = bind(&config)?;
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
        format!("ws://{}{}", self.addr, WS_PATH)
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
    use futures_util::{SinkExt, StreamExt};
    use protocol::close_code;
    use std::time::Duration;
    use tokio_tungstenite::tungstenite::Message;

    #[tokio::test]
    async fn a_failed_hub_closes_clients_with_1011_and_the_server_reports_it() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let config = Config::default();
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
        let opened = feed::open(&config.source()).unwrap();
        let greeting = Greeting {
            universe: Arc::new(opened.universe),
            source: opened.info,
            epoch: "1".to_owned(),
            order_token: None,
            stale: None,
        };
        let shutdown = Arc::new(Shutdown::default());
        let metrics: Arc<Metrics> = Arc::default();
        let capacity = edge::Capacity::new(&config.edge(), &metrics);
        let edge = make_edge(
            0,
            &config,
            &greeting,
            hub_tx,
            shutdown.clone(),
            metrics,
            None,
            capacity,
        );
        let (_source_ok, source_failed) = oneshot::channel();
        let server = tokio::spawn(async move {
            supervise(
                edge::accept::run(&mut Sockets::Listener(listener), edge),
                &shutdown,
                hub_task,
                source_failed,
            )
            .await
        });
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
