//! A raw TCP WebSocket client for sending what a WebSocket library would refuse to send:
//! unmasked frames, reserved bits, oversized control frames, bare HTTP.

use std::net::SocketAddr;
use std::time::Duration;

use protocol::frame::{FrameHead, split_frame};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::WAIT;

/// A frame as the server sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub fin: bool,
    pub opcode: u8,
    pub payload: Vec<u8>,
}

impl Frame {
    /// The code and reason of a Close frame.
    pub fn close(&self) -> Option<(u16, String)> {
        (self.opcode == 0x8).then(|| {
            let code = match self.payload.get(..2) {
                Some(b) => u16::from_be_bytes([b[0], b[1]]),
                None => 1005,
            };
            let reason = String::from_utf8_lossy(self.payload.get(2..).unwrap_or(&[])).into_owned();
            (code, reason)
        })
    }

    pub fn text(&self) -> Option<&str> {
        (self.opcode == 0x1).then(|| std::str::from_utf8(&self.payload).ok())?
    }
}

/// Sends one HTTP request and reads the answer head and body until the server closes.
pub async fn http(addr: SocketAddr, request: &[u8]) -> (u16, String) {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(WAIT, tcp.read_to_end(&mut answer)).await;
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

/// A valid upgrade request for `path`.
pub fn upgrade_request(path: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
    )
}

pub struct Raw {
    pub tcp: TcpStream,
    buf: Vec<u8>,
}

impl Raw {
    /// Connects and completes a handshake on `path`.
    pub async fn connect(addr: SocketAddr, path: &str) -> Self {
        Self::handshake(TcpStream::connect(addr).await.unwrap(), path, &[]).await
    }

    /// Connects and sends `early` bytes in the same write as the handshake request, as a client
    /// that does not wait for the 101 does.
    pub async fn connect_eager(addr: SocketAddr, path: &str, early: &[u8]) -> Self {
        Self::handshake(TcpStream::connect(addr).await.unwrap(), path, early).await
    }

    /// The same with a small socket receive buffer, for a client that reads slowly.
    pub async fn connect_small(addr: SocketAddr, path: &str, recv_buffer: u32) -> Self {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(recv_buffer).unwrap();
        Self::handshake(socket.connect(addr).await.unwrap(), path, &[]).await
    }

    /// The socket, for a test that reads and writes it its own way.
    pub fn into_tcp(self) -> TcpStream {
        self.tcp
    }

    /// Reads at most `max` bytes into the frame buffer; returns how many (0 at the end).
    pub async fn read_some(&mut self, max: usize) -> usize {
        let mut chunk = vec![0u8; max];
        let n = tokio::time::timeout(WAIT, self.tcp.read(&mut chunk))
            .await
            .expect("bytes within the wait")
            .unwrap_or(0);
        self.buf.extend_from_slice(&chunk[..n]);
        n
    }

    /// The complete frames received so far.
    pub fn take_frames(&mut self) -> Vec<Frame> {
        let mut frames = Vec::new();
        while let Some((frame, used)) = parse(&self.buf) {
            self.buf.drain(..used);
            frames.push(frame);
        }
        frames
    }

    async fn handshake(mut tcp: TcpStream, path: &str, early: &[u8]) -> Self {
        let mut request = upgrade_request(path).into_bytes();
        request.extend_from_slice(early);
        tcp.write_all(&request).await.unwrap();
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let n = tokio::time::timeout(WAIT, tcp.read(&mut chunk))
                .await
                .unwrap()
                .unwrap();
            assert!(n > 0, "closed during the handshake");
            buf.extend_from_slice(&chunk[..n]);
        };
        assert!(
            buf.starts_with(b"HTTP/1.1 101"),
            "{}",
            String::from_utf8_lossy(&buf)
        );
        buf.drain(..head_end);
        Self { tcp, buf }
    }

    /// Sends a frame, masked unless `masked` is false, with `rsv` in the reserved bits.
    pub async fn frame(&mut self, fin: bool, rsv: u8, opcode: u8, payload: &[u8], masked: bool) {
        let bytes = encode(fin, rsv, opcode, payload, masked);
        self.tcp.write_all(&bytes).await.unwrap();
    }

    pub async fn send(&mut self, opcode: u8, payload: &[u8]) {
        self.frame(true, 0, opcode, payload, true).await;
    }

    pub async fn text(&mut self, text: &str) {
        self.send(0x1, text.as_bytes()).await;
    }

    /// Writes bytes as they are.
    pub async fn bytes(&mut self, bytes: &[u8]) {
        self.tcp.write_all(bytes).await.unwrap();
    }

    /// The next frame, or `None` when the server closed the socket.
    pub async fn next(&mut self) -> Option<Frame> {
        loop {
            if let Some((frame, used)) = parse(&self.buf) {
                self.buf.drain(..used);
                return Some(frame);
            }
            let mut chunk = vec![0u8; 65536];
            let n = tokio::time::timeout(WAIT, self.tcp.read(&mut chunk))
                .await
                .expect("a frame or a close within the wait")
                .unwrap_or_else(|e| panic!("read failed: {e}"));
            if n == 0 {
                return None;
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Reads until a Close frame; answers it when `answer`; then expects the server to close the
    /// socket. Returns the code and reason, or `None` if the socket closed without a Close frame.
    pub async fn close_frame(&mut self, answer: bool) -> Option<(u16, String)> {
        while let Some(frame) = self.next().await {
            if let Some(close) = frame.close() {
                if answer {
                    let _ = self
                        .tcp
                        .write_all(&encode(
                            true,
                            0,
                            0x8,
                            &frame.payload[..frame.payload.len().min(2)],
                            true,
                        ))
                        .await;
                }
                let rest = self.next().await;
                assert!(rest.is_none(), "a frame after Close: {rest:?}");
                return Some(close);
            }
        }
        None
    }

    /// Text frames until `pick` returns something.
    pub async fn until_text<T>(&mut self, mut pick: impl FnMut(&str) -> Option<T>) -> T {
        loop {
            let frame = self.next().await.expect("connection open");
            if let Some(t) = frame.text().and_then(&mut pick) {
                return t;
            }
        }
    }
}

pub fn encode(fin: bool, rsv: u8, opcode: u8, payload: &[u8], masked: bool) -> Vec<u8> {
    let key = [0x12u8, 0x34, 0x56, 0x78];
    let head = FrameHead {
        fin,
        rsv,
        opcode,
        mask: masked.then_some(key),
        len: payload.len() as u64,
    };
    let (bytes, used) = head.encode();
    let mut out = bytes[..used].to_vec();
    if masked {
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    } else {
        out.extend_from_slice(payload);
    }
    out
}

fn parse(buf: &[u8]) -> Option<(Frame, usize)> {
    let (head, payload, rest) = split_frame(buf)?;
    Some((
        Frame {
            fin: head.fin,
            opcode: head.opcode,
            payload: payload.to_vec(),
        },
        buf.len() - rest.len(),
    ))
}

/// Waits a little for the server to act on what was sent.
pub async fn settle() {
    tokio::time::sleep(Duration::from_millis(50)).await;
}
