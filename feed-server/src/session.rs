//! What one connection does with the messages it reads: decode, rate-limit, answer or forward to
//! the hub. On `/echo` it returns every message as it came.
//!
//! Replies the session writes itself (errors, pongs, local rejects) go to `out`; the connection
//! writes them after the read turn. Orders, cancels and subscriptions go to the hub, which answers
//! through the connection's queues.

use protocol::binary;
use protocol::{
    ClientMessage, Decoder, Encoding, ErrorCode, ErrorReply, Hello, Pong, Reject, RejectCode,
    SUBPROTOCOL_BIN, SUBPROTOCOL_JSON, ServerInfo, ServerMessage, Symbol, close_code,
    encode_server, now_ns,
};
use tokio_tungstenite::tungstenite::error::{CapacityError, ProtocolError};
use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};

use crate::bitset::BitSet;
use crate::handshake::Endpoint;
use crate::hub::Command;
use crate::matching::ConnId;
use crate::rate::TokenBucket;
use crate::server::Shared;
use crate::universe::Selection;

/// Unknown symbols named in one `error` reply at most; the message counts the rest.
const MAX_NAMED_UNKNOWN: usize = 16;
/// Wrong tokens one connection may send (fixed); the next closes it with 1008, so a token
/// cannot be guessed over one connection.
pub const MAX_AUTH_FAILURES: u32 = 5;

/// Who ended a connection, which decides how the close handshake goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Initiator {
    /// The client sent a Close frame: answer it, then close the socket.
    Client,
    /// The server closes: send a Close frame, wait for the answer.
    Server,
    /// The socket ended without a Close frame: nothing to send.
    Transport,
}

/// Why a connection ended, for the close frame, the log line and the metrics.
#[derive(Debug)]
pub struct Ending {
    pub code: u16,
    pub reason: String,
    pub by: Initiator,
    /// A word from a fixed set, for `tickwire_clients_closed_total{reason}`.
    pub kind: &'static str,
}

impl Ending {
    pub fn server(code: u16, reason: impl Into<String>) -> Self {
        let kind = match code {
            close_code::NORMAL => "normal",
            close_code::GOING_AWAY => "shutdown",
            close_code::POLICY => "policy",
            close_code::TOO_BIG => "too_big",
            close_code::INVALID_DATA => "invalid_data",
            close_code::INTERNAL => "internal",
            _ => "protocol_error",
        };
        Self {
            code,
            reason: reason.into(),
            by: Initiator::Server,
            kind,
        }
    }

    pub fn client(code: u16, reason: String) -> Self {
        Self {
            code,
            reason,
            by: Initiator::Client,
            kind: "client_close",
        }
    }

    pub fn transport(reason: impl Into<String>) -> Self {
        Self {
            code: close_code::ABNORMAL,
            reason: reason.into(),
            by: Initiator::Transport,
            kind: "transport",
        }
    }

    /// Names the reason more finely than the close code does.
    #[must_use]
    pub fn because(mut self, kind: &'static str) -> Self {
        self.kind = kind;
        self
    }
}

/// Per-connection request handling.
#[derive(Debug)]
pub struct Session<'a> {
    shared: &'a Shared,
    id: ConnId,
    endpoint: Endpoint,
    decoder: Decoder,
    rate: TokenBucket,
    max_id: usize,
    /// Orders and cancels are taken: the server needs no token, or this client sent it.
    authorized: bool,
    /// The negotiated subprotocol: what the session's own answers are encoded in.
    encoding: Encoding,
    auth_failures: u32,
}

impl<'a> Session<'a> {
    pub fn new(shared: &'a Shared, id: ConnId, endpoint: Endpoint, encoding: Encoding) -> Self {
        let config = &shared.config;
        Self {
            shared,
            id,
            endpoint,
            decoder: Decoder::new().max_client_bytes(config.max_message()),
            rate: TokenBucket::new(config.max_message_rate, now_ns()),
            max_id: usize::try_from(config.max_order_id_bytes).unwrap_or(64),
            authorized: shared.order_token.is_none(),
            encoding,
            auth_failures: 0,
        }
    }

    pub fn hello(&self) -> Message {
        self.text(&ServerMessage::Hello(Hello {
            protocol: self.encoding.subprotocol().to_owned(),
            server: ServerInfo {
                name: crate::SERVER_NAME.to_owned(),
                version: env!("CARGO_PKG_VERSION").to_owned(),
            },
            symbols: self.shared.universe.symbols().cloned().collect(),
            heartbeat_ms: self.shared.config.heartbeat_ms,
            ts_ns: now_ns(),
            source: Some(self.shared.source.clone()),
            auth_required: self.shared.order_token.is_some(),
        }))
    }

    /// A server message as a frame of this connection's encoding.
    fn text(&self, message: &ServerMessage) -> Message {
        match self.encoding {
            Encoding::Json => text(message),
            Encoding::Bin => Message::Binary(crate::frames::encode(
                Encoding::Bin,
                message,
                self.shared.universe.ids(),
            )),
        }
    }

    fn error(&self, code: ErrorCode, message: String, symbols: Vec<Symbol>) -> Message {
        self.text(&ServerMessage::Error(ErrorReply {
            code,
            message,
            symbols,
        }))
    }

    /// Handles what the WebSocket reader produced: a message, an error or the end of the stream.
    pub async fn on_inbound(
        &mut self,
        inbound: Option<Result<Message, WsError>>,
        out: &mut Vec<Message>,
    ) -> Option<Ending> {
        match inbound {
            None => Some(Ending::transport("connection dropped")),
            Some(Ok(message)) => self.on_message(message, out).await,
            Some(Err(e)) => Some(ending_for(e)),
        }
    }

    async fn on_message(&mut self, message: Message, out: &mut Vec<Message>) -> Option<Ending> {
        let data = matches!(message, Message::Text(_) | Message::Binary(_));
        let allowed = !data || self.rate.take(now_ns());
        match (message, self.endpoint) {
            (Message::Close(frame), _) => {
                let (code, reason) = frame.map_or((close_code::NO_STATUS, String::new()), |f| {
                    (u16::from(f.code), f.reason.to_string())
                });
                return Some(Ending::client(code, reason));
            }
            (Message::Ping(_) | Message::Pong(_) | Message::Frame(_), _) => {}
            (Message::Binary(bytes), Endpoint::Feed) if self.encoding == Encoding::Bin => {
                let decoded = binary::decode_client(&bytes, self.shared.universe.names());
                return self.on_decoded(decoded, allowed, out).await;
            }
            (Message::Text(text), Endpoint::Feed) => {
                let decoded = self.decoder.client(text.as_bytes());
                return self.on_decoded(decoded, allowed, out).await;
            }
            (_, _) if !allowed => out.push(self.rate_limited(None)),
            (Message::Binary(_), Endpoint::Feed) => out.push(self.error(
                ErrorCode::UnsupportedFrame,
                format!(
                    "binary frames are not part of {SUBPROTOCOL_JSON}; send JSON text frames, or offer {SUBPROTOCOL_BIN} in the handshake"
                ),
                Vec::new(),
            )),
            (echoed, Endpoint::Echo) => out.push(echoed),
        }
        None
    }

    /// Handles a decoded request (from JSON text or a binary frame), or answers why it was not one.
    async fn on_decoded(
        &mut self,
        decoded: Result<ClientMessage, protocol::DecodeError>,
        allowed: bool,
        out: &mut Vec<Message>,
    ) -> Option<Ending> {
        match decoded {
            Ok(request) => {
                self.count(&request);
                if allowed {
                    return self.on_request(request, out).await;
                }
                out.push(self.rate_limited(Some(request)));
            }
            Err(_) if !allowed => out.push(self.rate_limited(None)),
            Err(e) => out.push(self.error(e.code(), e.to_string(), Vec::new())),
        }
        None
    }

    /// Counts the orders and cancels clients send, whatever becomes of them.
    fn count(&self, request: &ClientMessage) {
        let metrics = &self.shared.metrics;
        match request {
            ClientMessage::Order(_) => {
                metrics.orders.inc();
            }
            ClientMessage::Cancel(_) => {
                metrics.cancels.inc();
            }
            _ => {}
        }
    }

    /// A `reject` the session answers itself, counted with the hub's.
    fn reject(
        &self,
        id: protocol::OrderId,
        code: RejectCode,
        reason: String,
        sent_ns: Option<u64>,
    ) -> Message {
        self.shared.metrics.rejected(code);
        self.text(&ServerMessage::Reject(Reject {
            id,
            code,
            reason,
            sent_ns,
            ts_ns: now_ns(),
        }))
    }

    /// The answer to an order or cancel before a successful `auth`.
    fn unauthorized(&self, id: protocol::OrderId, sent_ns: Option<u64>) -> Message {
        self.reject(
            id,
            RejectCode::Unauthorized,
            "this server takes orders only after an `auth` message with its token (--order-token)"
                .to_owned(),
            sent_ns,
        )
    }

    /// The answer to a message over `--max-message-rate`: a `reject` for orders and cancels (so
    /// the client can match it to its id), an `error` for everything else.
    fn rate_limited(&self, request: Option<ClientMessage>) -> Message {
        let why = format!(
            "more than {} messages per second (--max-message-rate)",
            self.rate.rate()
        );
        match request {
            Some(
                ClientMessage::Order(protocol::Order { id, sent_ns, .. })
                | ClientMessage::Cancel(protocol::Cancel { id, sent_ns }),
            ) => self.reject(id, RejectCode::RateLimited, why, sent_ns),
            _ => self.error(ErrorCode::RateLimited, why, Vec::new()),
        }
    }

    async fn on_request(
        &mut self,
        request: ClientMessage,
        out: &mut Vec<Message>,
    ) -> Option<Ending> {
        let id = self.id;
        let command = match request {
            ClientMessage::Ping(p) => {
                out.push(self.text(&ServerMessage::Pong(Pong {
                    sent_ns: p.sent_ns,
                    ts_ns: now_ns(),
                })));
                return None;
            }
            ClientMessage::Auth(auth) => return self.on_auth(&auth, out),
            ClientMessage::Order(ref order) if !self.authorized => {
                out.push(self.unauthorized(order.id.clone(), order.sent_ns));
                return None;
            }
            ClientMessage::Cancel(ref cancel) if !self.authorized => {
                out.push(self.unauthorized(cancel.id.clone(), cancel.sent_ns));
                return None;
            }
            ClientMessage::Subscribe(s) => {
                let symbols = self.resolve(&s.symbols, out)?;
                tracing::debug!(conn = id, symbols = symbols.len(), "subscribe");
                Command::Subscribe { id, symbols }
            }
            ClientMessage::Unsubscribe(s) => {
                let symbols = self.resolve(&s.symbols, out)?;
                tracing::debug!(conn = id, symbols = symbols.len(), "unsubscribe");
                Command::Unsubscribe { id, symbols }
            }
            ClientMessage::Order(order) => {
                if let Some(refusal) = self.check_id(&order.id, order.sent_ns) {
                    out.push(refusal);
                    return None;
                }
                tracing::debug!(conn = id, order = %order.id, symbol = %order.symbol, side = order.side.as_str(), qty = %order.qty, price = ?order.price, "order");
                Command::Order { id, order }
            }
            ClientMessage::Cancel(cancel) => {
                if let Some(refusal) = self.check_id(&cancel.id, cancel.sent_ns) {
                    out.push(refusal);
                    return None;
                }
                tracing::debug!(conn = id, order = %cancel.id, "cancel");
                Command::Cancel { id, cancel }
            }
        };
        match self.shared.hub.send(command).await {
            Ok(()) => None,
            Err(_) => Some(self.shared.ending_on_shutdown()),
        }
    }

    /// Checks a token against `--order-token` in constant time. A wrong one is answered with
    /// `error`; the [`MAX_AUTH_FAILURES`]th closes the connection. The token is never logged.
    fn on_auth(&mut self, auth: &protocol::Auth, out: &mut Vec<Message>) -> Option<Ending> {
        let right = self
            .shared
            .order_token
            .as_ref()
            .is_none_or(|token| token.matches(&auth.token));
        if right {
            self.authorized = true;
            tracing::debug!(conn = self.id, "authorized for orders");
            out.push(self.text(&ServerMessage::Authorized(protocol::Authorized {
                ts_ns: now_ns(),
            })));
            return None;
        }
        self.auth_failures = self.auth_failures.saturating_add(1);
        self.shared.metrics.auth_failures.inc();
        tracing::info!(
            conn = self.id,
            failures = self.auth_failures,
            "auth with a wrong token"
        );
        if self.auth_failures >= MAX_AUTH_FAILURES {
            return Some(
                Ending::server(
                    close_code::POLICY,
                    format!("{MAX_AUTH_FAILURES} wrong tokens"),
                )
                .because("auth_failures"),
            );
        }
        out.push(self.error(
            ErrorCode::BadToken,
            format!(
                "wrong token ({} of {MAX_AUTH_FAILURES} tries; the last closes the connection)",
                self.auth_failures
            ),
            Vec::new(),
        ));
        None
    }

    /// Refuses an order id that is empty or over `--max-order-id-bytes`.
    fn check_id(&self, id: &str, sent_ns: Option<u64>) -> Option<Message> {
        if !id.is_empty() && id.len() <= self.max_id {
            return None;
        }
        tracing::debug!(
            conn = self.id,
            bytes = id.len(),
            "order id refused for its length"
        );
        Some(self.reject(
            id.into(),
            RejectCode::BadId,
            format!(
                "order id is {} bytes; it must be 1 to {} bytes (--max-order-id-bytes)",
                id.len(),
                self.max_id
            ),
            sent_ns,
        ))
    }

    /// Maps symbols to distinct indices; unknown ones get an `error` naming them (the first
    /// [`MAX_NAMED_UNKNOWN`]), the rest still apply.
    fn resolve(&self, symbols: &[Symbol], out: &mut Vec<Message>) -> Option<BitSet> {
        let universe = &self.shared.universe;
        if symbols.is_empty() {
            out.push(self.error(
                ErrorCode::BadRequest,
                "`symbols` is empty: name symbols or \"*\"".to_owned(),
                Vec::new(),
            ));
            return None;
        }
        let Selection {
            known,
            unknown,
            unknown_count,
        } = universe.select(symbols, MAX_NAMED_UNKNOWN);
        if unknown_count > 0 {
            let mut list = unknown
                .iter()
                .map(|s| clip(s))
                .collect::<Vec<_>>()
                .join(", ");
            if unknown_count > unknown.len() {
                list = format!("{list} and {} more", unknown_count - unknown.len());
            }
            out.push(self.error(
                ErrorCode::UnknownSymbol,
                format!("unknown symbols: {list}"),
                unknown,
            ));
        }
        (!known.is_empty()).then_some(known)
    }
}

/// The close code and reason for an error from the WebSocket reader.
fn ending_for(e: WsError) -> Ending {
    match e {
        WsError::Capacity(CapacityError::MessageTooLong { size, max_size }) => Ending::server(
            close_code::TOO_BIG,
            format!(
                "message of {size} bytes is over the limit of {max_size} (--max-message-bytes)"
            ),
        ),
        WsError::Utf8(_) => {
            Ending::server(close_code::INVALID_DATA, "text message is not valid UTF-8")
        }
        WsError::ConnectionClosed | WsError::AlreadyClosed => {
            Ending::transport("connection closed")
        }
        WsError::Protocol(ProtocolError::ResetWithoutClosingHandshake) => {
            Ending::transport("connection reset without a closing handshake")
        }
        WsError::Io(e) => Ending::transport(format!("socket error: {e}")),
        WsError::Protocol(p) => {
            Ending::server(close_code::PROTOCOL_ERROR, format!("protocol error: {p}"))
        }
        other => Ending::server(
            close_code::PROTOCOL_ERROR,
            format!("protocol error: {other}"),
        ),
    }
}

/// A server message as a text frame.
pub fn text(message: &ServerMessage) -> Message {
    Message::Text(Utf8Bytes::from(encode_server(message)))
}

/// Client text echoed in a message is cut short so replies never grow with the input.
fn clip(text: &str) -> &str {
    match text.char_indices().nth(32) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}
