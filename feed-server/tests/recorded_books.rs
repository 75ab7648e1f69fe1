//! Recordings with books (format version 2): `generate` writes a `book` per symbol and a
//! `book_update` per change, every checksum right; a replay streams exactly those books to
//! clients over real sockets, and orders fill against them level by level.
#![allow(clippy::unwrap_used)]

mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use feed_server::generate::{GenerateArgs, generate};
use feed_server::{Config, SymbolChoice};
use protocol::book::{BookStep, Books, OrderBook};
use protocol::recording::{MarketEvent, Speed, read_all};
use protocol::{ClientMessage, Decimal, Decoder, Order, ServerMessage, Side};
use support::books::books;
use support::{Client, config, start};
use tokio::time::Instant;

fn generated(dir: &Path, name: &str, seed: u64) -> PathBuf {
    generated_at(dir, name, seed, 400)
}

/// Two seconds of AAPL and MSFT at `rate` quotes and trades and `rate` book changes a second.
fn generated_at(dir: &Path, name: &str, seed: u64, rate: u64) -> PathBuf {
    let out = dir.join(name);
    generate(&GenerateArgs {
        synth: feed_server::SynthArgs {
            symbols: SymbolChoice::List(vec!["AAPL".into(), "MSFT".into()]),
            rate,
            book_rate: rate,
            seed,
        },
        duration: Duration::from_secs(2),
        start: None,
        out: out.clone(),
    })
    .unwrap();
    out
}

/// Each symbol's book at the end of a recording, from its lines, by the client's rules.
fn final_books(file: &Path) -> Books {
    let text = std::fs::read_to_string(file).unwrap();
    let mut decoder = Decoder::new();
    let mut books = Books::new(1_000);
    for line in text.lines().skip(1) {
        let mut out = Vec::new();
        decoder.server_frame(line.as_bytes(), &mut out).unwrap();
        if let Some(step) = books.apply(&out[0]) {
            assert_eq!(step, BookStep::InSync, "{line}");
        }
    }
    books
}

type Levels = Vec<(Decimal, Decimal)>;

fn top(book: &OrderBook, depth: usize) -> (Levels, Levels) {
    (
        book.bids().take(depth).map(|(p, s)| (*p, *s)).collect(),
        book.asks().take(depth).map(|(p, s)| (*p, *s)).collect(),
    )
}

#[test]
fn generate_writes_version_2_with_a_book_per_symbol_and_every_change() {
    let dir = tempfile::tempdir().unwrap();
    let a = generated(dir.path(), "a.jsonl", 3);
    let b = generated(dir.path(), "b.jsonl", 3);
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    // The reader checks every book line's seq and checksum on the way.
    let (header, events) = read_all(&a).unwrap();
    assert_eq!((header.version, header.book_depth), (2, Some(1_000)));
    let levels = events
        .iter()
        .filter(|e| matches!(e.event, MarketEvent::Level { .. }))
        .count();
    let quotes = events
        .iter()
        .filter(|e| matches!(e.event, MarketEvent::Quote { .. }))
        .count();
    // 800 book changes besides each quote's touch and refills, and the opening books.
    assert!(levels > 800 + 100, "{levels} level events");
    assert!(quotes > 500, "{quotes} quotes");
    let text = std::fs::read_to_string(&a).unwrap();
    let kinds: Vec<&str> = text
        .lines()
        .skip(1)
        .take(3)
        .map(|l| &l[9..l[9..].find('"').unwrap() + 9])
        .collect();
    assert_eq!(kinds, ["book", "book", "quote"], "the books open the file");
    // Opening books 50 levels deep a side.
    let books = final_books(&a);
    for (symbol, book) in books.iter() {
        assert!(book.bids().count() >= 50, "{symbol}");
        assert!(book.asks().count() >= 50, "{symbol}");
    }
}

#[test]
fn a_book_line_that_does_not_add_up_is_refused_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let good = generated(dir.path(), "g.jsonl", 4);
    let text = std::fs::read_to_string(&good).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let n = lines
        .iter()
        .position(|l| l.starts_with("{\"type\":\"book_update\""))
        .unwrap();
    let cases = [
        (
            // A checksum the book does not have.
            with_checksum(&lines[n], 7),
            "does not match the book",
        ),
        (lines[n].replacen("\"seq\":", "\"seq\":9", 1), "was next"),
    ];
    for (i, (line, why)) in cases.into_iter().enumerate() {
        let saved = std::mem::replace(&mut lines[n], line);
        let bad = dir.path().join(format!("bad{i}.jsonl"));
        std::fs::write(&bad, lines.join("\n") + "\n").unwrap();
        let error = read_all(&bad).unwrap_err().to_string();
        assert!(
            error.starts_with(&format!("{}:{}: ", bad.display(), n + 1)) && error.contains(why),
            "{error}"
        );
        lines[n] = saved;
    }
    // A version-1 file has no book lines.
    let v1 = dir.path().join("v1.jsonl");
    let header = lines[0].replace("\"version\":2", "\"version\":1");
    let header = header.replace(",\"book_depth\":1000", "");
    std::fs::write(&v1, format!("{header}\n{}\n", lines[1])).unwrap();
    let error = read_all(&v1).unwrap_err().to_string();
    assert!(
        error.contains(":2: a `book` line in a recording whose header has no book_depth"),
        "{error}"
    );
}

fn with_checksum(line: &str, checksum: u32) -> String {
    let at = line.find("\"checksum\":").unwrap() + "\"checksum\":".len();
    let digits = line[at..].find(|c: char| !c.is_ascii_digit()).unwrap();
    format!("{}{checksum}{}", &line[..at], &line[at + digits..])
}

fn replay(file: &Path) -> Config {
    Config {
        replay: Some(file.to_owned()),
        speed: Speed::Factor(2.0),
        looping: false,
        ..config()
    }
}

#[tokio::test]
async fn a_replay_streams_the_recorded_books_exactly_and_orders_walk_them() {
    let dir = tempfile::tempdir().unwrap();
    let file = generated(dir.path(), "r.jsonl", 5);
    let expected = final_books(&file);
    let server = start(replay(&file)).await;
    let mut client = Client::connect(&server).await;
    client.send(&books(&["AAPL", "MSFT"], Some(50), true)).await;
    // Every update must be in sync until both books are the recording's last ones.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut mine = Books::new(50);
    let mut updates = 0;
    let done = |mine: &Books| {
        expected.iter().all(|(symbol, want)| {
            mine.get(symbol)
                .is_some_and(|got| top(got, 50) == top(want, 50))
        })
    };
    while !done(&mine) {
        assert!(
            Instant::now() < deadline,
            "the books never ended as recorded"
        );
        let message = client.next().await;
        let Some(step) = mine.apply(&message) else {
            continue;
        };
        assert_eq!(step, BookStep::InSync, "{message:?}");
        updates += 1;
    }
    assert!(updates > 100, "{updates} book messages");
    // A market buy of exactly the five best asks takes each at its recorded price and size.
    let asks = top(expected.get("AAPL").unwrap(), 5).1;
    let qty: Decimal = asks.iter().map(|(_, s)| *s).sum();
    client
        .send(&ClientMessage::Order(Order {
            id: "walk".into(),
            symbol: "AAPL".into(),
            side: Side::Buy,
            qty,
            price: None,
            sent_ns: None,
        }))
        .await;
    let mut fills = Vec::new();
    while fills.len() < asks.len() {
        assert!(Instant::now() < deadline, "fills: {fills:?}");
        match client.next().await {
            ServerMessage::Fill(f) => fills.push((f.price, f.qty)),
            ServerMessage::Reject(r) => panic!("{r:?}"),
            ServerMessage::Canceled(c) => panic!("{c:?}"),
            _ => {}
        }
    }
    assert_eq!(fills, asks);
    server.stop().await;
}

#[tokio::test]
async fn a_replayed_book_is_the_recordings_even_where_a_quote_disagrees_with_it() {
    // The quote says 9 at the best bid, the book 5 (a quote and a book from different feeds):
    // the replayed book stays the recording's.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("h.jsonl");
    let start_ns = 1_767_364_200_000_000_000u64;
    let book = protocol::Book {
        symbol: "AAPL".into(),
        seq: 1,
        bids: vec![
            protocol::Level(Decimal::new(10000, 2), Decimal::from(5)),
            protocol::Level(Decimal::new(9999, 2), Decimal::from(7)),
        ],
        asks: vec![protocol::Level(Decimal::new(10001, 2), Decimal::from(3))],
        checksum: 0,
        ts_ns: start_ns,
    };
    let mut check = OrderBook::new(10);
    let BookStep::Mismatch { computed, .. } = check.apply(&book, true) else {
        panic!("checksum 0 cannot be right");
    };
    let lines = [
        format!(
            r#"{{"format":"tickwire-recording","version":2,"source":"import","symbols":[{{"symbol":"AAPL","tick_size":"0.01","lot_size":"1","prev_close":"100.00"}}],"start_ns":{start_ns},"created_by":"a test","book_depth":10}}"#
        ),
        protocol::encode_server(&ServerMessage::Book(protocol::Book {
            checksum: computed,
            ..book
        })),
        format!(
            r#"{{"type":"quote","symbol":"AAPL","seq":1,"bid":"100.00","bid_size":"9","ask":"100.01","ask_size":"3","ts_ns":{start_ns}}}"#
        ),
        // After everything else: when it arrives, the book has had every event before it.
        format!(
            r#"{{"type":"trade","symbol":"AAPL","seq":2,"price":"100.01","size":"1","ts_ns":{}}}"#,
            start_ns + 2_000_000_000
        ),
    ];
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let server = start(replay(&file)).await;
    let mut client = Client::connect(&server).await;
    client.send(&books(&["AAPL"], Some(10), true)).await;
    let mut mine = OrderBook::new(10);
    loop {
        match client.next().await {
            ServerMessage::Book(b) => assert_eq!(mine.apply(&b, true), BookStep::InSync),
            ServerMessage::BookUpdate(b) => assert_eq!(mine.apply(&b, false), BookStep::InSync),
            ServerMessage::Trade(_) => break,
            _ => {}
        }
    }
    assert_eq!(
        top(&mine, 10),
        (
            vec![
                (Decimal::new(10000, 2), Decimal::from(5)),
                (Decimal::new(9999, 2), Decimal::from(7))
            ],
            vec![(Decimal::new(10001, 2), Decimal::from(3))]
        )
    );
    server.stop().await;
}

#[tokio::test]
async fn a_looping_replay_carries_each_book_into_the_next_pass() {
    let dir = tempfile::tempdir().unwrap();
    // A light file: the tests' debug build serves it many passes over without falling behind.
    let file = generated_at(dir.path(), "l.jsonl", 6, 50);
    let book_lines = std::fs::read_to_string(&file)
        .unwrap()
        .lines()
        .filter(|l| l.contains("\"type\":\"book"))
        .count();
    // At 4x a pass of the 2-second file takes 0.5 s. A client sees at most one update per
    // book line of a pass (its window's share of them, and one for each opening `book` line
    // of the next pass), so following more updates than the pass has lines crosses into the
    // next, whose opening `book` lines replace the books in place.
    let server = start(Config {
        speed: Speed::Factor(4.0),
        looping: true,
        ..replay(&file)
    })
    .await;
    let mut client = Client::connect(&server).await;
    client
        .send(&books(&["AAPL", "MSFT"], Some(10), false))
        .await;
    let (books, _) = support::books::follow(&mut client, 10, book_lines + 1).await;
    assert_eq!(books.len(), 2);
    // Each pass's opening `book` lines reach the client as fresh `book`s, in step with the
    // updates around them: two more passes give each symbol two more.
    let mut books = books;
    let mut fresh = std::collections::HashMap::<String, usize>::new();
    while fresh.len() < 2 || fresh.values().any(|&n| n < 2) {
        let message = client.next().await;
        if let ServerMessage::Book(b) = &message {
            *fresh.entry(b.symbol.to_string()).or_default() += 1;
        }
        if let Some(step) = books.apply(&message) {
            assert_eq!(step, BookStep::InSync, "{message:?}");
        }
    }
    server.stop().await;
}

#[test]
fn the_committed_samples_read_whole() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../recordings");
    let (header, events) = read_all(&root.join("synthetic-20-symbols-60s.jsonl.zst")).unwrap();
    assert_eq!((header.version, events.len()), (1, 120_000));
    let (header, events) = read_all(&root.join("synthetic-5-symbols-30s-books.jsonl.zst")).unwrap();
    assert_eq!(
        (header.version, header.book_depth, header.symbols.len()),
        (2, Some(1_000), 5)
    );
    assert!(events.len() > 50_000, "{}", events.len());
}
