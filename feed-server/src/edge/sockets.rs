//! Where an edge's new sockets come from. With `--edges N` there are two ways to spread
//! connections over the edges' threads (`--accept`): each edge accepts on its own listener of
//! the shared port and the kernel picks one per connection (`SO_REUSEPORT`, the default on
//! Linux), or the first edge accepts them all and deals them round-robin to the others. CLUSTER.md
//! has the measurement behind the default.

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::sync::mpsc::error::TrySendError;

/// How `--edges N` spreads connections over its edges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AcceptMode {
    /// Every edge has its own listener on the port; the kernel hashes each connection to one.
    ReusePort,
    /// The first edge accepts every connection and hands them to the edges in turn.
    RoundRobin,
}

impl Default for AcceptMode {
    /// `reuse-port` where the kernel balances connections over the listeners sharing a port
    /// (Linux; measured faster, CLUSTER.md); elsewhere `SO_REUSEPORT` may hand every connection
    /// to one listener, so the first edge deals them.
    fn default() -> Self {
        if cfg!(any(
            target_os = "linux",
            target_os = "freebsd",
            target_os = "android"
        )) {
            Self::ReusePort
        } else {
            Self::RoundRobin
        }
    }
}

/// Sockets dealt to one edge that it has not taken yet; past this the dealer keeps the socket.
pub const DEALT_QUEUE: usize = 1_024;

/// A socket the dealing edge accepted for another edge. It travels as a std socket: a tokio
/// socket belongs to the runtime that registered it, and each edge has its own.
#[derive(Debug)]
pub struct Dealt {
    stream: std::net::TcpStream,
    peer: SocketAddr,
}

/// An edge's source of accepted sockets.
#[derive(Debug)]
pub enum Sockets {
    /// Its own listener (alone, or one of several sharing the port with `SO_REUSEPORT`).
    Listener(TcpListener),
    /// The listener of every edge: each socket goes to the next edge in turn, this one included.
    Dealer {
        listener: TcpListener,
        others: Vec<mpsc::Sender<Dealt>>,
        turn: usize,
    },
    /// The sockets the dealer hands this edge.
    Dealt(mpsc::Receiver<Dealt>),
}

/// An edge's sockets before its runtime starts: a tokio listener is made inside the runtime
/// that will poll it.
#[derive(Debug)]
pub enum Unstarted {
    Listener(std::net::TcpListener),
    Dealt(mpsc::Receiver<Dealt>),
}

impl Unstarted {
    /// Inside the edge's runtime.
    pub fn start(self) -> std::io::Result<Sockets> {
        Ok(match self {
            Self::Listener(listener) => Sockets::Listener(TcpListener::from_std(listener)?),
            Self::Dealt(queue) => Sockets::Dealt(queue),
        })
    }
}

impl Sockets {
    /// The dealer and the queues of the edges it deals to (`others` of them).
    pub fn dealer(listener: TcpListener, others: usize) -> (Self, Vec<mpsc::Receiver<Dealt>>) {
        let (senders, receivers) = (0..others).map(|_| mpsc::channel(DEALT_QUEUE)).unzip();
        (
            Self::Dealer {
                listener,
                others: senders,
                turn: 0,
            },
            receivers,
        )
    }

    /// The next socket for this edge. Cancel-safe: the only wait is for the listener or the
    /// queue, and a socket is dealt without waiting (to this edge if another's queue is full).
    pub async fn accept(&mut self) -> std::io::Result<(TcpStream, SocketAddr)> {
        match self {
            Self::Listener(listener) => listener.accept().await,
            Self::Dealer {
                listener,
                others,
                turn,
            } => loop {
                let (stream, peer) = listener.accept().await?;
                let to = *turn;
                *turn = if to >= others.len() { 0 } else { to + 1 };
                let Some(queue) = to.checked_sub(1).and_then(|k| others.get(k)) else {
                    return Ok((stream, peer));
                };
                let stream = stream.into_std()?;
                match queue.try_send(Dealt { stream, peer }) {
                    Ok(()) => {}
                    // That edge is behind or gone: this one serves the socket.
                    Err(TrySendError::Full(dealt) | TrySendError::Closed(dealt)) => {
                        return Ok((TcpStream::from_std(dealt.stream)?, dealt.peer));
                    }
                }
            },
            Self::Dealt(queue) => match queue.recv().await {
                Some(dealt) => Ok((TcpStream::from_std(dealt.stream)?, dealt.peer)),
                // The dealer stopped accepting (the server is stopping): nothing more comes.
                None => std::future::pending().await,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_dealer_hands_sockets_to_each_edge_in_turn() -> std::io::Result<()> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (mut dealer, mut queues) = Sockets::dealer(listener, 2);
        let mut clients = Vec::new();
        for _ in 0..4 {
            clients.push(TcpStream::connect(addr).await?);
        }
        // Edge 0 takes the 1st and the 4th; edges 1 and 2 find theirs in their queues.
        let (_, first) = dealer.accept().await?;
        let (_, fourth) = dealer.accept().await?;
        assert_eq!(first, clients[0].local_addr()?);
        assert_eq!(fourth, clients[3].local_addr()?);
        let mut edge1 = Sockets::Dealt(queues.remove(0));
        let mut edge2 = Sockets::Dealt(queues.remove(0));
        assert_eq!(edge1.accept().await?.1, clients[1].local_addr()?);
        assert_eq!(edge2.accept().await?.1, clients[2].local_addr()?);
        Ok(())
    }

    #[tokio::test]
    async fn a_socket_for_an_edge_that_is_gone_stays_with_the_dealer() -> std::io::Result<()> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (mut dealer, queues) = Sockets::dealer(listener, 1);
        drop(queues);
        let a = TcpStream::connect(addr).await?;
        let b = TcpStream::connect(addr).await?;
        assert_eq!(dealer.accept().await?.1, a.local_addr()?);
        assert_eq!(dealer.accept().await?.1, b.local_addr()?);
        Ok(())
    }
}
