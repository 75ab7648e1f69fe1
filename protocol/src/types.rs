//! Every message of the v1 protocol, in both directions.
//!
//! Field names and `type` tags are a contract with outside clients: see `PROTOCOL.md`. Prices and
//! sizes are [`Decimal`]s written as JSON strings; see [`crate::decimal`] for what input accepts.

use std::collections::BTreeMap;

use compact_str::CompactString;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// A ticker symbol such as `AAPL`. Inline for up to 24 bytes, so decoding a quote does not allocate
/// for it.
pub type Symbol = CompactString;

/// A client's order id: unique per connection, chosen by the client.
pub type OrderId = CompactString;

/// The symbol wildcard in `subscribe` and `unsubscribe`: every symbol the server has.
pub const ALL_SYMBOLS: &str = "*";

/// A message from a client to the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMessage {
    Subscribe(Subscribe),
    Unsubscribe(Unsubscribe),
    Order(Order),
    Cancel(Cancel),
    Ping(Ping),
    Auth(Auth),
}

crate::tagged::tagged_enum!(ClientMessage, "a client message object with a `type`", {
    "subscribe" => Subscribe,
    "unsubscribe" => Unsubscribe,
    "order" => Order,
    "cancel" => Cancel,
    "ping" => Ping,
    "auth" => Auth,
});

/// Start receiving a snapshot and then live events for these symbols (`*` = all).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscribe {
    pub symbols: Vec<Symbol>,
    /// What to stream for these symbols; absent means `["quotes"]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<Vec<Channel>>,
    /// Levels per side of the `book` channel, 1 to [`MAX_BOOK_DEPTH`]; absent means
    /// [`DEFAULT_BOOK_DEPTH`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub depth: Option<u32>,
    /// Where a previous connection left off: symbols it names get the events they missed
    /// instead of a snapshot, when the server still has them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume: Option<Resume>,
}

impl Subscribe {
    /// A plain subscription: a snapshot of each symbol, then live events.
    pub fn to(symbols: Vec<Symbol>) -> Self {
        Self {
            symbols,
            channels: None,
            depth: None,
            resume: None,
        }
    }

    /// A subscription to quotes that resumes where `resume` says, if it says.
    pub fn resuming(symbols: Vec<Symbol>, resume: Option<Resume>) -> Self {
        Self {
            resume,
            ..Self::to(symbols)
        }
    }

    /// The channels asked for: `quotes` when the message named none.
    pub fn channels(&self) -> &[Channel] {
        self.channels.as_deref().unwrap_or(&[Channel::Quotes])
    }
}

/// What a subscription streams for its symbols.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// `quote`s and `trade`s, after a `snapshot`.
    Quotes,
    /// The order book: a `book`, then `book_update`s.
    Book,
    /// A channel this build does not know (the server answers `bad_channel`).
    #[serde(other)]
    Other,
}

impl Channel {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Quotes => "quotes",
            Self::Book => "book",
            Self::Other => "other",
        }
    }
}

/// Book levels per side a subscription gets when it names no `depth`.
pub const DEFAULT_BOOK_DEPTH: u32 = 10;
/// The deepest book a subscription may ask for.
pub const MAX_BOOK_DEPTH: u32 = 50;

/// The streams a client held when its connection ended: the `epoch` of that connection's
/// `hello`, and the last `seq` it has of each symbol.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resume {
    pub epoch: String,
    #[serde(default)]
    pub from: BTreeMap<Symbol, u64>,
    /// The last book `seq` the client holds of each symbol whose book it streamed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub book_from: BTreeMap<Symbol, u64>,
}

impl Resume {
    /// Where the quote streams of a connection of `epoch` left off.
    pub fn quotes(epoch: String, from: BTreeMap<Symbol, u64>) -> Self {
        Self {
            epoch,
            from,
            book_from: BTreeMap::new(),
        }
    }
}

/// Stop receiving events for these symbols (`*` = all).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unsubscribe {
    pub symbols: Vec<Symbol>,
    /// The channels to stop; absent means all of them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channels: Option<Vec<Channel>>,
}

impl Unsubscribe {
    /// Stops every channel of these symbols.
    pub fn all(symbols: Vec<Symbol>) -> Self {
        Self {
            symbols,
            channels: None,
        }
    }
}

/// Which way an order trades.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Buy,
    Sell,
}

impl Side {
    /// The side that trades against this one.
    #[must_use]
    pub fn opposite(self) -> Self {
        match self {
            Self::Buy => Self::Sell,
            Self::Sell => Self::Buy,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Buy => "buy",
            Self::Sell => "sell",
        }
    }
}

/// A new order. No `price` means a market order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub id: OrderId,
    pub symbol: Symbol,
    pub side: Side,
    #[serde(with = "crate::decimal")]
    pub qty: Decimal,
    #[serde(
        default,
        with = "crate::decimal::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub price: Option<Decimal>,
    /// The client's clock, echoed verbatim in the `ack` or `reject`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_ns: Option<u64>,
}

/// Cancel a resting order by the client's id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cancel {
    pub id: OrderId,
    /// Echoed verbatim in a `reject`, if the cancel fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_ns: Option<u64>,
}

/// An application-level round trip; answered by `pong`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ping {
    pub sent_ns: u64,
}

/// Proves the right to send orders and cancels on a server started with `--order-token`. Its
/// `Debug` form hides the token, so it never reaches a log.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Auth {
    pub token: String,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth").field("token", &"<hidden>").finish()
    }
}

/// A message from the server to a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    Hello(Hello),
    Snapshot(Snapshot),
    Quote(Quote),
    Trade(Trade),
    Ack(Ack),
    Reject(Reject),
    Fill(Fill),
    Canceled(Canceled),
    Pong(Pong),
    Error(ErrorReply),
    Authorized(Authorized),
    Resumed(Resumed),
    Book(Book),
    BookUpdate(BookUpdate),
    Status(Status),
}

crate::tagged::tagged_enum!(ServerMessage, "a server message object with a `type`", {
    "hello" => Hello,
    "snapshot" => Snapshot,
    "quote" => Quote,
    "trade" => Trade,
    "ack" => Ack,
    "reject" => Reject,
    "fill" => Fill,
    "canceled" => Canceled,
    "pong" => Pong,
    "error" => Error,
    "authorized" => Authorized,
    "resumed" => Resumed,
    "book" => Book,
    "book_update" => BookUpdate,
    "status" => Status,
});

impl ServerMessage {
    /// The symbol and `seq` of a market-data event, for gap detection.
    pub fn market_seq(&self) -> Option<(&str, u64)> {
        match self {
            Self::Quote(q) => Some((&q.symbol, q.seq)),
            Self::Trade(t) => Some((&t.symbol, t.seq)),
            Self::Snapshot(s) => Some((&s.symbol, s.seq)),
            _ => None,
        }
    }

    /// The symbol and book `seq` of a `book` or `book_update`: the book is its own stream.
    pub fn book_seq(&self) -> Option<(&str, u64)> {
        match self {
            Self::Book(b) | Self::BookUpdate(b) => Some((&b.symbol, b.seq)),
            _ => None,
        }
    }
}

/// The server's name and version, in `hello`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerInfo {
    pub name: String,
    pub version: String,
}

/// The first message on every connection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// The subprotocol in use, e.g. `tickwire.v1.json`.
    pub protocol: String,
    pub server: ServerInfo,
    /// Every symbol the server can stream.
    pub symbols: Vec<Symbol>,
    /// How often the server sends WebSocket pings; answer them or be closed after two intervals.
    pub heartbeat_ms: u64,
    pub ts_ns: u64,
    /// Where the events come from (servers before recordings did not say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<SourceInfo>,
    /// Orders and cancels need an `auth` message first (the server runs with `--order-token`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub auth_required: bool,
    /// Names the server's `seq` space: `seq`s from a connection with another epoch (a restarted
    /// server) cannot be resumed. Absent from servers that cannot resume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epoch: Option<String>,
}

/// What a server streams: synthesized events, or a replayed recording.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceInfo {
    /// `synthetic`, `replay` or `ingest`.
    pub kind: String,
    /// Synthesis: events per second, all symbols together.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<u64>,
    /// Synthesis: the random seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Replay: the recording's file name (without its directory).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Replay: `1` for the recorded timing, `10` for ten times faster, `max` for as fast as
    /// clients take it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub speed: Option<String>,
    /// Replay: whether the recording starts over when it ends.
    #[serde(default, rename = "loop", skip_serializing_if = "Option::is_none")]
    pub looping: Option<bool>,
    /// Replay: when the recording started, in its own time (ns since the Unix epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recording_start_ns: Option<u64>,
    /// Replay: the wall-clock time that `recording_start_ns` was replayed at. An event with
    /// `ts_ns = t` happened at `recording_start_ns + (t - replay_start_ns) * speed` in the
    /// recording's time (first pass).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replay_start_ns: Option<u64>,
    /// Ingest: the venues whose live feeds the server streams (`BINANCE`, `KRAKEN`, or a
    /// relayed server's URL for `TICKWIRE`), in the order given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub venues: Option<Vec<String>>,
}

/// The full state of one symbol, sent on subscribe and after a re-sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub symbol: Symbol,
    /// The `seq` of the last event included; live events continue at `seq + 1`.
    pub seq: u64,
    #[serde(with = "crate::decimal")]
    pub bid: Decimal,
    #[serde(with = "crate::decimal")]
    pub bid_size: Decimal,
    #[serde(with = "crate::decimal")]
    pub ask: Decimal,
    #[serde(with = "crate::decimal")]
    pub ask_size: Decimal,
    #[serde(with = "crate::decimal")]
    pub last: Decimal,
    #[serde(with = "crate::decimal")]
    pub last_size: Decimal,
    #[serde(with = "crate::decimal")]
    pub volume: Decimal,
    /// Session open, high and low of traded prices, and the previous close the change is measured
    /// from.
    #[serde(with = "crate::decimal")]
    pub open: Decimal,
    #[serde(with = "crate::decimal")]
    pub high: Decimal,
    #[serde(with = "crate::decimal")]
    pub low: Decimal,
    #[serde(with = "crate::decimal")]
    pub prev_close: Decimal,
    /// The price grid: order prices must be a multiple of it.
    #[serde(with = "crate::decimal")]
    pub tick_size: Decimal,
    pub ts_ns: u64,
}

/// A change of the best bid or ask.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Quote {
    pub symbol: Symbol,
    pub seq: u64,
    #[serde(with = "crate::decimal")]
    pub bid: Decimal,
    #[serde(with = "crate::decimal")]
    pub bid_size: Decimal,
    #[serde(with = "crate::decimal")]
    pub ask: Decimal,
    #[serde(with = "crate::decimal")]
    pub ask_size: Decimal,
    /// When the source scheduled this event (ns since the Unix epoch).
    pub ts_ns: u64,
    /// From a live venue: the venue's own time of the event (ns since the Unix epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exch_ts_ns: Option<u64>,
}

/// A trade printed in the market.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trade {
    pub symbol: Symbol,
    pub seq: u64,
    #[serde(with = "crate::decimal")]
    pub price: Decimal,
    #[serde(with = "crate::decimal")]
    pub size: Decimal,
    /// When the source scheduled this event (ns since the Unix epoch).
    pub ts_ns: u64,
    /// From a live venue: the venue's own time of the trade (ns since the Unix epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exch_ts_ns: Option<u64>,
    /// From a live venue: the venue's trade id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trade_id: Option<u64>,
    /// From a live venue that says: the side that took liquidity (`buy`: a buyer lifted the
    /// offer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggressor: Option<Side>,
}

/// One price level: its price and the total size resting there, written `["187.25","300"]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Level(
    #[serde(with = "crate::decimal")] pub Decimal,
    #[serde(with = "crate::decimal")] pub Decimal,
);

impl Level {
    pub fn price(&self) -> Decimal {
        self.0
    }

    pub fn size(&self) -> Decimal {
        self.1
    }
}

/// A symbol's order book (`book`: the whole book to the subscribed depth, best first) or what
/// changed in it (`book_update`: each level's new total size, `"0"` removing it). `seq` counts
/// the symbol's book messages, apart from its quotes' `seq`; `checksum` is
/// [`crate::checksum::checksum`] of the book after this message, truncated to the depth.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Book {
    pub symbol: Symbol,
    pub seq: u64,
    pub bids: Vec<Level>,
    pub asks: Vec<Level>,
    pub checksum: u32,
    pub ts_ns: u64,
}

/// A `book_update` carries the same fields as a `book`.
pub type BookUpdate = Book;

/// The order was accepted; fills may follow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    /// The client's order id.
    pub id: OrderId,
    /// The server's order id.
    pub order_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_ns: Option<u64>,
    pub ts_ns: u64,
}

/// Why an order or cancel was refused, for programs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectCode {
    /// The symbol is not traded here.
    UnknownSymbol,
    /// The quantity is zero, negative, fractional or above the per-order maximum.
    BadQuantity,
    /// The limit price is not positive or not on the symbol's tick grid.
    BadPrice,
    /// The client reused the id of one of its orders.
    DuplicateId,
    /// The connection has too many resting orders.
    TooManyOpenOrders,
    /// The connection sent orders faster than its limit.
    RateLimited,
    /// No open order with that id (never sent, already filled or already canceled).
    UnknownOrder,
    /// A market order found no liquidity.
    NoLiquidity,
    /// The order id is empty or longer than the server's limit (64 bytes by default).
    BadId,
    /// The server takes orders only from connections that sent the right `auth` token.
    Unauthorized,
    /// The market core did not answer in time (an edge of a cluster whose core or bus is away):
    /// the order may not have reached the market; send it again with a new id once it is back.
    Unavailable,
    /// A code this client version does not know.
    #[serde(other)]
    Other,
}

impl RejectCode {
    /// The wire name, as `reject.code` carries it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::UnknownSymbol => "unknown_symbol",
            Self::BadQuantity => "bad_quantity",
            Self::BadPrice => "bad_price",
            Self::DuplicateId => "duplicate_id",
            Self::TooManyOpenOrders => "too_many_open_orders",
            Self::RateLimited => "rate_limited",
            Self::UnknownOrder => "unknown_order",
            Self::NoLiquidity => "no_liquidity",
            Self::BadId => "bad_id",
            Self::Unauthorized => "unauthorized",
            Self::Unavailable => "unavailable",
            Self::Other => "other",
        }
    }
}

/// The order or cancel was refused; nothing else follows for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reject {
    pub id: OrderId,
    pub code: RejectCode,
    /// For people.
    pub reason: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_ns: Option<u64>,
    pub ts_ns: u64,
}

/// All or part of an order traded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fill {
    pub id: OrderId,
    pub order_id: String,
    #[serde(with = "crate::decimal")]
    pub price: Decimal,
    #[serde(with = "crate::decimal")]
    pub qty: Decimal,
    /// Quantity still open; zero means the order is done.
    #[serde(with = "crate::decimal")]
    pub leaves: Decimal,
    pub ts_ns: u64,
}

/// A resting order was removed at the client's request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Canceled {
    pub id: OrderId,
    pub order_id: String,
    /// Quantity that was still open and is now canceled.
    #[serde(with = "crate::decimal")]
    pub leaves: Decimal,
    pub ts_ns: u64,
    /// Why, when the server canceled it (a market order larger than the book); absent for a
    /// client's `cancel`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The answer to an `auth` with the right token: orders and cancels are accepted from now on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Authorized {
    pub ts_ns: u64,
}

/// Which symbols' source is stale now: a live venue's stream that is down and reconnecting.
/// Sent on every change and after `hello` while any is; the list is the whole set, so an empty
/// one means every symbol is live again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub stale: Vec<Symbol>,
    pub ts_ns: u64,
}

/// The answer to `ping`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pong {
    pub sent_ns: u64,
    pub ts_ns: u64,
}

/// What was wrong with a client message, for programs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Not JSON, not UTF-8, a missing field or a field of the wrong type.
    BadRequest,
    /// A `type` the server does not know.
    UnknownType,
    /// One or more symbols in a subscribe or unsubscribe are not served.
    UnknownSymbol,
    /// The message was binary; this subprotocol speaks text frames.
    UnsupportedFrame,
    /// The client sends faster than its limit.
    RateLimited,
    /// An `auth` message carried the wrong token.
    BadToken,
    /// A `subscribe` or `unsubscribe` named a channel the server does not stream.
    BadChannel,
    /// A `subscribe` asked for a book depth outside 1 to 50.
    BadDepth,
    /// A code this client version does not know.
    #[serde(other)]
    Other,
}

/// What became of a resuming `subscribe`: the symbols that get the events they missed, and those
/// that get a snapshot instead. Each list names at most [`MAX_NAMED_SYMBOLS`]; the counts are
/// whole.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resumed {
    pub recovered: Vec<Symbol>,
    pub recovered_count: u64,
    pub snapshot: Vec<Symbol>,
    pub snapshot_count: u64,
}

/// Symbols one reply names at most (`error` `unknown_symbol`, `resumed`); its counts say the rest.
pub const MAX_NAMED_SYMBOLS: usize = 16;

/// A client message failed; the connection stays open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorReply {
    pub code: ErrorCode,
    /// For people: names what was wrong.
    pub message: String,
    /// The symbols a request named that the server does not have (only for `unknown_symbol`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub symbols: Vec<Symbol>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reject_code_names_are_the_wire_names() {
        for code in [
            RejectCode::UnknownSymbol,
            RejectCode::BadQuantity,
            RejectCode::BadPrice,
            RejectCode::DuplicateId,
            RejectCode::TooManyOpenOrders,
            RejectCode::RateLimited,
            RejectCode::UnknownOrder,
            RejectCode::NoLiquidity,
            RejectCode::BadId,
            RejectCode::Unauthorized,
            RejectCode::Unavailable,
        ] {
            let wire = serde_json::to_string(&code).unwrap_or_default();
            assert_eq!(wire, format!("\"{}\"", code.as_str()));
        }
    }
}
