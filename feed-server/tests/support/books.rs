//! A client following order books by the protocol's rules: each symbol's [`OrderBook`] from its
//! `book`, every `book_update` checked for its `seq` and its checksum.

use protocol::book::{BookStep, Books};
use protocol::{Channel, ClientMessage, ServerMessage, Subscribe, Symbol};

use super::Client;

/// A subscription to these symbols' books (and their quotes, with `quotes`).
pub fn books(symbols: &[&str], depth: Option<u32>, quotes: bool) -> ClientMessage {
    let mut channels = vec![Channel::Book];
    if quotes {
        channels.insert(0, Channel::Quotes);
    }
    ClientMessage::Subscribe(Subscribe {
        channels: Some(channels),
        depth,
        ..Subscribe::to(symbols.iter().map(|s| Symbol::from(*s)).collect())
    })
}

/// Reads until `updates` book updates have been applied; every one must be in sync and in
/// `seq` order, and no book may be deeper than `depth`. Returns each symbol's book and the
/// other messages seen.
pub async fn follow(
    client: &mut Client,
    depth: usize,
    updates: usize,
) -> (Books, Vec<ServerMessage>) {
    let mut books = Books::new(depth);
    let mut others = Vec::new();
    let mut applied = 0;
    while applied < updates {
        let message = client.next().await;
        let (book, whole) = match &message {
            ServerMessage::Book(b) => (b, true),
            ServerMessage::BookUpdate(b) => (b, false),
            _ => {
                others.push(message);
                continue;
            }
        };
        // A book holds at most the depth; an update at most the depth's levels changed and as
        // many that left it.
        let most = if whole { depth } else { 2 * depth };
        assert!(book.bids.len() <= most && book.asks.len() <= most);
        let step = books.apply(&message);
        assert_eq!(
            step,
            Some(BookStep::InSync),
            "{} seq {}",
            book.symbol,
            book.seq
        );
        if !whole {
            applied += 1;
        }
    }
    (books, others)
}
