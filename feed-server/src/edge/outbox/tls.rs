//! The TLS pump of a `wss://` connection: the session lives in the outbox's state, so whoever
//! writes encrypts what is queued into records, and reads decrypt through the same session.

use std::io::{self, IoSlice, Read, Write};
use std::sync::atomic::Ordering;
use std::task::{Context, Poll, ready};

use tokio::io::ReadBuf;
use tokio::net::TcpStream;

use super::Outbox;
use super::queue::{MAX_SLICES, State, gather};

impl Outbox {
    /// [`Self::write_queued`] through TLS: writes the records the session holds, then encrypts
    /// more of the queue, until the socket takes no more or nothing is left.
    pub(super) fn write_queued_tls(&self, state: &mut State) -> io::Result<bool> {
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

    /// Reads plaintext through the TLS session: what it already decrypted, or else what the
    /// socket has, decrypted.
    pub(super) fn poll_read_tls(
        &self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
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
