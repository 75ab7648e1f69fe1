//! Sockets accepted while every handshake slot is taken, waiting in order for one.
//!
//! In a reconnect storm thousands of clients connect at once. Handshakes run at several thousand
//! a second, so every one of them can be served within a second or two; but if the server left
//! them in the kernel's listen backlog, the backlog would overflow and the kernel would drop their
//! connection attempts, which TCP retries only after one, then three, then seven seconds. Accepted
//! into the lobby they hold no slot and cost a file descriptor each; they take slots in the order
//! they came, and one that waits longer than `--handshake-wait-ms` is answered 503, so sockets
//! idling in their handshake still cannot hold real clients off for long.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::time::Instant;

/// A socket waiting for a handshake slot.
#[derive(Debug)]
pub struct Waiting {
    pub stream: TcpStream,
    pub peer: SocketAddr,
    since: Instant,
}

/// The sockets waiting for a handshake slot, oldest first.
#[derive(Debug)]
pub struct Lobby {
    waiting: VecDeque<Waiting>,
    /// `--max-waiting-sockets`: past it the server stops accepting.
    capacity: usize,
    /// `--handshake-wait-ms`: how long a socket may wait before it is refused.
    patience: Duration,
}

impl Lobby {
    pub fn new(capacity: usize, patience: Duration) -> Self {
        Self {
            waiting: VecDeque::new(),
            capacity,
            patience,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// Whether no more sockets may wait: the rest stay in the kernel's backlog.
    pub fn is_full(&self) -> bool {
        self.waiting.len() >= self.capacity
    }

    /// A socket joins the end of the line.
    pub fn join(&mut self, stream: TcpStream, peer: SocketAddr, now: Instant) {
        self.waiting.push_back(Waiting {
            stream,
            peer,
            since: now,
        });
    }

    /// The socket first in line, for the slot that just freed.
    pub fn next(&mut self) -> Option<Waiting> {
        self.waiting.pop_front()
    }

    /// When the first in line runs out of patience.
    pub fn deadline(&self) -> Option<Instant> {
        self.waiting.front().map(|w| w.since + self.patience)
    }

    /// Takes out the sockets that have waited too long by `now`.
    pub fn expired(&mut self, now: Instant) -> Vec<Waiting> {
        let stale = self
            .waiting
            .iter()
            .take_while(|w| now.saturating_duration_since(w.since) >= self.patience)
            .count();
        self.waiting.drain(..stale).collect()
    }

    /// Everyone still waiting, when the server stops.
    pub fn leave(&mut self) -> impl Iterator<Item = Waiting> + '_ {
        self.waiting.drain(..)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn socket() -> (TcpStream, SocketAddr) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let stream = TcpStream::connect(addr).await.unwrap();
        (stream, addr)
    }

    #[tokio::test]
    async fn sockets_wait_in_order_and_the_patient_too_long_are_taken_out() {
        let mut lobby = Lobby::new(2, Duration::from_secs(3));
        let start = Instant::now();
        let (a, peer_a) = socket().await;
        let (b, _) = socket().await;
        lobby.join(a, peer_a, start);
        lobby.join(b, peer_a, start + Duration::from_secs(1));
        assert!(lobby.is_full());
        assert_eq!(lobby.deadline(), Some(start + Duration::from_secs(3)));
        assert!(
            lobby
                .expired(start + Duration::from_millis(2_999))
                .is_empty()
        );
        let gone = lobby.expired(start + Duration::from_secs(3));
        assert_eq!(gone.len(), 1);
        assert_eq!(lobby.deadline(), Some(start + Duration::from_secs(4)));
        assert!(!lobby.is_full());
        assert!(lobby.next().is_some());
        assert!(lobby.is_empty());
        assert_eq!(lobby.deadline(), None);
    }
}
