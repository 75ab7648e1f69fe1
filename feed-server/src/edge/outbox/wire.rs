//! The stream the WebSocket layer reads and writes: reads come from the socket (through TLS if
//! there is a session), writes join the outbox's queue whole.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use protocol::frame::{FrameHead, MAX_HEAD, opcode};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::Outbox;
use super::queue::{Closing, Entry, Kind};

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

impl AsyncWrite for Wire {
    /// Takes all of `buf` at once: the WebSocket layer hands over whole frames, and a partial take
    /// would let a hub frame into the middle of one. Nothing waits in the WebSocket layer, so
    /// every unsent byte is in the outbox, counted: the connection stops reading a client whose
    /// answers pass `--answer-queue-bytes`, which bounds what its frames can add here.
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let outbox = &self.outbox;
        let mut state = outbox.lock();
        if let Some(kind) = state.failed {
            return Poll::Ready(Err(kind.into()));
        }
        // Nothing follows a Close on the wire: the WebSocket layer may queue a pong it owed
        // behind the Close it sends, and that pong is dropped here.
        if state.closing == Closing::CloseSent {
            return Poll::Ready(Ok(buf.len()));
        }
        let frames = match close_end(buf) {
            Some(end) => {
                state.closing = Closing::CloseSent;
                buf.get(..end).unwrap_or(buf)
            }
            None => buf,
        };
        let entry = Entry {
            header: [0; MAX_HEAD],
            header_len: 0,
            body: Bytes::copy_from_slice(frames),
            sent: 0,
            kind: Kind::Own,
        };
        let was_idle = !state.unsent();
        state.push(entry);
        if was_idle
            && !state.holding
            && let Err(e) = outbox.write_queued(&mut state)
        {
            state.failed = Some(e.kind());
            return Poll::Ready(Err(e));
        }
        Poll::Ready(Ok(buf.len()))
    }

    /// Writes everything queued, unless the connection is reading a batch: then the batch's
    /// answers go out together when it ends.
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.outbox.lock().holding {
            return Poll::Ready(Ok(()));
        }
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

/// Where the first Close frame in `bytes` (whole server frames, as the WebSocket layer writes
/// them) ends, if there is one.
fn close_end(bytes: &[u8]) -> Option<usize> {
    let mut at = 0usize;
    while let Some((head, used)) = FrameHead::parse(bytes.get(at..)?) {
        let end = usize::try_from(head.len)
            .ok()
            .and_then(|len| used.checked_add(len))
            .and_then(|len| at.checked_add(len))?;
        if head.opcode == opcode::CLOSE {
            return Some(end);
        }
        at = end;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_close_frame_is_found_behind_other_frames_and_what_follows_it_is_not() {
        let mut frames = vec![0x8A, 2, b'h', b'i'];
        assert_eq!(close_end(&frames), None);
        let (h, n) = FrameHead::server(opcode::TEXT, 300).encode();
        frames.extend_from_slice(&h[..n]);
        frames.extend_from_slice(&[b'x'; 300]);
        assert_eq!(close_end(&frames), None);
        frames.extend_from_slice(&[0x88, 2, 0x03, 0xE8]);
        let end = frames.len();
        assert_eq!(close_end(&frames), Some(end));
        // A pong queued behind the Close.
        frames.extend_from_slice(&[0x8A, 1, b'p']);
        assert_eq!(close_end(&frames), Some(end));
        // A truncated length is not read past.
        assert_eq!(close_end(&[0x81, 127, 0]), None);
    }
}
