//! The write side of one client socket, shared by the hub and the connection's task.
//!
//! The hub writes market data and order replies straight to the socket, in its own pass, with
//! one non-blocking vectored write per client: the frame header and the payload it shares with
//! every other client. Waking a task per client per event cost more CPU than the write itself
//! and made a client's write wait behind a hundred others in the run queue. Only what the
//! kernel does not take waits here, in order; the connection's task is woken to finish it when
//! the socket has room.
//!
//! The WebSocket layer (handshake replies, pongs, pings, errors, the Close frame) writes through
//! [`wire::Wire`], which goes through the same queue, so frames from both writers never interleave.
//! Once a Close frame is written the hub's frames are refused, as RFC 6455 forbids data after it.
//!
//! Over TLS the outbox holds the connection's TLS session too: whoever writes encrypts what is
//! queued into TLS records and writes those, and reads decrypt through the same session, under
//! the same lock. The hub thus still writes to TLS clients in its own pass.

mod pool;
mod queue;
mod tls;
pub mod wire;
mod writer;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use protocol::Encoding;
use rustls::ServerConnection;
use tokio::net::TcpStream;
use tokio::sync::Notify;

pub use pool::Pool;
use queue::{Closing, Kind, State};
pub use queue::{Limits, MAX_WAITING_REPLIES, Refused};

/// One client's socket and what waits to be written to it.
#[derive(Debug)]
pub struct Outbox {
    socket: TcpStream,
    state: Mutex<State>,
    limits: Limits,
    /// Bytes the kernel has taken so far: the connection's stall watchdog reads it.
    written: AtomicU64,
    /// Wakes the connection's task: bytes wait for room, or the hub let go.
    wake: Notify,
    /// Text frames for JSON, binary frames for `tickwire.v1.bin`.
    encoding: Encoding,
    /// The connection is TLS (its session is in `state`): reads decrypt through it.
    tls: bool,
}

impl Outbox {
    /// A plain outbox, for driving the hub without connection tasks.
    #[cfg(any(test, feature = "testing"))]
    pub fn new(socket: TcpStream, limits: Limits) -> Arc<Self> {
        Self::with_tls(socket, None, limits, Encoding::Json, Arc::default())
    }

    /// An outbox whose bytes go through `tls`, when the connection is `wss://`.
    pub fn with_tls(
        socket: TcpStream,
        tls: Option<ServerConnection>,
        limits: Limits,
        encoding: Encoding,
        pool: Arc<Pool>,
    ) -> Arc<Self> {
        Arc::new(Self {
            tls: tls.is_some(),
            socket,
            state: Mutex::new(State::new(pool, tls.map(Box::new))),
            limits,
            written: AtomicU64::new(0),
            wake: Notify::new(),
            encoding,
        })
    }

    pub fn socket(&self) -> &TcpStream {
        &self.socket
    }

    /// The connection's encoding, which decides the frames' opcode.
    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// Bytes the kernel has taken from this socket so far.
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Sends market data as one text frame, unless the client already has its fill waiting
    /// (`--queue-frames`, `--queue-bytes`): then the hub conflates it.
    pub fn data(&self, text: &Bytes) -> Result<(), Refused> {
        self.send(text, Kind::Data)
    }

    /// Sends a reply to the client's own order as one text frame; refused only past
    /// [`Limits::replies`] waiting, which ends the client.
    pub fn reply(&self, text: &Bytes) -> Result<(), Refused> {
        self.send(text, Kind::Reply)
    }

    /// Whether bytes wait to be written.
    #[cfg(any(test, feature = "testing"))]
    pub fn pending(&self) -> bool {
        let state = self.lock();
        state.unsent() || state.failed.is_some()
    }

    /// Whether half of the market-data limits are free again, for a conflated client to resume.
    pub fn half_free(&self) -> bool {
        let state = self.lock();
        state.data_frames * 2 <= self.limits.data_frames
            && state.bytes * 2 <= self.limits.bytes
            && !state.pool.heavy(state.bytes)
    }

    /// Whether the client must not be read until what waits drains: its unread answers are
    /// past `--answer-queue-bytes`, or it holds the most while every outbox together is past
    /// `--max-buffered-bytes`.
    pub fn backed_up(&self) -> bool {
        let state = self.lock();
        state.answers > self.limits.answers || state.pool.heavy(state.bytes)
    }

    /// The connection reads a batch: what the WebSocket layer writes meanwhile waits for
    /// [`Self::send_held`], so that the batch's answers go out in one write.
    pub fn hold(&self) {
        self.lock().holding = true;
    }

    /// The batch is read: writes what it queued (and what the hub queued behind it).
    pub fn send_held(&self) {
        let mut state = self.lock();
        state.holding = false;
        if state.unsent() && state.failed.is_none() {
            self.push_out(&mut state);
        }
    }

    /// `--answer-queue-bytes`.
    pub fn answer_limit(&self) -> usize {
        self.limits.answers
    }

    /// Resolves when the hub left bytes waiting for room or let go of this client.
    pub async fn wanted(&self) {
        self.wake.notified().await;
    }

    /// The hub let go of this client (it dropped it, or it stopped).
    pub fn release(&self) {
        self.lock().released = true;
        self.wake.notify_one();
    }

    pub fn released(&self) -> bool {
        self.lock().released
    }

    /// The connection ends: the hub's frames are refused from now on.
    pub fn close(&self) {
        let mut state = self.lock();
        if state.closing == Closing::Open {
            state.closing = Closing::Ending;
        }
    }
}

/// The hub's hold on a client's outbox. Letting go of it, whether the hub dropped the client or
/// the hub itself ended, tells the connection.
#[derive(Debug)]
pub struct Outlet(Arc<Outbox>);

impl Outlet {
    pub fn new(outbox: Arc<Outbox>) -> Self {
        Self(outbox)
    }
}

impl std::ops::Deref for Outlet {
    type Target = Outbox;

    fn deref(&self) -> &Outbox {
        &self.0
    }
}

impl Drop for Outlet {
    fn drop(&mut self) {
        self.0.release();
    }
}
