//! Writing queued frames to the socket: each hub frame framed once (its head beside the shared
//! payload) and written with one non-blocking vectored write for as much of the queue as fits.

use std::io::{self, IoSlice};
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use protocol::Encoding;
use protocol::frame::{FrameHead, opcode};

use super::Outbox;
use super::queue::{Closing, Entry, Kind, MAX_SLICES, Refused, State, gather};

impl Outbox {
    pub(super) fn send(&self, text: &Bytes, kind: Kind) -> Result<(), Refused> {
        let mut state = self.lock();
        if state.closing != Closing::Open {
            return Err(Refused::Closed);
        }
        let full = match kind {
            Kind::Data => {
                state.data_frames >= self.limits.data_frames
                    || (state.bytes > 0 && state.bytes + text.len() > self.limits.bytes)
                    || state.pool.heavy(state.bytes)
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
    pub(super) fn enqueue(&self, state: &mut State, entry: Entry) {
        let was_idle = !state.unsent();
        state.push(entry);
        if was_idle && state.failed.is_none() {
            self.push_out(state);
        }
    }

    /// Writes what the socket takes now; a failure is kept for the connection to report, and
    /// the connection's task is woken to finish what is left.
    pub(super) fn push_out(&self, state: &mut State) {
        if let Err(e) = self.write_queued(state) {
            state.failed = Some(e.kind());
        }
        if state.unsent() || state.failed.is_some() {
            self.wake.notify_one();
        }
    }

    /// Writes what is queued until the socket takes no more: `Ok(true)` once it is all written.
    pub(super) fn write_queued(&self, state: &mut State) -> io::Result<bool> {
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
}
