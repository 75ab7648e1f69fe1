//! The bounded queue of what waits for a client's socket: market data, order replies and the
//! WebSocket layer's own frames, in order, with the limits that apply to each kind.

use std::collections::VecDeque;
use std::io;
use std::io::IoSlice;
use std::sync::Arc;

use bytes::Bytes;
use protocol::frame::MAX_HEAD;
use rustls::ServerConnection;

use super::pool::Pool;

/// Order replies that may wait for one client (fixed): replies are never dropped, so a client
/// that lets this many pile up is disconnected.
pub const MAX_WAITING_REPLIES: usize = 4_096;
/// Most slices in one vectored write (Linux takes up to 1,024).
pub(super) const MAX_SLICES: usize = 64;

/// What may wait in one outbox.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Market-data frames waiting, at most (`--queue-frames`).
    pub data_frames: usize,
    /// Bytes waiting, at most, for market data and for the connection's own writes
    /// (`--queue-bytes`). A single frame larger than this is still taken into an empty outbox.
    pub bytes: usize,
    /// Order replies waiting, at most: replies are never dropped, so past this the client goes.
    pub replies: usize,
    /// Bytes of answers (order replies and the WebSocket layer's own frames: pongs, errors, the
    /// Close) waiting, past which the client is not read until they drain
    /// (`--answer-queue-bytes`).
    pub answers: usize,
}

/// Why a frame was not taken.
#[derive(Debug, PartialEq, Eq)]
pub enum Refused {
    /// Past a limit: market data is conflated, a reply ends the client.
    Full,
    /// The connection is closing or closed.
    Closed,
}

/// What kind of frame the hub hands over, for the limits that apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Data,
    Reply,
    /// Bytes the WebSocket layer framed itself.
    Own,
}

/// Bytes waiting to be written: a header (empty for [`Kind::Own`]) and a body, of which the first
/// `sent` bytes are already written.
#[derive(Debug)]
pub(super) struct Entry {
    pub(super) header: [u8; MAX_HEAD],
    pub(super) header_len: u8,
    pub(super) body: Bytes,
    pub(super) sent: usize,
    pub(super) kind: Kind,
}

impl Entry {
    pub(super) fn len(&self) -> usize {
        usize::from(self.header_len) + self.body.len()
    }

    /// The unwritten parts, header first.
    pub(super) fn slices(&self) -> (&[u8], &[u8]) {
        let header_len = usize::from(self.header_len);
        if self.sent < header_len {
            (&self.header[self.sent..header_len], &self.body)
        } else {
            (&[], &self.body[self.sent - header_len..])
        }
    }
}

/// Where a connection is in closing, for what the outbox still takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Closing {
    Open,
    /// The connection ends: the hub's frames are refused.
    Ending,
    /// The WebSocket layer wrote its Close frame: nothing may follow it.
    CloseSent,
}

#[derive(Debug)]
pub(super) struct State {
    pub(super) queue: VecDeque<Entry>,
    /// Unwritten bytes in `queue`.
    pub(super) bytes: usize,
    /// Unwritten bytes of replies and own frames in `queue`.
    pub(super) answers: usize,
    /// What every outbox holds together; `bytes` is counted in it.
    pub(super) pool: Arc<Pool>,
    pub(super) data_frames: usize,
    pub(super) replies: usize,
    /// How far the connection is in closing: past [`Closing::Open`] the hub's frames are
    /// refused.
    pub(super) closing: Closing,
    /// The connection is reading a batch: the WebSocket layer's frames wait for its end.
    pub(super) holding: bool,
    /// The hub let go of this client.
    pub(super) released: bool,
    /// A write by the hub failed: the connection's next write reports it.
    pub(super) failed: Option<io::ErrorKind>,
    /// The TLS session, on a `wss://` connection.
    pub(super) tls: Option<Box<ServerConnection>>,
}

impl State {
    pub(super) fn new(pool: Arc<Pool>, tls: Option<Box<ServerConnection>>) -> Self {
        pool.join();
        Self {
            queue: VecDeque::new(),
            bytes: 0,
            answers: 0,
            pool,
            data_frames: 0,
            replies: 0,
            closing: Closing::Open,
            holding: false,
            released: false,
            failed: None,
            tls,
        }
    }

    /// Whether bytes wait to be written: frames queued, or TLS records not yet written.
    pub(super) fn unsent(&self) -> bool {
        !self.queue.is_empty() || self.tls.as_ref().is_some_and(|tls| tls.wants_write())
    }

    pub(super) fn push(&mut self, entry: Entry) {
        let before = self.bytes;
        let len = entry.len().saturating_sub(entry.sent);
        self.bytes = self.bytes.saturating_add(len);
        match entry.kind {
            Kind::Data => self.data_frames += 1,
            Kind::Reply => {
                self.replies += 1;
                self.answers = self.answers.saturating_add(len);
            }
            Kind::Own => self.answers = self.answers.saturating_add(len),
        }
        self.queue.push_back(entry);
        self.pool.moved(before, self.bytes);
    }

    /// Drops `n` written bytes from the front.
    pub(super) fn consume(&mut self, mut n: usize) {
        let before = self.bytes;
        self.bytes = self.bytes.saturating_sub(n);
        while n > 0 {
            let Some(front) = self.queue.front_mut() else {
                break;
            };
            let left = front.len() - front.sent;
            let taken = n.min(left);
            if front.kind != Kind::Data {
                self.answers = self.answers.saturating_sub(taken);
            }
            if n < left {
                front.sent += n;
                break;
            }
            n -= left;
            match front.kind {
                Kind::Data => self.data_frames = self.data_frames.saturating_sub(1),
                Kind::Reply => self.replies = self.replies.saturating_sub(1),
                Kind::Own => {}
            }
            self.queue.pop_front();
        }
        self.pool.moved(before, self.bytes);
    }
}

impl Drop for State {
    /// What a closed connection never sent leaves the pool with it.
    fn drop(&mut self) {
        self.pool.leave(self.bytes);
    }
}

/// Fills `slices` with the unwritten parts of the first entries of `queue`; returns how many.
pub(super) fn gather<'a>(
    queue: &'a VecDeque<Entry>,
    slices: &mut [IoSlice<'a>; MAX_SLICES],
) -> usize {
    let mut n = 0;
    for entry in queue {
        if n + 2 > MAX_SLICES {
            break;
        }
        let (header, body) = entry.slices();
        for part in [header, body] {
            if !part.is_empty() {
                slices[n] = IoSlice::new(part);
                n += 1;
            }
        }
    }
    n
}
