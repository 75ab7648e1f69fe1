//! The Tickwire wire protocol: message types and the v1 JSON and binary codecs, shared by `feed-server`,
//! `terminal` and any Rust client.
//!
//! # Layout
//! - [`types`]: every message in both directions ([`ClientMessage`], [`ServerMessage`]).
//! - [`decimal`]: how prices and sizes travel exactly (strings out; strings or numbers in).
//! - [`codec`]: encoding, decoding (single objects and batch arrays) and batch framing.
//! - [`binary`]: the same messages in `tickwire.v1.bin` binary frames.
//! - [`error`]: [`DecodeError`], which maps onto the `error` reply codes.
//! - [`symbol`]: what a symbol may be, checked everywhere one is read.
//! - [`checksum`]: the order-book checksum (CRC32 of the top levels' wire text).
//! - [`book`]: a client's copy of a symbol's order book, rebuilt from `book` and `book_update`.
//! - [`frame`]: WebSocket frame heads on raw bytes, for code that frames messages itself.
//! - [`sequence`]: the per-symbol `seq` rule as a client follows it ([`Sequence`]).
//! - [`grid`]: prices and sizes as whole numbers of ticks and lots.
//! - [`token`]: the order-entry token an `auth` message carries, never printed.
//! - [`recording`]: recorded sessions on disk (header, reader, writer, replay speed); the
//!   `recording` feature, on by default.
//!
//! `PROTOCOL.md` beside this crate is the contract; its examples are parsed by the tests.

pub mod binary;
pub mod book;
pub mod checksum;
pub mod codec;
pub mod decimal;
pub mod error;
pub mod frame;
pub mod grid;
#[cfg(feature = "recording")]
pub mod recording;
pub mod sequence;
pub mod symbol;
mod tagged;
pub mod token;
pub mod types;

pub use codec::{Decoder, encode_batch, encode_client, encode_server};
pub use error::DecodeError;
pub use rust_decimal::Decimal;
pub use sequence::{Sequence, Step};
pub use symbol::{MAX_SYMBOL_BYTES, check_symbol, is_symbol_char};
pub use token::Token;
pub use types::*;

/// The v1 JSON subprotocol; also what the server speaks when a client offers none.
pub const SUBPROTOCOL_JSON: &str = "tickwire.v1.json";

/// The v1 binary subprotocol: the same messages in binary frames ([`binary`]).
pub const SUBPROTOCOL_BIN: &str = "tickwire.v1.bin";

/// How a connection's messages are encoded: the negotiated subprotocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Encoding {
    /// `tickwire.v1.json`: JSON text frames.
    #[default]
    Json,
    /// `tickwire.v1.bin`: binary frames ([`binary`]).
    Bin,
}

impl Encoding {
    /// The subprotocol name.
    pub fn subprotocol(self) -> &'static str {
        match self {
            Self::Json => SUBPROTOCOL_JSON,
            Self::Bin => SUBPROTOCOL_BIN,
        }
    }

    /// The encoding a subprotocol name stands for, if it is one of ours.
    pub fn from_subprotocol(name: &str) -> Option<Self> {
        match name {
            SUBPROTOCOL_JSON => Some(Self::Json),
            SUBPROTOCOL_BIN => Some(Self::Bin),
            _ => None,
        }
    }
}

impl std::str::FromStr for Encoding {
    type Err = String;

    /// `json` or `bin`, as the command lines take it.
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "json" => Ok(Self::Json),
            "bin" => Ok(Self::Bin),
            other => Err(format!("`{other}` is not an encoding: use json or bin")),
        }
    }
}

/// The largest client message a server accepts by default (64 KiB); a bigger one closes with 1009.
pub const MAX_CLIENT_MESSAGE_BYTES: usize = 64 * 1024;

/// WebSocket close codes (RFC 6455 section 7.4.1) and when Tickwire uses them.
pub mod close_code {
    /// The client or server is done.
    pub const NORMAL: u16 = 1000;
    /// The server is shutting down.
    pub const GOING_AWAY: u16 = 1001;
    /// The peer broke the WebSocket protocol (RFC 6455 framing rules).
    pub const PROTOCOL_ERROR: u16 = 1002;
    /// Received for a Close frame that carried no code; never sent.
    pub const NO_STATUS: u16 = 1005;
    /// The connection ended without a Close frame; never sent.
    pub const ABNORMAL: u16 = 1006;
    /// A text message was not valid UTF-8.
    pub const INVALID_DATA: u16 = 1007;
    /// A limit or rule was broken: a stuck slow consumer, a missed heartbeat, a flood.
    pub const POLICY: u16 = 1008;
    /// A message was over the size limit.
    pub const TOO_BIG: u16 = 1009;
    /// The server failed internally.
    pub const INTERNAL: u16 = 1011;
    /// The server's market restarted (a new epoch): reconnect, and start from snapshots.
    pub const SERVICE_RESTART: u16 = 1012;
}

/// Wall-clock nanoseconds since the Unix epoch, the unit of every `ts_ns` and `sent_ns`.
pub fn now_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}
