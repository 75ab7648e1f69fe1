//! What one connection does with the messages it reads: decode, rate-limit, authorize, answer,
//! or turn into a [`Command`] for the hub. On `/echo` it returns every message as it came.
//!
//! The handler does no I/O: replies it makes itself (errors, pongs, local rejects) go to `out`,
//! which the connection writes after the read turn; a request for the hub comes back as a
//! command, which the connection forwards. The hub answers through the connection's outbox.

use std::sync::Arc;

use protocol::binary;
use protocol::{
    Channel, ClientMessage, DEFAULT_BOOK_DEPTH, Decoder, Encoding, ErrorCode, ErrorReply, Hello,
    MAX_BOOK_DEPTH, Pong, RejectCode, SUBPROTOCOL_BIN, SUBPROTOCOL_JSON, ServerInfo, ServerMessage,
    SourceInfo, Symbol, Token, close_code, encode_server, now_ns,
};
use tokio_tungstenite::tungstenite::error::{CapacityError, ProtocolError};
use tokio_tungstenite::tungstenite::{Error as WsError, Message, Utf8Bytes};

use super::command::Command;
use super::ending::Ending;
use super::handshake::Endpoint;
use super::payload;
use crate::bitset::BitSet;
use crate::feed::universe::{Selection, Universe};
use crate::market::{self, ConnId, ResumeFrom};
use crate::metrics::Metrics;
use crate::rate::TokenBucket;

/// The name this server gives in `hello`.
pub const SERVER_NAME: &str = "tickwire-feed-server";

/// Unknown symbols named in one `error` reply at most; the message counts the rest.
const MAX_NAMED_UNKNOWN: usize = protocol::MAX_NAMED_SYMBOLS;
/// Wrong tokens one connection may send (fixed); the next closes it with 1008, so a token
/// cannot be guessed over one connection.
pub const MAX_AUTH_FAILURES: u32 = 5;

/// What every connection's handler answers from.
#[derive(Debug)]
pub struct Context {
    pub universe: Arc<Universe>,
    /// What `hello` says about where events come from.
    pub source: SourceInfo,
    /// The core's epoch, which `hello` names.
    pub epoch: String,
    /// `--order-token`: orders need an `auth` first.
    pub order_token: Option<Token>,
    /// `--heartbeat-ms`, as `hello` announces it.
    pub heartbeat_ms: u64,
    /// `--max-message-bytes`, `--max-message-rate`, `--max-order-id-bytes`.
    pub max_message: usize,
    pub max_message_rate: u32,
    pub max_order_id: usize,
    pub metrics: Arc<Metrics>,
    /// Which symbols' source is stale (a live venue's stream that is down), for the `status`
    /// after `hello`: the ingest's board, or what the core last published on the bus; `None`
    /// for a synthesizer or a replay.
    pub stale: Option<tokio::sync::watch::Receiver<BitSet>>,
}

/// One connection's request handling.
#[derive(Debug)]
pub struct Handler<'a> {
    cx: &'a Context,
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

impl<'a> Handler<'a> {
    pub fn new(cx: &'a Context, id: ConnId, endpoint: Endpoint, encoding: Encoding) -> Self {
        Self {
            cx,
            id,
            endpoint,
            decoder: Decoder::new().max_client_bytes(cx.max_message),
            rate: TokenBucket::new(cx.max_message_rate, now_ns()),
            max_id: cx.max_order_id,
            authorized: cx.order_token.is_none(),
            encoding,
            auth_failures: 0,
        }
    }

    /// What a connection is sent first: `hello`, then a `status` if some source is stale.
    pub fn greeting(&self) -> Vec<Message> {
        let mut out = vec![self.hello()];
        if let Some(stale) = &self.cx.stale {
            let set = stale.borrow().clone();
            if !set.is_empty() {
                out.push(self.text(&status(&self.cx.universe, &set)));
            }
        }
        out
    }

    pub fn hello(&self) -> Message {
        self.text(&ServerMessage::Hello(Hello {
            protocol: self.encoding.subprotocol().to_owned(),
            server: ServerInfo {
                name: SERVER_NAME.to_owned(),
                version: env!("CARGO_PKG_VERSION").to_owned(),
            },
            symbols: self.cx.universe.symbols().cloned().collect(),
            heartbeat_ms: self.cx.heartbeat_ms,
            ts_ns: now_ns(),
            source: Some(self.cx.source.clone()),
            auth_required: self.cx.order_token.is_some(),
            epoch: Some(self.cx.epoch.clone()),
        }))
    }

    /// A server message as a frame of this connection's encoding.
    fn text(&self, message: &ServerMessage) -> Message {
        match self.encoding {
            Encoding::Json => text(message),
            Encoding::Bin => Message::Binary(payload::encode(
                Encoding::Bin,
                message,
                self.cx.universe.ids(),
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
    /// Returns the command to forward to the hub, if the message asks for one, or how the
    /// connection ends.
    pub fn on_inbound(
        &mut self,
        inbound: Option<Result<Message, WsError>>,
        out: &mut Vec<Message>,
    ) -> Result<Option<Command>, Ending> {
        match inbound {
            None => Err(Ending::transport("connection dropped")),
            Some(Ok(message)) => self.on_message(message, out),
            Some(Err(e)) => Err(ending_for(e)),
        }
    }

    fn on_message(
        &mut self,
        message: Message,
        out: &mut Vec<Message>,
    ) -> Result<Option<Command>, Ending> {
        let data = matches!(message, Message::Text(_) | Message::Binary(_));
        let allowed = !data || self.rate.take(now_ns());
        match (message, self.endpoint) {
            (Message::Close(frame), _) => {
                let (code, reason) = frame.map_or((close_code::NO_STATUS, String::new()), |f| {
                    (u16::from(f.code), f.reason.to_string())
                });
                return Err(Ending::client(code, reason));
            }
            (Message::Ping(_) | Message::Pong(_) | Message::Frame(_), _) => {}
            (Message::Binary(bytes), Endpoint::Feed) if self.encoding == Encoding::Bin => {
                let decoded = binary::decode_client(&bytes, self.cx.universe.names());
                return self.on_decoded(decoded, allowed, out);
            }
            (Message::Text(text), Endpoint::Feed) => {
                let decoded = self.decoder.client(text.as_bytes());
                return self.on_decoded(decoded, allowed, out);
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
        Ok(None)
    }

    /// Handles a decoded request (from JSON text or a binary frame), or answers why it was not one.
    fn on_decoded(
        &mut self,
        decoded: Result<ClientMessage, protocol::DecodeError>,
        allowed: bool,
        out: &mut Vec<Message>,
    ) -> Result<Option<Command>, Ending> {
        match decoded {
            Ok(request) => {
                self.count(&request);
                if allowed {
                    return self.on_request(request, out);
                }
                out.push(self.rate_limited(Some(request)));
            }
            Err(_) if !allowed => out.push(self.rate_limited(None)),
            Err(e) => out.push(self.error(e.code(), e.to_string(), Vec::new())),
        }
        Ok(None)
    }

    /// Counts the orders and cancels clients send, whatever becomes of them.
    fn count(&self, request: &ClientMessage) {
        let metrics = &self.cx.metrics;
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

    /// A `reject` the handler answers itself, counted like the market's.
    fn reject(
        &self,
        id: &protocol::OrderId,
        code: RejectCode,
        reason: String,
        sent_ns: Option<u64>,
    ) -> Message {
        let reject = market::reject(id, code, reason, sent_ns, now_ns());
        self.cx.metrics.answered(&reject);
        self.text(&reject)
    }

    /// The answer to an order or cancel before a successful `auth`.
    fn unauthorized(&self, id: &protocol::OrderId, sent_ns: Option<u64>) -> Message {
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
            ) => self.reject(&id, RejectCode::RateLimited, why, sent_ns),
            _ => self.error(ErrorCode::RateLimited, why, Vec::new()),
        }
    }

    /// Which channels a subscribe or unsubscribe names, `(quotes, book)`; `None` (with an
    /// `error` in `out`) for an unknown channel, none at all, or a depth out of range.
    fn check_channels(
        &self,
        channels: &[Channel],
        depth: Option<u32>,
        out: &mut Vec<Message>,
    ) -> Option<(bool, bool)> {
        if channels.is_empty() || channels.contains(&Channel::Other) {
            out.push(self.error(
                ErrorCode::BadChannel,
                "channels must name `quotes`, `book` or both".to_owned(),
                Vec::new(),
            ));
            return None;
        }
        if let Some(depth) = depth
            && !(1..=MAX_BOOK_DEPTH).contains(&depth)
        {
            out.push(self.error(
                ErrorCode::BadDepth,
                format!("depth {depth} is not 1 to {MAX_BOOK_DEPTH}"),
                Vec::new(),
            ));
            return None;
        }
        Some((
            channels.contains(&Channel::Quotes),
            channels.contains(&Channel::Book),
        ))
    }

    fn on_request(
        &mut self,
        request: ClientMessage,
        out: &mut Vec<Message>,
    ) -> Result<Option<Command>, Ending> {
        let id = self.id;
        let command = match request {
            ClientMessage::Ping(p) => {
                out.push(self.text(&ServerMessage::Pong(Pong {
                    sent_ns: p.sent_ns,
                    ts_ns: now_ns(),
                })));
                return Ok(None);
            }
            ClientMessage::Auth(auth) => return self.on_auth(&auth, out).map(|()| None),
            ClientMessage::Order(ref order) if !self.authorized => {
                out.push(self.unauthorized(&order.id, order.sent_ns));
                return Ok(None);
            }
            ClientMessage::Cancel(ref cancel) if !self.authorized => {
                out.push(self.unauthorized(&cancel.id, cancel.sent_ns));
                return Ok(None);
            }
            ClientMessage::Subscribe(s) => {
                let Some((quotes, book)) = self.check_channels(s.channels(), s.depth, out) else {
                    return Ok(None);
                };
                // A resume that cannot be used is answered alone: nothing else changes.
                if let Some(resume) = &s.resume
                    && let Some(refusal) = self.check_resume(resume, &s.symbols)
                {
                    out.push(refusal);
                    return Ok(None);
                }
                let Some(symbols) = self.resolve(&s.symbols, out) else {
                    return Ok(None);
                };
                let universe = &self.cx.universe;
                let indices = |from: &std::collections::BTreeMap<protocol::Symbol, u64>| {
                    from.iter()
                        .filter_map(|(name, &seq)| universe.find(name).map(|i| (i, seq)))
                        .collect()
                };
                let resume = s.resume.map(|r| ResumeFrom {
                    from: indices(&r.from),
                    book_from: indices(&r.book_from),
                    epoch: r.epoch,
                });
                tracing::debug!(
                    conn = id,
                    symbols = symbols.len(),
                    resume = resume.is_some(),
                    "subscribe"
                );
                Command::Subscribe {
                    id,
                    symbols,
                    resume,
                    quotes,
                    book: book.then_some(s.depth.unwrap_or(DEFAULT_BOOK_DEPTH) as usize),
                }
            }
            ClientMessage::Unsubscribe(s) => {
                let (quotes, book) = match &s.channels {
                    None => (true, true),
                    Some(channels) => match self.check_channels(channels, None, out) {
                        Some(both) => both,
                        None => return Ok(None),
                    },
                };
                let Some(symbols) = self.resolve(&s.symbols, out) else {
                    return Ok(None);
                };
                tracing::debug!(conn = id, symbols = symbols.len(), "unsubscribe");
                Command::Unsubscribe {
                    id,
                    symbols,
                    quotes,
                    book,
                }
            }
            ClientMessage::Order(order) => {
                if let Some(refusal) = self.check_id(&order.id, order.sent_ns) {
                    out.push(refusal);
                    return Ok(None);
                }
                tracing::debug!(conn = id, order = %order.id, symbol = %order.symbol, side = order.side.as_str(), qty = %order.qty, price = ?order.price, "order");
                Command::Order { id, order }
            }
            ClientMessage::Cancel(cancel) => {
                if let Some(refusal) = self.check_id(&cancel.id, cancel.sent_ns) {
                    out.push(refusal);
                    return Ok(None);
                }
                tracing::debug!(conn = id, order = %cancel.id, "cancel");
                Command::Cancel { id, cancel }
            }
        };
        Ok(Some(command))
    }

    /// Checks a token against `--order-token` in constant time. A wrong one is answered with
    /// `error`; the [`MAX_AUTH_FAILURES`]th closes the connection. The token is never logged.
    fn on_auth(&mut self, auth: &protocol::Auth, out: &mut Vec<Message>) -> Result<(), Ending> {
        let right = self
            .cx
            .order_token
            .as_ref()
            .is_none_or(|token| token.matches(&auth.token));
        if right {
            self.authorized = true;
            tracing::debug!(conn = self.id, "authorized for orders");
            out.push(self.text(&ServerMessage::Authorized(protocol::Authorized {
                ts_ns: now_ns(),
            })));
            return Ok(());
        }
        self.auth_failures = self.auth_failures.saturating_add(1);
        self.cx.metrics.auth_failures.inc();
        tracing::info!(
            conn = self.id,
            failures = self.auth_failures,
            "auth with a wrong token"
        );
        if self.auth_failures >= MAX_AUTH_FAILURES {
            return Err(Ending::server(
                close_code::POLICY,
                format!("{MAX_AUTH_FAILURES} wrong tokens"),
            )
            .because("auth_failures"));
        }
        out.push(self.error(
            ErrorCode::BadToken,
            format!(
                "wrong token ({} of {MAX_AUTH_FAILURES} tries; the last closes the connection)",
                self.auth_failures
            ),
            Vec::new(),
        ));
        Ok(())
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
            &id.into(),
            RejectCode::BadId,
            format!(
                "order id is {} bytes; it must be 1 to {} bytes (--max-order-id-bytes)",
                id.len(),
                self.max_id
            ),
            sent_ns,
        ))
    }

    /// Refuses a resume that names more symbols than the server has, or symbols this subscribe
    /// does not (unknown ones are reported with the subscription's).
    fn check_resume(&self, resume: &protocol::Resume, symbols: &[Symbol]) -> Option<Message> {
        let served = self.cx.universe.len();
        if resume.from.len() > served {
            return Some(self.error(
                ErrorCode::BadRequest,
                format!(
                    "`resume.from` names {} symbols; this server has {served}",
                    resume.from.len()
                ),
                Vec::new(),
            ));
        }
        if symbols.iter().any(|s| s == protocol::ALL_SYMBOLS) {
            return None;
        }
        let named: std::collections::HashSet<&str> = symbols.iter().map(Symbol::as_str).collect();
        let strays: Vec<Symbol> = resume
            .from
            .keys()
            .filter(|name| !named.contains(name.as_str()))
            .take(MAX_NAMED_UNKNOWN)
            .cloned()
            .collect();
        if strays.is_empty() {
            return None;
        }
        let list: Vec<&str> = strays.iter().map(|s| clip(s)).collect();
        Some(self.error(
            ErrorCode::BadRequest,
            format!(
                "`resume.from` names {}, which this subscribe does not",
                list.join(", ")
            ),
            Vec::new(),
        ))
    }

    /// Maps symbols to distinct indices; unknown ones get an `error` naming them (the first
    /// [`MAX_NAMED_UNKNOWN`]), the rest still apply.
    fn resolve(&self, symbols: &[Symbol], out: &mut Vec<Message>) -> Option<BitSet> {
        let universe = &self.cx.universe;
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

/// The `status` message of a set of stale symbols.
pub fn status(universe: &Universe, stale: &BitSet) -> ServerMessage {
    ServerMessage::Status(protocol::Status {
        stale: stale
            .iter()
            .filter_map(|s| universe.instruments.get(s))
            .map(|i| i.symbol.clone())
            .collect(),
        ts_ns: now_ns(),
    })
}
