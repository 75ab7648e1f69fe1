//! `feed-server --ingest tickwire:URL`: a relay of another Tickwire server. Its clients keep
//! their connection, their `seq`s and their books in sync while the link to the upstream is cut
//! (the relay resumes in the same epoch: the upstream counts the resume) and while the upstream
//! is replaced by a new one (a new epoch: the relay starts afresh). While the upstream is down,
//! clients are told which symbols are stale (`status`).
#![allow(clippy::unwrap_used)]

mod support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use feed_server::Config;
use feed_server::ingest::{IngestArgs, Spec};
use protocol::book::{BookStep, Books};
use protocol::{Sequence, ServerMessage, Step};
use support::{Client, config, start};
use tokio::net::{TcpListener, TcpStream};

/// A TCP proxy whose connections can be cut and whose target can change.
struct Proxy {
    addr: SocketAddr,
    target: Arc<Mutex<SocketAddr>>,
    links: Arc<Mutex<Vec<tokio::task::JoinHandle<()>>>>,
    accept: tokio::task::JoinHandle<()>,
    /// Connections accepted so far.
    accepted: Arc<std::sync::atomic::AtomicUsize>,
}

impl Proxy {
    async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let target = Arc::new(Mutex::new(target));
        let links = Arc::new(Mutex::new(Vec::new()));
        let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (t, l, n) = (target.clone(), links.clone(), accepted.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let to = *t.lock().unwrap();
                let link = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(to).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                l.lock().unwrap().push(link);
            }
        });
        Self {
            addr,
            target,
            links,
            accept,
            accepted,
        }
    }

    /// Drops every connection through the proxy, as a network failure would.
    fn cut(&self) {
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    fn retarget(&self, to: SocketAddr) {
        *self.target.lock().unwrap() = to;
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.cut();
        self.accept.abort();
    }
}

/// Reads `updates` book updates of AAPL, checking every book message and every quote `seq`.
async fn follow(client: &mut Client, books: &mut Books, quotes: &mut Sequence, updates: usize) {
    let mut seen = 0;
    while seen < updates {
        let message = client.next().await;
        match &message {
            ServerMessage::Book(_) | ServerMessage::BookUpdate(_) => {
                assert_eq!(books.apply(&message), Some(BookStep::InSync), "{message:?}");
                if matches!(message, ServerMessage::BookUpdate(_)) {
                    seen += 1;
                }
            }
            ServerMessage::Snapshot(s) => {
                assert_eq!(quotes.snapshot(s.seq), Step::First, "one snapshot only");
            }
            ServerMessage::Quote(q) => assert_eq!(quotes.event(q.seq), Step::Next),
            ServerMessage::Trade(t) => assert_eq!(quotes.event(t.seq), Step::Next),
            _ => {}
        }
    }
}

async fn metric(server: &feed_server::ServerHandle, line: &str) -> u64 {
    let request = "GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    let (_, body) = support::raw::http(server.addr, request.as_bytes()).await;
    body.lines()
        .find_map(|l| l.strip_prefix(line).map(|v| v.trim().parse().unwrap_or(0)))
        .unwrap_or(0)
}

/// The stale symbols of the next `status` that has some (`stale`) or none.
async fn next_status(client: &mut Client, stale: bool) -> Vec<protocol::Symbol> {
    client
        .until(|m| match m {
            ServerMessage::Status(s) if s.stale.is_empty() != stale => Some(s.stale),
            _ => None,
        })
        .await
}

/// A loopback address nothing listens on.
fn nowhere() -> SocketAddr {
    let socket = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    socket.local_addr().unwrap()
}

/// A relay of whatever the proxy leads to.
fn relay_of(proxy: &Proxy) -> Config {
    Config {
        ingest: IngestArgs {
            specs: vec![
                format!("tickwire:ws://{}/ws", proxy.addr)
                    .parse::<Spec>()
                    .unwrap(),
            ],
            ingest_start_timeout_ms: 5_000,
            ..IngestArgs::default()
        },
        ..config()
    }
}

fn upstream() -> Config {
    Config {
        synth: feed_server::SynthArgs {
            rate: 1_000,
            ..feed_server::SynthArgs::default()
        },
        ..config()
    }
}

#[tokio::test]
async fn relay_clients_keep_their_connection_through_a_cut_link_and_a_new_upstream() {
    let first = start(upstream()).await;
    let proxy = Proxy::start(first.addr).await;
    let relay = start(relay_of(&proxy)).await;
    let mut client = Client::connect(&relay).await;
    let hello = client
        .until(|m| match m {
            ServerMessage::Hello(h) => Some(h),
            _ => None,
        })
        .await;
    // The upstream's symbols as they are.
    assert!(
        hello.symbols.iter().any(|s| s.as_str() == "AAPL"),
        "{:?}",
        hello.symbols
    );
    assert_eq!(
        hello.source.unwrap().venues,
        Some(vec!["TICKWIRE".to_owned()])
    );
    client
        .send(&support::books::books(&["AAPL"], Some(10), true))
        .await;
    let mut books = Books::new(10);
    let mut quotes = Sequence::new();
    follow(&mut client, &mut books, &mut quotes, 100).await;

    // The link drops: the relay resumes in the same epoch.
    proxy.cut();
    follow(&mut client, &mut books, &mut quotes, 200).await;
    assert!(metric(&first, "tickwire_resumes_total ").await >= 1);
    assert!(
        metric(
            &first,
            r#"tickwire_resumed_symbols_total{how="book_recovered"} "#
        )
        .await
            >= 1,
        "the relay's books resumed"
    );

    // A new upstream (a new epoch) takes the old one's place: the relay starts afresh.
    let second = start(upstream()).await;
    proxy.retarget(second.addr);
    first.stop().await;
    proxy.cut();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while metric(&second, "tickwire_connections ").await == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the relay never reached the new upstream"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    follow(&mut client, &mut books, &mut quotes, 200).await;
    // Another epoch: a fresh subscribe, no resume.
    assert_eq!(metric(&second, "tickwire_resumes_total ").await, 0);
    let request = "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    let (_, body) = support::raw::http(relay.addr, request.as_bytes()).await;
    let health: serde_json::Value =
        serde_json::from_str(body.split_once("\r\n\r\n").unwrap().1).unwrap();
    assert_eq!(health["ingest"][0]["venue"], "tickwire");
    assert!(
        health["ingest"][0]["reconnects"].as_u64().unwrap() >= 2,
        "{health}"
    );
    tokio::time::timeout(Duration::from_secs(10), relay.stop())
        .await
        .unwrap();
    second.stop().await;
}

#[tokio::test]
async fn relay_clients_are_told_which_symbols_are_stale_while_the_upstream_is_down() {
    let first = start(upstream()).await;
    let proxy = Proxy::start(first.addr).await;
    // Two edges: the core's hub tells its own clients, and the other edge's through its queue.
    let relay = start(Config {
        edges: 2,
        ..relay_of(&proxy)
    })
    .await;
    let mut client = Client::connect(&relay).await;
    let hello = client
        .until(|m| match m {
            ServerMessage::Hello(h) => Some(h),
            _ => None,
        })
        .await;
    client
        .send(&protocol::ClientMessage::Subscribe(
            protocol::Subscribe::to(vec!["AAPL".into()]),
        ))
        .await;
    client
        .until(|m| matches!(m, ServerMessage::Quote(_)).then_some(()))
        .await;
    // More clients while the link is up (no `status` after their `hello`), over both edges.
    let mut others = Vec::new();
    for _ in 0..7 {
        let mut other = Client::connect(&relay).await;
        other
            .until(|m| matches!(m, ServerMessage::Hello(_)).then_some(()))
            .await;
        others.push(other);
    }

    // The upstream goes away for good: every relayed symbol is stale.
    proxy.retarget(nowhere());
    proxy.cut();
    for c in std::iter::once(&mut client).chain(&mut others) {
        assert_eq!(next_status(c, true).await, hello.symbols);
    }
    // A client that connects now is told right after `hello`.
    let mut late = Client::connect(&relay).await;
    assert!(matches!(late.next().await, ServerMessage::Hello(_)));
    match late.next().await {
        ServerMessage::Status(s) => assert_eq!(s.stale, hello.symbols),
        other => panic!("{other:?}"),
    }

    // It comes back: live again, and quotes flow.
    proxy.retarget(first.addr);
    for c in std::iter::once(&mut client).chain(&mut others) {
        assert_eq!(next_status(c, false).await, Vec::<protocol::Symbol>::new());
    }
    client
        .until(|m| matches!(m, ServerMessage::Quote(_)).then_some(()))
        .await;
    tokio::time::timeout(Duration::from_secs(10), relay.stop())
        .await
        .unwrap();
    first.stop().await;
}

#[tokio::test]
async fn a_relay_whose_upstream_is_down_at_start_waits_for_it_and_then_serves() {
    let proxy = Proxy::start(nowhere()).await;
    let mut config = relay_of(&proxy);
    // Long past for a venue with its own symbol list; an upstream is waited for.
    config.ingest.ingest_start_timeout_ms = 0;
    let relay = start(config).await;
    // It keeps asking (250 ms, then 500 ms apart) ...
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while proxy.accepted.load(std::sync::atomic::Ordering::Relaxed) < 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the relay stopped asking"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // ... and once the upstream is there, serves its symbols.
    let upstream = start(upstream()).await;
    proxy.retarget(upstream.addr);
    let mut client = Client::connect(&relay).await;
    let hello = client
        .until(|m| match m {
            ServerMessage::Hello(h) => Some(h),
            _ => None,
        })
        .await;
    assert!(hello.symbols.iter().any(|s| s.as_str() == "AAPL"));
    client
        .send(&protocol::ClientMessage::Subscribe(
            protocol::Subscribe::to(vec!["AAPL".into()]),
        ))
        .await;
    client
        .until(|m| matches!(m, ServerMessage::Quote(_)).then_some(()))
        .await;
    tokio::time::timeout(Duration::from_secs(10), relay.stop())
        .await
        .unwrap();
    upstream.stop().await;
}
