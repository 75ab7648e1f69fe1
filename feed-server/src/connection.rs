//! One WebSocket connection: a single task that reads client messages, writes what the hub queues,
//! and keeps the heartbeat.
//!
//! Reading and writing share one task (no split, no lock): each turn it takes everything queued,
//! feeds it to the socket and flushes once, so a client costs one socket write per hub pass. A
//! flush that makes no progress for `--stall-timeout-ms` closes the client with 1008; the hub
//! meanwhile conflates it, so no other client waits.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{FutureExt, SinkExt, StreamExt};
use protocol::{
    ALL_SYMBOLS, ClientMessage, Decoder, ErrorCode, ErrorReply, Hello, Pong, SUBPROTOCOL_JSON,
    ServerInfo, ServerMessage, Symbol, close_code, encode_server, now_ns,
};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::error::CapacityError;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};

use crate::hub::Command;
use crate::matching::ConnId;
use crate::server::Shared;

/// Client messages handled per turn before the queues get their turn again.
const MAX_READS_PER_TURN: usize = 64;
/// Replies to one client's orders that may wait in its queue.
const CTRL_QUEUE: usize = 4_096;
/// How long a closing handshake may take before the socket is dropped.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(1);
/// The same for a client closed for not reading: its socket first has to drain what is queued.
const STALLED_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);

type Ws = WebSocketStream<TcpStream>;

/// Why a connection ended, for the log line.
#[derive(Debug)]
struct Ending {
    code: u16,
    reason: String,
    by_client: bool,
}

impl Ending {
    fn server(code: u16, reason: impl Into<String>) -> Self {
        Self {
            code,
            reason: reason.into(),
            by_client: false,
        }
    }
}

/// Serves one accepted WebSocket until it closes. Errors are logged here, never returned.
pub async fn serve(mut ws: Ws, shared: Arc<Shared>, id: ConnId, peer: SocketAddr) {
    let (data_tx, mut data_rx) =
        mpsc::channel(usize::try_from(shared.config.queue_frames).unwrap_or(1024));
    let (ctrl_tx, mut ctrl_rx) = mpsc::channel(CTRL_QUEUE);
    if shared
        .hub
        .send(Command::Connect {
            id,
            data: data_tx,
            ctrl: ctrl_tx,
        })
        .await
        .is_err()
    {
        close(
            &mut ws,
            close_code::GOING_AWAY,
            "server shutting down",
            CLOSE_TIMEOUT,
        )
        .await;
        return;
    }
    tracing::info!(%peer, conn = id, "connected");

    let stall = shared.config.stall_timeout();
    let heartbeat = shared.config.heartbeat();
    let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + heartbeat, heartbeat);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_heard = Instant::now();
    let mut decoder = Decoder::new().max_client_bytes(shared.max_message);
    let mut queued: Vec<Utf8Bytes> = Vec::with_capacity(256);
    let mut ctrl_buf: Vec<Utf8Bytes> = Vec::with_capacity(64);
    let mut out: Vec<Utf8Bytes> = Vec::with_capacity(8);
    let mut session = Session {
        shared: &shared,
        id,
    };

    let hello = session.hello();
    let mut ending = write(&mut ws, std::slice::from_ref(&hello), stall)
        .await
        .err();

    // Registered once: creating the future each turn would lock the token's waiter list every time.
    let shutdown = shared.shutdown.cancelled();
    tokio::pin!(shutdown);
    while ending.is_none() {
        tokio::select! {
            biased;
            () = &mut shutdown => ending = Some(Ending::server(close_code::GOING_AWAY, "server shutting down")),
            n = ctrl_rx.recv_many(&mut ctrl_buf, 64) => {
                ending = if n == 0 { Some(removed()) } else { send_queued(&mut ws, &mut ctrl_buf, &mut data_rx, stall).await };
            }
            n = data_rx.recv_many(&mut queued, 256) => {
                ending = if n == 0 { Some(removed()) } else { send_queued(&mut ws, &mut queued, &mut ctrl_rx, stall).await };
            }
            // Wait on socket readiness rather than polling the WebSocket reader, which would zero
            // its read buffer on every turn of this loop (measured: 3.6% of server CPU).
            readable = ws.get_ref().readable() => {
                if let Err(e) = readable {
                    ending = Some(Ending { code: 1006, reason: format!("socket error: {e}"), by_client: true });
                    break;
                }
                // Every message the socket and the reader's buffer hold, up to a fair share.
                for _ in 0..MAX_READS_PER_TURN {
                    let Some(inbound) = ws.next().now_or_never() else { break };
                    last_heard = Instant::now();
                    ending = session.on_inbound(inbound, &mut decoder, &mut out).await;
                    if ending.is_some() {
                        break;
                    }
                }
                if ending.is_none() && !out.is_empty() {
                    ending = write(&mut ws, &out, stall).await.err();
                    out.clear();
                }
            }
            _ = ticker.tick() => {
                if last_heard.elapsed() > heartbeat * 2 {
                    ending = Some(Ending::server(close_code::POLICY, format!("no answer to pings for {} ms", last_heard.elapsed().as_millis())));
                } else {
                    ending = ping(&mut ws, stall).await.err();
                }
            }
        }
    }
    // Awaited, not tried: a lost disconnect would leave the hub holding this client's orders.
    let _ = shared.hub.send(Command::Disconnect { id }).await;
    let ending = ending.unwrap_or_else(|| Ending::server(close_code::NORMAL, ""));
    if !ending.by_client && ending.code != 1006 {
        let patience = if ending.code == close_code::POLICY {
            STALLED_CLOSE_TIMEOUT
        } else {
            CLOSE_TIMEOUT
        };
        close(&mut ws, ending.code, &ending.reason, patience).await;
    }
    tracing::info!(%peer, conn = id, code = ending.code, reason = %ending.reason, by_client = ending.by_client, "disconnected");
}

/// Per-connection request handling.
struct Session<'a> {
    shared: &'a Shared,
    id: ConnId,
}

impl Session<'_> {
    fn hello(&self) -> Utf8Bytes {
        Utf8Bytes::from(encode_server(&ServerMessage::Hello(Hello {
            protocol: SUBPROTOCOL_JSON.to_owned(),
            server: ServerInfo {
                name: crate::SERVER_NAME.to_owned(),
                version: env!("CARGO_PKG_VERSION").to_owned(),
            },
            symbols: self.shared.universe.symbols().cloned().collect(),
            heartbeat_ms: self.shared.config.heartbeat_ms,
            ts_ns: now_ns(),
        })))
    }

    /// Handles what the WebSocket reader produced: a message, an error or the end of the stream.
    async fn on_inbound(
        &mut self,
        inbound: Option<Result<Message, WsError>>,
        decoder: &mut Decoder,
        out: &mut Vec<Utf8Bytes>,
    ) -> Option<Ending> {
        match inbound {
            None => Some(Ending {
                code: 1006,
                reason: "connection dropped".into(),
                by_client: true,
            }),
            Some(Ok(message)) => self.on_message(message, decoder, out).await,
            Some(Err(WsError::Capacity(CapacityError::MessageTooLong { size, max_size }))) => {
                Some(Ending::server(
                    close_code::TOO_BIG,
                    format!("message of {size} bytes is over the limit of {max_size}"),
                ))
            }
            Some(Err(WsError::ConnectionClosed | WsError::AlreadyClosed)) => Some(Ending {
                code: 1006,
                reason: "connection closed".into(),
                by_client: true,
            }),
            Some(Err(e)) => Some(Ending::server(1002, format!("protocol error: {e}"))),
        }
    }

    /// Handles one inbound frame; replies it writes itself go to `out`.
    async fn on_message(
        &mut self,
        message: Message,
        decoder: &mut Decoder,
        out: &mut Vec<Utf8Bytes>,
    ) -> Option<Ending> {
        match message {
            Message::Text(text) => match decoder.client(text.as_bytes()) {
                Ok(request) => return self.on_request(request, out).await,
                Err(e) => out.push(error(e.code(), e.to_string(), Vec::new())),
            },
            Message::Binary(_) => out.push(error(
                ErrorCode::UnsupportedFrame,
                format!("binary frames are not part of {SUBPROTOCOL_JSON}; send JSON text frames"),
                Vec::new(),
            )),
            Message::Close(frame) => {
                let (code, reason) = frame.map_or((1005, String::new()), |f| {
                    (u16::from(f.code), f.reason.to_string())
                });
                return Some(Ending {
                    code,
                    reason,
                    by_client: true,
                });
            }
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
        }
        None
    }

    async fn on_request(
        &mut self,
        request: ClientMessage,
        out: &mut Vec<Utf8Bytes>,
    ) -> Option<Ending> {
        let command = match request {
            ClientMessage::Ping(p) => {
                out.push(Utf8Bytes::from(encode_server(&ServerMessage::Pong(Pong {
                    sent_ns: p.sent_ns,
                    ts_ns: now_ns(),
                }))));
                return None;
            }
            ClientMessage::Subscribe(s) => match self.resolve(&s.symbols, out) {
                Some(symbols) => Command::Subscribe {
                    id: self.id,
                    symbols,
                },
                None => return None,
            },
            ClientMessage::Unsubscribe(s) => match self.resolve(&s.symbols, out) {
                Some(symbols) => Command::Unsubscribe {
                    id: self.id,
                    symbols,
                },
                None => return None,
            },
            ClientMessage::Order(order) => Command::Order { id: self.id, order },
            ClientMessage::Cancel(cancel) => Command::Cancel {
                id: self.id,
                cancel,
            },
        };
        match self.shared.hub.send(command).await {
            Ok(()) => None,
            Err(_) => Some(Ending::server(
                close_code::GOING_AWAY,
                "server shutting down",
            )),
        }
    }

    /// Maps symbols to indices; unknown ones get an `error` naming them, the rest still apply.
    fn resolve(&self, symbols: &[Symbol], out: &mut Vec<Utf8Bytes>) -> Option<Vec<usize>> {
        let universe = &self.shared.universe;
        if symbols.is_empty() {
            out.push(error(
                ErrorCode::BadRequest,
                "`symbols` is empty: name symbols or \"*\"".to_owned(),
                Vec::new(),
            ));
            return None;
        }
        if symbols.iter().any(|s| s == ALL_SYMBOLS) {
            return Some((0..universe.len()).collect());
        }
        let mut known = Vec::with_capacity(symbols.len());
        let mut unknown = Vec::new();
        for s in symbols {
            match universe.find(s) {
                Some(i) => known.push(i),
                None => unknown.push(s.clone()),
            }
        }
        if !unknown.is_empty() {
            let list = unknown
                .iter()
                .map(Symbol::as_str)
                .collect::<Vec<_>>()
                .join(", ");
            out.push(error(
                ErrorCode::UnknownSymbol,
                format!("unknown symbols: {list}"),
                unknown,
            ));
        }
        (!known.is_empty()).then_some(known)
    }
}

fn error(code: ErrorCode, message: String, symbols: Vec<Symbol>) -> Utf8Bytes {
    Utf8Bytes::from(encode_server(&ServerMessage::Error(ErrorReply {
        code,
        message,
        symbols,
    })))
}

/// The hub dropped this client: it let its reply queue fill without reading.
fn removed() -> Ending {
    Ending::server(
        close_code::POLICY,
        "dropped by the server: replies not read",
    )
}

/// Writes `batch` and whatever the other queue holds already, in one flush, and empties `batch`.
async fn send_queued(
    ws: &mut Ws,
    batch: &mut Vec<Utf8Bytes>,
    other: &mut mpsc::Receiver<Utf8Bytes>,
    stall: Duration,
) -> Option<Ending> {
    while batch.len() < 512 && other.try_recv().map(|f| batch.push(f)).is_ok() {}
    let ending = write(ws, batch, stall).await.err();
    batch.clear();
    ending
}

/// Feeds every frame and flushes once; a socket that takes nothing for `stall` ends the client.
async fn write(ws: &mut Ws, frames: &[Utf8Bytes], stall: Duration) -> Result<(), Ending> {
    let work = async {
        for frame in frames {
            ws.feed(Message::Text(frame.clone())).await?;
        }
        ws.flush().await
    };
    match tokio::time::timeout(stall, work).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(Ending {
            code: 1006,
            reason: format!("write failed: {e}"),
            by_client: true,
        }),
        Err(_) => Err(Ending::server(
            close_code::POLICY,
            format!(
                "client not reading: nothing sent for {} ms",
                stall.as_millis()
            ),
        )),
    }
}

async fn ping(ws: &mut Ws, stall: Duration) -> Result<(), Ending> {
    match tokio::time::timeout(stall, ws.send(Message::Ping(bytes_empty()))).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(Ending {
            code: 1006,
            reason: format!("write failed: {e}"),
            by_client: true,
        }),
        Err(_) => Err(Ending::server(close_code::POLICY, "client not reading")),
    }
}

fn bytes_empty() -> tokio_tungstenite::tungstenite::Bytes {
    tokio_tungstenite::tungstenite::Bytes::new()
}

/// Sends a close frame and waits briefly for the client's answer.
pub async fn close(ws: &mut Ws, code: u16, reason: &str, patience: Duration) {
    let frame = CloseFrame {
        code: code.into(),
        reason: reason.into(),
    };
    let _ = tokio::time::timeout(patience, async {
        if ws.close(Some(frame)).await.is_ok() {
            while let Some(Ok(_)) = ws.next().await {}
        }
    })
    .await;
}
