//! Order books over real sockets: a `book` then `book_update`s rebuild the server's book exactly
//! (every checksum verified) at 20,000 events a second, in the suite's encoding; the depth
//! truncates; quotes keep their own `seq`; bad channels and depths are refused.
#![allow(clippy::unwrap_used)]

mod support;

use feed_server::{Config, SynthArgs};
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
    for (symbol, book) in &books {
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
    assert!(books["AAPL"].bids().count() <= 3);
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
