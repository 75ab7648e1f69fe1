//! Resuming after a reconnect, over real sockets: a client that drops its connection and comes
//! back with the `seq`s it holds gets exactly the events it missed, then live ones, with no
//! snapshot; what cannot be resumed gets a snapshot, and bad resumes change nothing.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use feed_server::{Config, SynthArgs};
use protocol::{ClientMessage, ErrorCode, Resume, Resumed, ServerMessage, Subscribe, Symbol};
use support::{Client, config, start};

fn server_config(rate: u64) -> Config {
    Config {
        synth: SynthArgs {
            rate,
            ..SynthArgs::default()
        },
        ..config()
    }
}

fn subscribe(symbols: &[&str], resume: Option<Resume>) -> ClientMessage {
    ClientMessage::Subscribe(Subscribe::resuming(
        symbols.iter().map(|s| Symbol::from(*s)).collect(),
        resume,
    ))
}

/// The epoch of a connection's `hello`.
async fn hello_epoch(client: &mut Client) -> String {
    let ServerMessage::Hello(hello) = client.next().await else {
        panic!("hello first")
    };
    hello.epoch.expect("the server names its epoch")
}

/// Reads `events` live events after the snapshots, checking every `seq`; returns the last `seq`
/// of each symbol and every event seen by `(symbol, seq)`.
async fn follow(
    client: &mut Client,
    events: usize,
    seen: &mut HashMap<(Symbol, u64), ServerMessage>,
) -> BTreeMap<Symbol, u64> {
    let mut last: BTreeMap<Symbol, u64> = BTreeMap::new();
    let mut live = 0;
    while live < events {
        let m = client.next().await;
        let Some((symbol, seq)) = m.market_seq() else {
            continue;
        };
        let symbol = Symbol::from(symbol);
        if !matches!(m, ServerMessage::Snapshot(_)) {
            if let Some(&before) = last.get(&symbol) {
                assert_eq!(seq, before + 1, "{symbol}: {seq} after {before}");
            }
            live += 1;
            seen.insert((symbol.clone(), seq), m);
        }
        last.insert(symbol, seq);
    }
    last
}

fn resumed(m: ServerMessage) -> Resumed {
    match m {
        ServerMessage::Resumed(r) => r,
        other => panic!("`resumed` first, not {other:?}"),
    }
}

/// A well-behaved subscriber to everything that never disconnects: what every event was.
async fn witness(
    server: &feed_server::ServerHandle,
) -> tokio::task::JoinHandle<HashMap<(Symbol, u64), ServerMessage>> {
    let mut client = Client::connect(server).await;
    client.next().await;
    client.send(&subscribe(&["*"], None)).await;
    tokio::spawn(async move {
        let mut seen = HashMap::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
        while tokio::time::Instant::now() < deadline {
            let m = client.next().await;
            if let Some((symbol, seq)) = m.market_seq()
                && !matches!(m, ServerMessage::Snapshot(_))
            {
                seen.insert((Symbol::from(symbol), seq), m);
            }
        }
        seen
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_client_resumes_with_exactly_what_it_missed_while_events_flow() {
    let server = start(server_config(20_000)).await;
    let witness = witness(&server).await;
    let mut first = Client::connect(&server).await;
    let epoch = hello_epoch(&mut first).await;
    first.send(&subscribe(&["*"], None)).await;
    let mut seen = HashMap::new();
    let held = follow(&mut first, 2_000, &mut seen).await;
    // The socket goes without a Close, as a network failure would take it.
    drop(first);
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut second = Client::connect(&server).await;
    assert_eq!(
        hello_epoch(&mut second).await,
        epoch,
        "the same server session"
    );
    let resume = Resume::quotes(epoch.clone(), held.clone());
    second.send(&subscribe(&["*"], Some(resume))).await;
    let r = resumed(second.next().await);
    assert_eq!((r.recovered_count, r.snapshot_count), (20, 0), "{r:?}");
    assert!(r.snapshot.is_empty() && r.recovered.len() == 16, "{r:?}");

    // Every symbol continues from the seq it held: the missed events in order, then live ones.
    let mut last = held.clone();
    let mut replayed = 0u64;
    let mut after = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_millis(800);
    while tokio::time::Instant::now() < deadline {
        let m = second.next().await;
        assert!(
            !matches!(m, ServerMessage::Snapshot(_)),
            "no snapshot on a resume: {m:?}"
        );
        let Some((symbol, seq)) = m.market_seq() else {
            continue;
        };
        let before = last[symbol];
        assert_eq!(seq, before + 1, "{symbol}: {seq} after {before}");
        last.insert(Symbol::from(symbol), seq);
        replayed += 1;
        after.push(m);
    }
    assert!(replayed > 6_000, "{replayed} events after the resume");
    // The missed events are the ones everybody else got, exactly.
    let everything = witness.await.unwrap();
    let mut compared = 0;
    for m in &after {
        let (symbol, seq) = m.market_seq().unwrap();
        if let Some(theirs) = everything.get(&(Symbol::from(symbol), seq)) {
            assert_eq!(m, theirs);
            compared += 1;
        }
    }
    assert!(
        compared > 5_000,
        "{compared} events compared with the witness"
    );
    server.stop().await;
}

#[tokio::test]
async fn another_epoch_gets_snapshots_of_the_new_one() {
    let first_server = start(server_config(2_000)).await;
    let addr = first_server.addr;
    let mut client = Client::connect(&first_server).await;
    let old = hello_epoch(&mut client).await;
    client.send(&subscribe(&["AAPL", "MSFT"], None)).await;
    let held = follow(&mut client, 20, &mut HashMap::new()).await;
    first_server.stop().await;

    // The server restarts on the same port.
    let restarted = start(Config {
        listen: addr,
        ..server_config(2_000)
    })
    .await;
    let mut client = Client::connect(&restarted).await;
    let new = hello_epoch(&mut client).await;
    assert_ne!(new, old, "a restart is a new epoch");
    let resume = Resume::quotes(old, held);
    client
        .send(&subscribe(&["AAPL", "MSFT"], Some(resume)))
        .await;
    let r = resumed(client.next().await);
    assert_eq!((r.recovered_count, r.snapshot_count), (0, 2), "{r:?}");
    for _ in 0..2 {
        assert!(matches!(client.next().await, ServerMessage::Snapshot(_)));
    }
    restarted.stop().await;
}

#[tokio::test]
async fn trimmed_history_ahead_seqs_and_unnamed_symbols_get_snapshots_and_the_rest_resumes() {
    let server = start(Config {
        synth: symbols_only(&["AAPL", "MSFT", "NVDA", "KO"]),
        history_events: 50,
        ..server_config(2_000)
    })
    .await;
    let mut client = Client::connect(&server).await;
    let epoch = hello_epoch(&mut client).await;
    client.send(&subscribe(&["*"], None)).await;
    let held = follow(&mut client, 400, &mut HashMap::new()).await;
    drop(client);

    let mut client = Client::connect(&server).await;
    assert_eq!(hello_epoch(&mut client).await, epoch);
    // AAPL resumes from where it was; MSFT from far back (trimmed: only 50 events are kept);
    // NVDA from a seq the server has not reached; KO is not named.
    let from: BTreeMap<Symbol, u64> = [
        ("AAPL".into(), held["AAPL"]),
        ("MSFT".into(), 1),
        ("NVDA".into(), held["NVDA"] + 1_000_000),
    ]
    .into_iter()
    .collect();
    client
        .send(&subscribe(
            &["AAPL", "MSFT", "NVDA", "KO"],
            Some(Resume::quotes(epoch, from)),
        ))
        .await;
    let r = resumed(client.next().await);
    assert_eq!(r.recovered, ["AAPL"], "{r:?}");
    assert_eq!(r.snapshot, ["MSFT", "NVDA", "KO"], "{r:?}");
    assert_eq!((r.recovered_count, r.snapshot_count), (1, 3));
    let mut snapshots = Vec::new();
    let mut aapl = held["AAPL"];
    while snapshots.len() < 3 || aapl < held["AAPL"] + 5 {
        match client.next().await {
            ServerMessage::Snapshot(s) => {
                assert_ne!(s.symbol, "AAPL", "AAPL resumes without a snapshot");
                snapshots.push(s.symbol);
            }
            m => {
                if let Some(("AAPL", seq)) = m.market_seq() {
                    assert_eq!(seq, aapl + 1);
                    aapl = seq;
                }
            }
        }
    }
    snapshots.sort();
    assert_eq!(snapshots, ["KO", "MSFT", "NVDA"]);
    server.stop().await;
}

/// A config serving only these symbols.
fn symbols_only(symbols: &[&str]) -> SynthArgs {
    SynthArgs {
        symbols: feed_server::SymbolChoice::List(symbols.iter().map(|s| (*s).to_owned()).collect()),
        rate: 2_000,
        ..SynthArgs::default()
    }
}

#[tokio::test]
async fn a_resume_past_the_event_budget_sends_snapshots_for_the_rest() {
    let server = start(Config {
        max_resume_events: 150,
        ..server_config(4_000)
    })
    .await;
    let mut client = Client::connect(&server).await;
    let epoch = hello_epoch(&mut client).await;
    client.send(&subscribe(&["*"], None)).await;
    let held = follow(&mut client, 200, &mut HashMap::new()).await;
    drop(client);
    // About 200 events a second per symbol: each missed about 100 by now.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut client = Client::connect(&server).await;
    hello_epoch(&mut client).await;
    let named = held.len() as u64;
    assert_eq!(named, 20);
    client
        .send(&subscribe(
            &["*"],
            Some(Resume::quotes(epoch, held.clone())),
        ))
        .await;
    let r = resumed(client.next().await);
    assert_eq!(r.recovered_count + r.snapshot_count, 20, "{r:?}");
    assert!(r.recovered_count >= 1 && r.recovered_count < named, "{r:?}");
    // What was recovered continues without a gap; the rest starts from snapshots.
    let recovered: Vec<Symbol> = r.recovered.clone();
    let mut from = held.clone();
    let mut snapshots = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_millis(500);
    while snapshots < r.snapshot_count || tokio::time::Instant::now() < deadline {
        let m = client.next().await;
        match &m {
            ServerMessage::Snapshot(s) => {
                assert!(!recovered.contains(&s.symbol), "{} was recovered", s.symbol);
                snapshots += 1;
            }
            _ => {
                if let Some((symbol, seq)) = m.market_seq()
                    && recovered.iter().any(|s| s == symbol)
                {
                    assert_eq!(seq, from[symbol] + 1, "{symbol}");
                    from.insert(symbol.into(), seq);
                }
            }
        }
    }
    assert_eq!(snapshots, r.snapshot_count);
    // The history sent again stays within the budget (give or take the events that fell due
    // between the plan and its pass).
    let (_, metrics) =
        support::raw::http(server.addr, b"GET /metrics HTTP/1.1\r\nhost: x\r\n\r\n").await;
    let replayed: u64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("tickwire_replayed_events_total "))
        .and_then(|v| v.trim().parse().ok())
        .expect("the replay counter");
    assert!(
        (1..=150 + 20).contains(&replayed),
        "{replayed} events replayed"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_resume_that_cannot_be_used_is_an_error_and_changes_nothing() {
    let server = start(server_config(2_000)).await;
    let mut client = Client::connect(&server).await;
    let epoch = hello_epoch(&mut client).await;
    for bad in [
        // Malformed: `from` is not an object, a seq that is not a u64.
        r#"{"type":"subscribe","symbols":["AAPL"],"resume":{"epoch":"1","from":[1,2]}}"#.to_owned(),
        r#"{"type":"subscribe","symbols":["AAPL"],"resume":{"epoch":"1","from":{"AAPL":-1}}}"#.to_owned(),
        r#"{"type":"subscribe","symbols":["AAPL"],"resume":{"epoch":"1","from":{"AAPL":1.5}}}"#.to_owned(),
        r#"{"type":"subscribe","symbols":["AAPL"],"resume":{"epoch":"1","from":{"AAPL":18446744073709551616}}}"#.to_owned(),
        r#"{"type":"subscribe","symbols":["AAPL"],"resume":{"from":{"AAPL":1}}}"#.to_owned(),
        // A symbol this subscribe does not name.
        format!(r#"{{"type":"subscribe","symbols":["AAPL"],"resume":{{"epoch":"{epoch}","from":{{"MSFT":1}}}}}}"#),
        // More symbols than the server has.
        format!(
            r#"{{"type":"subscribe","symbols":["*"],"resume":{{"epoch":"{epoch}","from":{{{}}}}}}}"#,
            (0..21).map(|i| format!(r#""S{i}":1"#)).collect::<Vec<_>>().join(",")
        ),
    ] {
        client.raw(&bad).await;
        match client.next().await {
            ServerMessage::Error(e) => assert_eq!(e.code, ErrorCode::BadRequest, "{bad}: {e:?}"),
            other => panic!("{bad}: {other:?}"),
        }
    }
    // Nothing was subscribed: the next message is the answer to a ping.
    client.raw(r#"{"type":"ping","sent_ns":7}"#).await;
    assert!(matches!(client.next().await, ServerMessage::Pong(p) if p.sent_ns == 7));
    // Unknown symbols are named as ever, and the rest resumes.
    client
        .raw(&format!(
            r#"{{"type":"subscribe","symbols":["AAPL","ZZZ"],"resume":{{"epoch":"{epoch}","from":{{"ZZZ":1}}}}}}"#
        ))
        .await;
    match client.next().await {
        ServerMessage::Error(e) => assert_eq!(e.code, ErrorCode::UnknownSymbol),
        other => panic!("{other:?}"),
    }
    let r = resumed(client.next().await);
    assert_eq!((r.recovered_count, r.snapshot_count), (0, 1), "{r:?}");
    assert!(matches!(client.next().await, ServerMessage::Snapshot(s) if s.symbol == "AAPL"));
    server.stop().await;
}
