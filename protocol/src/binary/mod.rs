//! The v1 binary codec (`tickwire.v1.bin`): the same messages as JSON, in WebSocket binary frames.
//!
//! A frame is one or more messages back to back. Every message starts with a 3-byte header, a
//! type byte and its whole length (header included, u16 little-endian), so a reader can step
//! over a type it does not know, as SBE's block length allows. Fields are little-endian and fixed
//! width where they can be; strings are a u16 byte length and UTF-8. Symbols travel as u32 ids:
//! the index of the symbol in `hello`'s list, as ITCH's stock locate codes do.
//!
//! Decimals are exact: a scale and an integer mantissa, never a float. Quotes and trades, the
//! hot path, have a compact form with 32-bit mantissas and one scale for the prices and one for
//! the sizes (41 and 33 bytes, against about 130 and 100 in JSON), and a wide form with a full
//! `dec` per field when a value does not fit. A `dec` is a scale byte and an i64 mantissa, or,
//! with the scale's top bit set, an i128 mantissa (a [`crate::Decimal`] has 96 bits).
//!
//! PROTOCOL.md has the byte layouts, with examples the tests decode.

mod cursor;
mod layout;

use std::collections::HashMap;

use cursor::In;
pub use layout::EventHead;
use layout::Layout;

use crate::error::DecodeError;
use crate::types::{ClientMessage, ServerMessage, Symbol};

/// Declares [`Kind`] from one table: each type's name, byte and JSON `type`.
macro_rules! kinds {
    ($($(#[$doc:meta])* $name:ident = $byte:literal, $json:literal;)*) => {
        /// A message's type byte, the first byte of its header.
        #[repr(u8)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Kind {
            $($(#[$doc])* $name = $byte,)*
        }

        impl TryFrom<u8> for Kind {
            /// The byte, which names no type this build knows.
            type Error = u8;

            fn try_from(byte: u8) -> Result<Self, u8> {
                match byte {
                    $($byte => Ok(Self::$name),)*
                    other => Err(other),
                }
            }
        }

        impl Kind {
            /// The `type` of the same message in JSON.
            pub fn name(self) -> &'static str {
                match self {
                    $(Self::$name => $json,)*
                }
            }
        }
    };
}

kinds! {
    // Server to client.
    Hello = 0x01, "hello";
    Snapshot = 0x02, "snapshot";
    /// A quote whose values fit 32-bit mantissas.
    Quote = 0x03, "quote";
    QuoteWide = 0x04, "quote";
    /// A trade whose values fit 32-bit mantissas.
    Trade = 0x05, "trade";
    TradeWide = 0x06, "trade";
    Ack = 0x07, "ack";
    Reject = 0x08, "reject";
    Fill = 0x09, "fill";
    Canceled = 0x0A, "canceled";
    Pong = 0x0B, "pong";
    Error = 0x0C, "error";
    Authorized = 0x0D, "authorized";
    Resumed = 0x0E, "resumed";
    Book = 0x0F, "book";
    BookUpdate = 0x10, "book_update";
    Status = 0x11, "status";
    // Client to server.
    Subscribe = 0x41, "subscribe";
    Unsubscribe = 0x42, "unsubscribe";
    Order = 0x43, "order";
    Cancel = 0x44, "cancel";
    Ping = 0x45, "ping";
    Auth = 0x46, "auth";
}

impl Kind {
    /// A snapshot, quote or trade: a message that starts with an [`EventHead`] whose `seq` is
    /// the symbol's quote stream.
    pub fn is_market_data(self) -> bool {
        matches!(
            self,
            Self::Snapshot | Self::Quote | Self::QuoteWide | Self::Trade | Self::TradeWide
        )
    }

    /// A `book` or `book_update`: an [`EventHead`] whose `seq` is the symbol's book stream.
    pub fn is_book(self) -> bool {
        matches!(self, Self::Book | Self::BookUpdate)
    }
}

/// The header every message starts with: type, then its whole length.
pub const HEADER: usize = 3;
/// The size of a compact quote and a compact trade.
pub const QUOTE_BYTES: usize = 41;
pub const TRADE_BYTES: usize = 33;
/// The symbol id that means every symbol in `subscribe` and `unsubscribe` (`*` in JSON).
pub const ALL_IDS: u32 = u32::MAX;

/// Symbol ids for encoding: each symbol's index in `hello`'s list.
#[derive(Debug, Clone, Default)]
pub struct SymbolIds {
    ids: HashMap<Symbol, u32>,
}

impl SymbolIds {
    pub fn new<'a>(symbols: impl IntoIterator<Item = &'a Symbol>) -> Self {
        Self {
            ids: symbols
                .into_iter()
                .enumerate()
                .map(|(i, s)| (s.clone(), u32::try_from(i).unwrap_or(u32::MAX - 1)))
                .collect(),
        }
    }

    pub fn get(&self, symbol: &str) -> Option<u32> {
        self.ids.get(symbol).copied()
    }
}

/// Why a message could not be encoded: a symbol the table does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("symbol `{0}` has no id on this connection")]
pub struct UnknownSymbol(pub Symbol);

/// Appends one server message to `frame`. Quotes, trades and snapshots need their symbol in
/// `ids`; `hello` defines the ids, so it needs none.
pub fn encode_server(
    message: &ServerMessage,
    ids: &SymbolIds,
    frame: &mut Vec<u8>,
) -> Result<(), UnknownSymbol> {
    match message {
        ServerMessage::Hello(m) => m.put(frame, ids),
        ServerMessage::Snapshot(m) => m.put(frame, ids),
        ServerMessage::Quote(m) => m.put(frame, ids),
        ServerMessage::Trade(m) => m.put(frame, ids),
        ServerMessage::Ack(m) => m.put(frame, ids),
        ServerMessage::Reject(m) => m.put(frame, ids),
        ServerMessage::Fill(m) => m.put(frame, ids),
        ServerMessage::Canceled(m) => m.put(frame, ids),
        ServerMessage::Pong(m) => m.put(frame, ids),
        ServerMessage::Error(m) => m.put(frame, ids),
        ServerMessage::Authorized(m) => m.put(frame, ids),
        ServerMessage::Resumed(m) => m.put(frame, ids),
        ServerMessage::Book(m) => layout::put_book(m, Kind::Book, frame, ids),
        ServerMessage::BookUpdate(m) => layout::put_book(m, Kind::BookUpdate, frame, ids),
        ServerMessage::Status(m) => m.put(frame, ids),
    }
}

/// Encodes one client message as a frame. Symbols are sent as ids from `ids` (`*` as
/// [`ALL_IDS`]); a symbol without an id is an error, as the server could not know it either.
pub fn encode_client(message: &ClientMessage, ids: &SymbolIds) -> Result<Vec<u8>, UnknownSymbol> {
    let mut frame = Vec::with_capacity(64);
    match message {
        ClientMessage::Subscribe(m) => m.put(&mut frame, ids),
        ClientMessage::Unsubscribe(m) => m.put(&mut frame, ids),
        ClientMessage::Order(m) => m.put(&mut frame, ids),
        ClientMessage::Cancel(m) => m.put(&mut frame, ids),
        ClientMessage::Ping(m) => m.put(&mut frame, ids),
        ClientMessage::Auth(m) => m.put(&mut frame, ids),
    }?;
    Ok(frame)
}

/// Splits a frame into its messages: `(type, whole message, header included)`, for readers that
/// pick fields at fixed offsets rather than decode every message.
pub fn messages(frame: &[u8]) -> impl Iterator<Item = Result<(u8, &[u8]), DecodeError>> {
    let mut rest = frame;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let (kind, len) = match rest {
            // 0: the message runs to the end of the frame (a hello over 64 KiB).
            [kind, 0, 0, ..] => (*kind, rest.len()),
            [kind, a, b, ..] => (*kind, usize::from(u16::from_le_bytes([*a, *b]))),
            _ => {
                rest = &[];
                return Some(Err(DecodeError::Invalid {
                    kind: "frame".to_owned(),
                    detail: "a message header needs 3 bytes".to_owned(),
                }));
            }
        };
        if len < HEADER || len > rest.len() {
            let detail = format!(
                "message type 0x{kind:02x} says {len} bytes, {} are left",
                rest.len()
            );
            rest = &[];
            return Some(Err(DecodeError::Invalid {
                kind: "frame".to_owned(),
                detail,
            }));
        }
        let (message, tail) = rest.split_at(len);
        rest = tail;
        Some(Ok((kind, message)))
    })
}

/// Decodes server frames; keeps the symbol list of the last `hello`, which gives ids their names.
#[derive(Debug, Default, Clone)]
pub struct ServerDecoder {
    symbols: Vec<Symbol>,
}

impl ServerDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// The symbols by id, as the last `hello` listed them.
    pub fn symbols(&self) -> &[Symbol] {
        &self.symbols
    }

    /// Decodes a frame, appending its messages to `out`. Messages of unknown types are skipped.
    pub fn frame(&mut self, frame: &[u8], out: &mut Vec<ServerMessage>) -> Result<(), DecodeError> {
        for part in messages(frame) {
            let (kind, bytes) = part?;
            if let Some(message) = self.message(kind, bytes)? {
                out.push(message);
            }
        }
        Ok(())
    }

    fn message(&mut self, kind: u8, bytes: &[u8]) -> Result<Option<ServerMessage>, DecodeError> {
        let Ok(kind) = Kind::try_from(kind) else {
            return Ok(None);
        };
        let r = &mut In::new(bytes, kind);
        let symbols = &self.symbols;
        let message = match kind {
            Kind::Hello => ServerMessage::Hello(Layout::get(r, kind, symbols)?),
            Kind::Snapshot => ServerMessage::Snapshot(Layout::get(r, kind, symbols)?),
            Kind::Quote | Kind::QuoteWide => ServerMessage::Quote(Layout::get(r, kind, symbols)?),
            Kind::Trade | Kind::TradeWide => ServerMessage::Trade(Layout::get(r, kind, symbols)?),
            Kind::Ack => ServerMessage::Ack(Layout::get(r, kind, symbols)?),
            Kind::Reject => ServerMessage::Reject(Layout::get(r, kind, symbols)?),
            Kind::Fill => ServerMessage::Fill(Layout::get(r, kind, symbols)?),
            Kind::Canceled => ServerMessage::Canceled(Layout::get(r, kind, symbols)?),
            Kind::Pong => ServerMessage::Pong(Layout::get(r, kind, symbols)?),
            Kind::Error => ServerMessage::Error(Layout::get(r, kind, symbols)?),
            Kind::Authorized => ServerMessage::Authorized(Layout::get(r, kind, symbols)?),
            Kind::Resumed => ServerMessage::Resumed(Layout::get(r, kind, symbols)?),
            Kind::Book => ServerMessage::Book(Layout::get(r, kind, symbols)?),
            Kind::BookUpdate => ServerMessage::BookUpdate(Layout::get(r, kind, symbols)?),
            Kind::Status => ServerMessage::Status(Layout::get(r, kind, symbols)?),
            // A client's message in a server's frame: not for this decoder.
            Kind::Subscribe
            | Kind::Unsubscribe
            | Kind::Order
            | Kind::Cancel
            | Kind::Ping
            | Kind::Auth => return Ok(None),
        };
        r.done()?;
        if let ServerMessage::Hello(hello) = &message {
            self.symbols.clone_from(&hello.symbols);
        }
        Ok(Some(message))
    }
}

/// Decodes one client message (a frame holds exactly one). Symbol ids are named from `symbols`,
/// the server's list as its `hello` gave it; an id outside it becomes `#ID`, which the server then
/// reports as an unknown symbol like any other.
pub fn decode_client(frame: &[u8], symbols: &[Symbol]) -> Result<ClientMessage, DecodeError> {
    let mut parts = messages(frame);
    let (kind, bytes) = parts
        .next()
        .transpose()?
        .ok_or_else(|| DecodeError::Invalid {
            kind: "frame".to_owned(),
            detail: "the frame is empty".to_owned(),
        })?;
    if parts.next().is_some() {
        return Err(DecodeError::Invalid {
            kind: "frame".to_owned(),
            detail: "a client frame carries one message".to_owned(),
        });
    }
    let unknown = || DecodeError::UnknownType(format!("0x{kind:02x}"));
    let kind = Kind::try_from(kind).map_err(|_| unknown())?;
    let r = &mut In::new(bytes, kind);
    let message = match kind {
        Kind::Subscribe => ClientMessage::Subscribe(Layout::get(r, kind, symbols)?),
        Kind::Unsubscribe => ClientMessage::Unsubscribe(Layout::get(r, kind, symbols)?),
        Kind::Order => ClientMessage::Order(Layout::get(r, kind, symbols)?),
        Kind::Cancel => ClientMessage::Cancel(Layout::get(r, kind, symbols)?),
        Kind::Ping => ClientMessage::Ping(Layout::get(r, kind, symbols)?),
        Kind::Auth => ClientMessage::Auth(Layout::get(r, kind, symbols)?),
        _ => return Err(unknown()),
    };
    r.done()?;
    Ok(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::Quote;
    use rust_decimal::Decimal;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    fn quote(bid: &str, size: &str) -> ServerMessage {
        ServerMessage::Quote(Quote {
            symbol: "MSFT".into(),
            seq: 1042,
            bid: d(bid),
            bid_size: d(size),
            ask: d("187.26"),
            ask_size: d("200"),
            ts_ns: 1_732_400_000_000_000_000,
            exch_ts_ns: None,
        })
    }

    #[test]
    fn quotes_are_compact_when_they_fit_and_wide_and_exact_when_not() {
        let ids = SymbolIds::new(&["AAPL".into(), "MSFT".into()]);
        let mut decoder = ServerDecoder {
            symbols: vec!["AAPL".into(), "MSFT".into()],
        };
        for (bid, size, bytes) in [
            ("187.25", "300", QUOTE_BYTES),
            ("187.255", "300", QUOTE_BYTES),
            ("99999999999.5", "300", 3 + 4 + 8 + 8 + 4 * 9),
            ("0.000000000000000000000000001", "1", 3 + 4 + 8 + 8 + 4 * 9),
            (
                "79228162514264337593543950335",
                "1",
                3 + 4 + 8 + 8 + 17 + 3 * 9,
            ),
        ] {
            let message = quote(bid, size);
            let mut frame = Vec::new();
            encode_server(&message, &ids, &mut frame).unwrap();
            assert_eq!(frame.len(), bytes, "{bid}");
            let mut out = Vec::new();
            decoder.frame(&frame, &mut out).unwrap();
            assert_eq!(out, vec![message]);
            let ServerMessage::Quote(q) = &out[0] else {
                unreachable!()
            };
            assert_eq!(q.bid.to_string(), bid);
        }
    }

    #[test]
    fn every_type_byte_names_its_kind_and_the_event_head_is_read_where_it_is_written() {
        for byte in 0..=u8::MAX {
            if let Ok(kind) = Kind::try_from(byte) {
                assert_eq!(kind as u8, byte);
            }
        }
        assert_eq!(Kind::try_from(0x7F), Err(0x7F));
        let ids = SymbolIds::new(&["AAPL".into(), "MSFT".into()]);
        let mut frame = Vec::new();
        encode_server(&quote("99999999999.5", "1"), &ids, &mut frame).unwrap();
        assert_eq!(frame[0], Kind::QuoteWide as u8);
        let head = EventHead::of(&frame).unwrap();
        assert_eq!(
            head,
            Some(EventHead {
                symbol: 1,
                seq: 1042,
                ts_ns: 1_732_400_000_000_000_000
            })
        );
        assert!(EventHead::of(&frame[..10]).is_err());
        let pong = ServerMessage::Pong(crate::types::Pong {
            sent_ns: 1,
            ts_ns: 2,
        });
        let mut frame = Vec::new();
        encode_server(&pong, &ids, &mut frame).unwrap();
        assert_eq!(EventHead::of(&frame), Ok(None));
    }

    #[test]
    fn truncated_and_lying_frames_are_errors_not_panics() {
        let ids = SymbolIds::new(&["MSFT".into()]);
        let mut frame = Vec::new();
        encode_server(&quote("1.5", "2"), &ids, &mut frame).unwrap();
        let mut decoder = ServerDecoder {
            symbols: vec!["MSFT".into()],
        };
        for cut in 0..frame.len() {
            assert!(decoder.frame(&frame[..cut], &mut Vec::new()).is_err() || cut == 0);
        }
        // A symbol id past hello's list.
        let mut unknown = frame.clone();
        unknown[3] = 9;
        assert!(decoder.frame(&unknown, &mut Vec::new()).is_err());
        // A length that runs past the frame.
        let mut long = frame.clone();
        long[1] = 200;
        assert!(decoder.frame(&long, &mut Vec::new()).is_err());
        // A hello that claims four billion symbols.
        let hello = [Kind::Hello as u8, 0x20, 0x00, 0, 0, 0, 0, 0, 0];
        assert!(decoder.frame(&hello, &mut Vec::new()).is_err());
        assert!(decode_client(&[Kind::Subscribe as u8, 7, 0, 255, 255, 255, 255], &[]).is_err());
        assert!(matches!(
            decode_client(&[0x7F, 3, 0], &[]),
            Err(DecodeError::UnknownType(_))
        ));
    }
}
