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
//! [`Wire`], which goes through the same queue, so frames from both writers never interleave.
//! Once a Close frame is written the hub's frames are refused, as RFC 6455 forbids data after it.
//!
//! Over TLS the outbox holds the connection's TLS session too: whoever writes encrypts what is
//! queued into TLS records and writes those, and reads decrypt through the same session, under
//! the same lock. The hub thus still writes to TLS clients in its own pass.

use std::collections::VecDeque;
use std::io::{self, IoSlice, Read, Write};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use protocol::Encoding;
use protocol::frame::{FrameHead, MAX_HEAD, opcode};
use rustls::ServerConnection;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::sync::Notify;

/// Order replies that may wait for one client (fixed): replies are never dropped, so a client
/// that lets this many pile up is disconnected.
pub const MAX_WAITING_REPLIES: usize = 4_096;
/// Most slices in one vectored write (Linux takes up to 1,024).
const MAX_SLICES: usize = 64;

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
enum Kind {
    Data,
    Reply,
    /// Bytes the WebSocket layer framed itself.
    Own,
}

/// Bytes waiting to be written: a header (empty for [`Kind::Own`]) and a body, of which the first
/// `sent` bytes are already written.
#[derive(Debug)]
struct Entry {
    header: [u8; MAX_HEAD],
    header_len: u8,
    body: Bytes,
    sent: usize,
    kind: Kind,
}

impl Entry {
    fn len(&self) -> usize {
        usize::from(self.header_len) + self.body.len()
    }

    /// The unwritten parts, header first.
    fn slices(&self) -> (&[u8], &[u8]) {
        let header_len = usize::from(self.header_len);
        if self.sent < header_len {
            (&self.header[self.sent..header_len], &self.body)
        } else {
            (&[], &self.body[self.sent - header_len..])
        }
    }
}

#[derive(Debug, Default)]
struct State {
    queue: VecDeque<Entry>,
    /// Unwritten bytes in `queue`.
    bytes: usize,
    data_frames: usize,
    replies: usize,
    /// A Close frame went out (or the connection ended): the hub's frames are refused.
    closed: bool,
    /// The hub let go of this client.
    released: bool,
    /// A write by the hub failed: the connection's next write reports it.
    failed: Option<io::ErrorKind>,
    /// The TLS session, on a `wss://` connection.
    tls: Option<Box<ServerConnection>>,
}

impl State {
    /// Whether bytes wait to be written: frames queued, or TLS records not yet written.
    fn unsent(&self) -> bool {
        !self.queue.is_empty() || self.tls.as_ref().is_some_and(|tls| tls.wants_write())
    }

    fn push(&mut self, entry: Entry) {
        self.bytes += entry.len() - entry.sent;
        match entry.kind {
            Kind::Data => self.data_frames += 1,
            Kind::Reply => self.replies += 1,
            Kind::Own => {}
        }
        self.queue.push_back(entry);
    }

    /// Drops `n` written bytes from the front.
    fn consume(&mut self, mut n: usize) {
        self.bytes = self.bytes.saturating_sub(n);
        while n > 0 {
            let Some(front) = self.queue.front_mut() else {
                return;
            };
            let left = front.len() - front.sent;
            if n < left {
                front.sent += n;
                return;
            }
            n -= left;
            match front.kind {
                Kind::Data => self.data_frames = self.data_frames.saturating_sub(1),
                Kind::Reply => self.replies = self.replies.saturating_sub(1),
                Kind::Own => {}
            }
            self.queue.pop_front();
        }
    }
}

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
    pub fn new(socket: TcpStream, limits: Limits) -> Arc<Self> {
        Self::with_tls(socket, None, limits, Encoding::Json)
    }

    /// An outbox whose bytes go through `tls`, when the connection is `wss://`.
    pub fn with_tls(
        socket: TcpStream,
        tls: Option<ServerConnection>,
        limits: Limits,
        encoding: Encoding,
    ) -> Arc<Self> {
        Arc::new(Self {
            tls: tls.is_some(),
            socket,
            state: Mutex::new(State {
                tls: tls.map(Box::new),
                ..State::default()
            }),
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

    fn send(&self, text: &Bytes, kind: Kind) -> Result<(), Refused> {
        let mut state = self.lock();
        if state.closed {
            return Err(Refused::Closed);
        }
        let full = match kind {
            Kind::Data => {
                state.data_frames >= self.limits.data_frames
                    || (state.bytes > 0 && state.bytes + text.len() > self.limits.bytes)
            }
            Kind::Reply => state.replies >= self.limits.replies,
            Kind::Own => false,
        };
        if full {
            return Err(Refused::Full);
        }
        let opcode = match self.encoding {
            Encoding::Json => opcode::TEXT,
            Encoding::Bin => opcode::BINARY,
        };
        let (header, header_len) = FrameHead::server(opcode, text.len() as u64).encode();
        let entry = Entry {
            header,
            header_len: header_len as u8,
            body: text.clone(),
            sent: 0,
            kind,
        };
        self.enqueue(&mut state, entry);
        Ok(())
    }

    /// Queues `entry`, writing at once if nothing is ahead of it; wakes the connection's task if
    /// anything is left waiting for room.
    fn enqueue(&self, state: &mut State, entry: Entry) {
        let was_idle = !state.unsent();
        state.push(entry);
        if was_idle && state.failed.is_none() {
            self.push_out(state);
        }
    }

    /// Writes what the socket takes now; a failure is kept for the connection to report, and
    /// the connection's task is woken to finish what is left.
    fn push_out(&self, state: &mut State) {
        if let Err(e) = self.write_queued(state) {
            state.failed = Some(e.kind());
        }
        if state.unsent() || state.failed.is_some() {
            self.wake.notify_one();
        }
    }

    /// Writes what is queued until the socket takes no more: `Ok(true)` once it is all written.
    fn write_queued(&self, state: &mut State) -> io::Result<bool> {
        if state.tls.is_some() {
            return self.write_queued_tls(state);
        }
        while !state.queue.is_empty() {
            let result = {
                let mut slices = [IoSlice::new(&[]); MAX_SLICES];
                let n = gather(&state.queue, &mut slices);
                self.socket.try_write_vectored(&slices[..n])
            };
            match result {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(written) => {
                    self.written.fetch_add(written as u64, Ordering::Relaxed);
                    state.consume(written);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }

    /// [`Self::write_queued`] through TLS: writes the records the session holds, then encrypts
    /// more of the queue, until the socket takes no more or nothing is left.
    fn write_queued_tls(&self, state: &mut State) -> io::Result<bool> {
        loop {
            let Some(tls) = state.tls.as_mut() else {
                return Ok(true);
            };
            while tls.wants_write() {
                match tls.write_tls(&mut Sock(&self.socket)) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(written) => {
                        self.written.fetch_add(written as u64, Ordering::Relaxed);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                    Err(e) => return Err(e),
                }
            }
            if state.queue.is_empty() {
                return Ok(true);
            }
            let taken = {
                let mut slices = [IoSlice::new(&[]); MAX_SLICES];
                let n = gather(&state.queue, &mut slices);
                tls.writer().write_vectored(&slices[..n])?
            };
            if taken == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            state.consume(taken);
        }
    }

    /// Writes everything queued, waiting for room as needed.
    pub fn poll_drain(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut state = self.lock();
        loop {
            if let Some(kind) = state.failed {
                return Poll::Ready(Err(kind.into()));
            }
            if self.write_queued(&mut state)? {
                return Poll::Ready(Ok(()));
            }
            ready!(self.socket.poll_write_ready(cx))?;
        }
    }

    /// Whether bytes wait to be written.
    pub fn pending(&self) -> bool {
        let state = self.lock();
        state.unsent() || state.failed.is_some()
    }

    /// Whether half of the market-data limits are free again, for a conflated client to resume.
    pub fn half_free(&self) -> bool {
        let state = self.lock();
        state.data_frames * 2 <= self.limits.data_frames && state.bytes * 2 <= self.limits.bytes
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
        self.lock().closed = true;
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

/// Fills `slices` with the unwritten parts of the first entries of `queue`; returns how many.
fn gather<'a>(queue: &'a VecDeque<Entry>, slices: &mut [IoSlice<'a>; MAX_SLICES]) -> usize {
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

/// The socket as blocking-style I/O for rustls: `WouldBlock` when it has no room or no bytes.
struct Sock<'a>(&'a TcpStream);

impl Read for Sock<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.try_read(buf)
    }
}

impl Write for Sock<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.try_write(buf)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.0.try_write_vectored(bufs)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Whether `bytes`, whole server frames as the WebSocket layer writes them, hold a Close frame.
fn holds_close(mut bytes: &[u8]) -> bool {
    while let Some((head, used)) = FrameHead::parse(bytes) {
        if head.opcode == opcode::CLOSE {
            return true;
        }
        let Some(next) = usize::try_from(head.len)
            .ok()
            .and_then(|len| used.checked_add(len))
        else {
            return false;
        };
        bytes = bytes.get(next..).unwrap_or_default();
    }
    false
}

/// The stream the WebSocket layer reads and writes: reads come from the socket, writes join
/// the outbox's queue whole, so that they never split a frame the hub wrote or the reverse.
#[derive(Debug)]
pub struct Wire {
    outbox: Arc<Outbox>,
}

impl Wire {
    pub fn new(outbox: Arc<Outbox>) -> Self {
        Self { outbox }
    }

    pub fn outbox(&self) -> &Arc<Outbox> {
        &self.outbox
    }
}

impl AsyncRead for Wire {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let outbox = &self.outbox;
        let socket = &outbox.socket;
        if outbox.tls {
            return outbox.poll_read_tls(cx, buf);
        }
        loop {
            ready!(socket.poll_read_ready(cx))?;
            match socket.try_read(buf.initialize_unfilled()) {
                Ok(n) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl Outbox {
    /// Reads plaintext through the TLS session: what it already decrypted, or else what the
    /// socket has, decrypted.
    fn poll_read_tls(&self, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        loop {
            {
                let mut state = self.lock();
                let Some(tls) = state.tls.as_mut() else {
                    return Poll::Ready(Err(io::ErrorKind::NotConnected.into()));
                };
                match tls.reader().read(buf.initialize_unfilled()) {
                    // 0 is the end: the peer sent close_notify.
                    Ok(n) => {
                        buf.advance(n);
                        return Poll::Ready(Ok(()));
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Poll::Ready(Err(e)),
                }
                match tls.read_tls(&mut Sock(&self.socket)) {
                    // After the end of the stream the reader says how it ended.
                    Ok(0) => continue,
                    Ok(_) => {
                        let processed = tls.process_new_packets();
                        // An alert for an error, or an answer to a key update.
                        if tls.wants_write() && state.failed.is_none() {
                            self.push_out(&mut state);
                        }
                        if let Err(e) = processed {
                            return Poll::Ready(Err(io::Error::new(io::ErrorKind::InvalidData, e)));
                        }
                        continue;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) => return Poll::Ready(Err(e)),
                }
            }
            ready!(self.socket.poll_read_ready(cx))?;
        }
    }
}

impl AsyncWrite for Wire {
    /// Takes all of `buf` or none of it: the WebSocket layer hands over whole frames, and a
    /// partial take would let a hub frame into the middle of one.
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let outbox = &self.outbox;
        let mut state = outbox.lock();
        if let Some(kind) = state.failed {
            return Poll::Ready(Err(kind.into()));
        }
        while state.bytes > 0 && state.bytes + buf.len() > outbox.limits.bytes {
            if outbox.write_queued(&mut state)? {
                break;
            }
            ready!(outbox.socket.poll_write_ready(cx))?;
        }
        if holds_close(buf) {
            state.closed = true;
        }
        let entry = Entry {
            header: [0; MAX_HEAD],
            header_len: 0,
            body: Bytes::copy_from_slice(buf),
            sent: 0,
            kind: Kind::Own,
        };
        let was_idle = !state.unsent();
        state.push(entry);
        if was_idle && let Err(e) = outbox.write_queued(&mut state) {
            state.failed = Some(e.kind());
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.outbox.poll_drain(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if let Some(tls) = self.outbox.lock().tls.as_mut() {
            // Sent once: later calls find it already queued.
            tls.send_close_notify();
        }
        ready!(self.outbox.poll_drain(cx))?;
        match socket2::SockRef::from(&self.outbox.socket).shutdown(std::net::Shutdown::Write) {
            Err(e) if e.kind() != io::ErrorKind::NotConnected => Poll::Ready(Err(e)),
            _ => Poll::Ready(Ok(())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_close_frame_is_found_behind_other_frames() {
        let mut frames = vec![0x8A, 2, b'h', b'i'];
        assert!(!holds_close(&frames));
        let (h, n) = FrameHead::server(opcode::TEXT, 300).encode();
        frames.extend_from_slice(&h[..n]);
        frames.extend_from_slice(&[b'x'; 300]);
        assert!(!holds_close(&frames));
        frames.extend_from_slice(&[0x88, 2, 0x03, 0xE8]);
        assert!(holds_close(&frames));
        // A truncated length is not read past.
        assert!(!holds_close(&[0x81, 127, 0]));
    }
}
