//! Order books over real sockets: a `book` then `book_update`s rebuild the server's book exactly
//! (every checksum verified) at 20,000 events a second, in the suite's encoding; the depth
//! truncates; quotes keep their own `seq`; bad channels and depths are refused.
#![allow(clippy::unwrap_used)]

mod support;

use feed_server::{Config, SynthArgs};
use protocol::book::BookStep;
use protocol::{Channel, ClientMessage, ErrorCode, ServerMessage};
use support::books::{books, follow};
use support::{Client, config, start};

fn busy() -> Config {
    Config {
        synth: SynthArgs {
            rate: 10_000,
            book_rate: 10_000,
            ..SynthArgs::default()
        },
        ..config()
    }
}

#[tokio::test]
async fn books_and_updates_rebuild_the_book_with_every_checksum_right() {
    let server = start(busy()).await;
    let mut client = Client::connect(&server).await;
    client.send(&books(&["AAPL", "MSFT"], None, false)).await;
    let (books, quotes) = follow(&mut client, 10, 3_000).await;
    assert_eq!(books.len(), 2);
    assert!(
        quotes.iter().all(|m| m.market_seq().is_none()),
        "a book-only client gets no quotes: {quotes:?}"
    );
    for (symbol, book) in books.iter() {
        assert!(book.bids().count() >= 3, "{symbol}");
        assert!(book.asks().count() >= 3, "{symbol}");
        let (bid, ask) = (book.bids().next().unwrap().0, book.asks().next().unwrap().0);
        assert!(bid < ask, "{symbol} is crossed: {bid} / {ask}");
    }
}

#[tokio::test]
async fn a_small_depth_is_kept_exactly_and_quotes_keep_their_own_seq() {
    let server = start(busy()).await;
    let mut client = Client::connect(&server).await;
    client.send(&books(&["AAPL"], Some(3), true)).await;
    let (books, quotes) = follow(&mut client, 3, 2_000).await;
    assert!(books.get("AAPL").unwrap().bids().count() <= 3);
    // The quote stream's seqs run on by one, untouched by the book's.
    let seqs: Vec<u64> = quotes
        .iter()
        .filter_map(|m| m.market_seq().map(|(_, seq)| seq))
        .collect();
    assert!(seqs.len() > 10, "{} quote-stream messages", seqs.len());
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
    // The book's top is the last quote's, once both have caught up with the same event: the
    // client checks it where the last message of a read is a quote.
}

#[tokio::test]
async fn subscribing_again_sends_a_fresh_book_and_unsubscribing_the_book_keeps_quotes() {
    let server = start(busy()).await;
    let mut client = Client::connect(&server).await;
    client.send(&books(&["AAPL"], Some(5), true)).await;
    follow(&mut client, 5, 200).await;
    client.send(&books(&["AAPL"], Some(20), false)).await;
    let fresh = client
        .until(|m| match m {
            ServerMessage::Book(b) if b.bids.len() > 5 => Some(b),
            _ => None,
        })
        .await;
    assert!(fresh.asks.len() > 5 && fresh.asks.len() <= 20);
    client
        .send(&ClientMessage::Unsubscribe(protocol::Unsubscribe {
            symbols: vec!["AAPL".into()],
            channels: Some(vec![Channel::Book]),
        }))
        .await;
    // Quotes go on; book updates stop (those already queued aside).
    let mut quotes_after = 0;
    let mut books_late = 0;
    while quotes_after < 300 {
        match client.next().await {
            ServerMessage::BookUpdate(_) if quotes_after > 100 => books_late += 1,
            ServerMessage::Quote(_) | ServerMessage::Trade(_) => quotes_after += 1,
            _ => {}
        }
    }
    assert_eq!(books_late, 0);
}

#[tokio::test]
async fn bad_channels_and_depths_are_refused_and_change_nothing() {
    let server = start(busy()).await;
    let mut client = Client::connect(&server).await;
    for (text, code) in [
        (
            r#"{"type":"subscribe","symbols":["AAPL"],"channels":["candles"]}"#,
            ErrorCode::BadChannel,
        ),
        (
            r#"{"type":"subscribe","symbols":["AAPL"],"channels":[]}"#,
            ErrorCode::BadChannel,
        ),
        (
            r#"{"type":"subscribe","symbols":["AAPL"],"channels":["book"],"depth":0}"#,
            ErrorCode::BadDepth,
        ),
        (
            r#"{"type":"subscribe","symbols":["AAPL"],"channels":["book"],"depth":51}"#,
            ErrorCode::BadDepth,
        ),
    ] {
        client.raw(text).await;
        let error = client
            .until(|m| match m {
                ServerMessage::Error(e) => Some(e),
                ServerMessage::Hello(_) => None,
                other => panic!("{other:?} after a refused subscribe"),
            })
            .await;
        assert_eq!(error.code, code, "{text}");
    }
}

/// A subscription to AAPL's book at depth 10 that resumes from book `seq` `from` of `epoch`.
fn resume_book(epoch: &str, from: u64) -> ClientMessage {
    ClientMessage::Subscribe(protocol::Subscribe {
        channels: Some(vec![Channel::Book]),
        depth: Some(10),
        resume: Some(protocol::Resume {
            epoch: epoch.to_owned(),
            from: std::collections::BTreeMap::new(),
            book_from: [("AAPL".into(), from)].into(),
        }),
        ..protocol::Subscribe::to(vec!["AAPL".into()])
    })
}

#[tokio::test]
async fn a_resumed_book_gets_the_updates_it_missed_and_one_past_history_a_fresh_book() {
    // 2,000 events of history: enough that a busy machine's reconnect (the next connection
    // resumes some hundreds of events later) stays within it.
    let server = start(Config {
        history_events: 2_000,
        ..busy()
    })
    .await;
    let mut first = Client::connect(&server).await;
    let epoch = match first.next().await {
        ServerMessage::Hello(h) => h.epoch.unwrap(),
        other => panic!("{other:?}"),
    };
    first.send(&books(&["AAPL"], Some(10), false)).await;
    let (held, _) = follow(&mut first, 10, 300).await;
    let mut book = held.get("AAPL").unwrap().clone();
    let from = book.seq().unwrap();
    drop(first);

    // The next connection names the book seq it holds: the updates after it come, no `book`
    // (beside a subscription to every symbol's quotes, as the terminal and the page make).
    let mut second = Client::connect(&server).await;
    second
        .send(&ClientMessage::Subscribe(protocol::Subscribe::to(vec![
            "*".into(),
        ])))
        .await;
    second.send(&resume_book(&epoch, from)).await;
    let mut applied = 0;
    while applied < 300 {
        match second.next().await {
            ServerMessage::Book(b) => panic!(
                "a fresh book at seq {} instead of the updates after {from}",
                b.seq
            ),
            ServerMessage::BookUpdate(u) => {
                if applied == 0 {
                    assert_eq!(
                        u.seq,
                        from + 1,
                        "the first update is the one after the resume point"
                    );
                }
                assert_eq!(book.apply(&u, false), BookStep::InSync, "seq {}", u.seq);
                applied += 1;
            }
            _ => {}
        }
    }

    // Past the 2,000 events history keeps, or from another epoch: a fresh `book`.
    let mut last = from;
    while last < 2_100 {
        if let ServerMessage::BookUpdate(u) = second.next().await {
            assert_eq!(book.apply(&u, false), BookStep::InSync, "seq {}", u.seq);
            last = u.seq;
        }
    }
    for (epoch, from) in [(epoch.as_str(), 1), ("another", from)] {
        let mut late = Client::connect(&server).await;
        late.send(&resume_book(epoch, from)).await;
        let first_book = late
            .until(|m| match m {
                ServerMessage::Book(b) => Some(Ok(b)),
                ServerMessage::BookUpdate(u) => Some(Err(u.seq)),
                _ => None,
            })
            .await;
        assert!(
            first_book.is_ok(),
            "{epoch} from {from}: an update came first: {first_book:?}"
        );
    }
    let (_, metrics) =
        support::raw::http(server.addr, b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n").await;
    assert!(metrics.contains("how=\"book_recovered\"} 1"), "{metrics}");
    assert!(metrics.contains("how=\"book_snapshot\"} 2"), "{metrics}");
}
