//! The v1 JSON codec.
//!
//! Encoding uses serde_json and happens once per event on the server; [`encode_batch`] joins
//! already-encoded messages into one array frame without re-encoding them. Decoding accepts a single
//! object or an array of objects (a batch) and never panics: every failure is a [`DecodeError`].
//!
//! Two decoding back ends are kept, [`Backend::Simd`] (simd-json, which parses from a mutable copy)
//! and [`Backend::Serde`] (serde_json). Measured on Tickwire's own messages
//! (`cargo bench -p protocol --bench codec`), serde_json wins on single small objects and simd-json
//! on batch frames, so [`Decoder::new`] uses [`Backend::Auto`], which picks by frame size.

use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::MAX_CLIENT_MESSAGE_BYTES;
use crate::error::DecodeError;
use crate::tagged::Tagged;
use crate::types::{ClientMessage, ServerMessage};

/// Which JSON parser a [`Decoder`] uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// simd-json: parses a mutable copy of the frame.
    Simd,
    /// serde_json: parses the frame in place.
    Serde,
    /// serde_json for frames under [`AUTO_SIMD_THRESHOLD`] bytes, simd-json for larger ones.
    Auto,
}

/// Frame size from which [`Backend::Auto`] uses simd-json. Measured: serde_json decodes a single
/// quote (~150 bytes) about 20% faster, simd-json a batch of 32 quotes about 20% faster.
pub const AUTO_SIMD_THRESHOLD: usize = 1024;

/// The back end [`Decoder::new`] uses: the faster one on Tickwire's messages.
pub const DEFAULT_BACKEND: Backend = Backend::Auto;

/// The largest server frame a client decodes by default (16 MiB): batches can be large, but not
/// unbounded.
pub const MAX_SERVER_FRAME_BYTES: usize = 16 * 1024 * 1024;

/// Encodes a server message as one JSON object.
pub fn encode_server(message: &ServerMessage) -> String {
    // Serializing these types cannot fail: no maps with non-string keys, no fallible Serialize.
    serde_json::to_string(message).unwrap_or_default()
}

/// Encodes a client message as one JSON object.
pub fn encode_client(message: &ClientMessage) -> String {
    serde_json::to_string(message).unwrap_or_default()
}

/// Joins already-encoded messages into one batch frame (`[a,b,...]`) without re-encoding.
/// A single message is returned as is, so a batch of one is a plain object.
pub fn encode_batch<'a>(parts: impl IntoIterator<Item = &'a str>) -> String {
    let mut parts = parts.into_iter();
    let Some(first) = parts.next() else {
        return "[]".to_owned();
    };
    let Some(second) = parts.next() else {
        return first.to_owned();
    };
    let (lower, _) = parts.size_hint();
    let mut out = String::with_capacity((first.len() + 1) * (lower + 2) + 2);
    out.push('[');
    out.push_str(first);
    out.push(',');
    out.push_str(second);
    for part in parts {
        out.push(',');
        out.push_str(part);
    }
    out.push(']');
    out
}

/// Decodes frames; keeps a scratch buffer so the simd-json back end does not allocate per frame.
#[derive(Debug)]
pub struct Decoder {
    backend: Backend,
    scratch: Vec<u8>,
    max_client: usize,
    max_server: usize,
}

impl Default for Decoder {
    fn default() -> Self {
        Self::new()
    }
}

impl Decoder {
    /// A decoder with the default back end and size limits.
    pub fn new() -> Self {
        Self::with_backend(DEFAULT_BACKEND)
    }

    /// A decoder with a chosen back end, for benchmarks and comparisons.
    pub fn with_backend(backend: Backend) -> Self {
        Self {
            backend,
            scratch: Vec::new(),
            max_client: MAX_CLIENT_MESSAGE_BYTES,
            max_server: MAX_SERVER_FRAME_BYTES,
        }
    }

    /// Sets the largest client message [`Decoder::client`] accepts.
    #[must_use]
    pub fn max_client_bytes(mut self, limit: usize) -> Self {
        self.max_client = limit;
        self
    }

    /// Decodes one client message. A JSON number that a parser cannot carry exactly (more than
    /// 15 significant digits with a fraction, or an integer beyond 64 bits) is refused rather
    /// than rounded: decimals that long travel as strings.
    pub fn client(&mut self, bytes: &[u8]) -> Result<ClientMessage, DecodeError> {
        check_size(bytes, self.max_client)?;
        let message = self
            .parse::<ClientMessage>(bytes)
            .map_err(|e| classify(bytes, e, CLIENT_TYPES))?;
        if let Some(number) = inexact_number(bytes) {
            return Err(DecodeError::Invalid {
                kind: message.type_name().to_owned(),
                detail: format!(
                    "the number {number} has more digits than a JSON number carries exactly; send it as a string (\"{number}\")"
                ),
            });
        }
        Ok(message)
    }

    /// Decodes a server frame, one object or an array of them, appending the messages to `out`.
    pub fn server_frame(
        &mut self,
        bytes: &[u8],
        out: &mut Vec<ServerMessage>,
    ) -> Result<(), DecodeError> {
        check_size(bytes, self.max_server)?;
        if first_non_space(bytes) == Some(b'[') {
            let batch = self
                .parse::<Vec<ServerMessage>>(bytes)
                .map_err(|e| classify_batch(bytes, e))?;
            out.extend(batch);
        } else {
            let message = self
                .parse::<ServerMessage>(bytes)
                .map_err(|e| classify(bytes, e, SERVER_TYPES))?;
            out.push(message);
        }
        Ok(())
    }

    /// Decodes a server frame into a new vector.
    pub fn server(&mut self, bytes: &[u8]) -> Result<Vec<ServerMessage>, DecodeError> {
        let mut out = Vec::new();
        self.server_frame(bytes, &mut out)?;
        Ok(out)
    }

    fn parse<T: DeserializeOwned>(&mut self, bytes: &[u8]) -> Result<T, String> {
        let backend = match self.backend {
            Backend::Auto if bytes.len() >= AUTO_SIMD_THRESHOLD => Backend::Simd,
            Backend::Auto => Backend::Serde,
            chosen => chosen,
        };
        match backend {
            Backend::Serde | Backend::Auto => {
                serde_json::from_slice(bytes).map_err(|e| e.to_string())
            }
            Backend::Simd => {
                self.scratch.clear();
                self.scratch.extend_from_slice(bytes);
                let result =
                    simd_json::serde::from_slice(&mut self.scratch).map_err(|e| e.to_string());
                // Do not keep a huge buffer alive because of one big frame.
                if self.scratch.capacity() > 1 << 20 {
                    self.scratch = Vec::new();
                }
                result
            }
        }
    }
}

/// Significant digits a JSON number with a fraction keeps through an `f64`.
const EXACT_DIGITS: usize = 15;

/// The first number token outside strings that would not be read exactly (clipped), if any.
fn inexact_number(bytes: &[u8]) -> Option<String> {
    let mut at = 0;
    let mut in_string = false;
    while at < bytes.len() {
        let b = bytes[at];
        if in_string {
            match b {
                b'\\' => at += 1,
                b'"' => in_string = false,
                _ => {}
            }
            at += 1;
            continue;
        }
        if b == b'"' {
            in_string = true;
            at += 1;
            continue;
        }
        if b == b'-' || b.is_ascii_digit() {
            let end = bytes[at..]
                .iter()
                .position(|c| !matches!(c, b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9'))
                .map_or(bytes.len(), |n| at + n);
            let token = &bytes[at..end];
            if !exact_number(token) {
                let text = String::from_utf8_lossy(&token[..token.len().min(48)]).into_owned();
                return Some(text);
            }
            at = end;
            continue;
        }
        at += 1;
    }
    None
}

/// Whether a JSON number token is read exactly: an integer within 64 bits, or a fraction of at
/// most [`EXACT_DIGITS`] significant digits (leading and trailing zeros do not count).
fn exact_number(token: &[u8]) -> bool {
    let negative = token.first() == Some(&b'-');
    let unsigned = if negative { &token[1..] } else { token };
    let mantissa_end = unsigned
        .iter()
        .position(|c| matches!(c, b'e' | b'E'))
        .unwrap_or(unsigned.len());
    let mantissa = &unsigned[..mantissa_end];
    let fraction = mantissa.contains(&b'.') || mantissa_end < unsigned.len();
    let digits: Vec<u8> = mantissa
        .iter()
        .copied()
        .filter(u8::is_ascii_digit)
        .collect();
    if !fraction {
        let limit: &[u8] = if negative {
            b"9223372036854775808"
        } else {
            b"18446744073709551615"
        };
        let digits = match digits.iter().position(|&d| d != b'0') {
            Some(first) => &digits[first..],
            None => return true,
        };
        return digits.len() < limit.len() || (digits.len() == limit.len() && digits <= limit);
    }
    let first = digits.iter().position(|&d| d != b'0');
    let last = digits.iter().rposition(|&d| d != b'0');
    match (first, last) {
        (Some(first), Some(last)) => last - first < EXACT_DIGITS,
        _ => true,
    }
}

const CLIENT_TYPES: &[&str] = <ClientMessage as Tagged>::TYPES;
const SERVER_TYPES: &[&str] = <ServerMessage as Tagged>::TYPES;

fn check_size(bytes: &[u8], limit: usize) -> Result<(), DecodeError> {
    if bytes.len() > limit {
        return Err(DecodeError::TooLarge {
            size: bytes.len(),
            limit,
        });
    }
    Ok(())
}

fn first_non_space(bytes: &[u8]) -> Option<u8> {
    bytes.iter().copied().find(|b| !b.is_ascii_whitespace())
}

/// Turns a parser's message into a precise error; runs only on the failure path.
fn classify(bytes: &[u8], parser_error: String, known: &[&str]) -> DecodeError {
    #[derive(Deserialize)]
    struct TypeProbe {
        #[serde(rename = "type")]
        kind: Option<serde_json::Value>,
    }
    if std::str::from_utf8(bytes).is_err() {
        return DecodeError::InvalidUtf8;
    }
    match serde_json::from_slice::<TypeProbe>(bytes) {
        Err(e) if e.is_syntax() || e.is_eof() => DecodeError::Syntax(e.to_string()),
        Err(_) => DecodeError::Syntax("expected a JSON object".to_owned()),
        Ok(TypeProbe {
            kind: Some(serde_json::Value::String(kind)),
        }) => {
            if known.contains(&kind.as_str()) {
                DecodeError::Invalid {
                    kind,
                    detail: parser_error,
                }
            } else {
                DecodeError::UnknownType(kind.chars().take(64).collect())
            }
        }
        Ok(TypeProbe { .. }) => DecodeError::MissingType,
    }
}

fn classify_batch(bytes: &[u8], parser_error: String) -> DecodeError {
    if std::str::from_utf8(bytes).is_err() {
        return DecodeError::InvalidUtf8;
    }
    match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
        Err(e) => DecodeError::Syntax(e.to_string()),
        Ok(_) => DecodeError::Invalid {
            kind: "batch".to_owned(),
            detail: parser_error,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_that_a_json_parser_would_round_are_refused() {
        let order = |qty: &str| {
            format!(
                r#"{{"type":"order","id":"x","symbol":"A","side":"buy","qty":{qty},"sent_ns":18446744073709551615}}"#
            )
        };
        let mut d = Decoder::new();
        for exact in [
            "1",
            "1.5",
            "187.250000000000000000",
            "123456789012345",
            "0.000000000000001",
            "-5",
            "1e2",
        ] {
            assert!(d.client(order(exact).as_bytes()).is_ok(), "{exact}");
        }
        for inexact in [
            "1.0000000000000000000000000000000000000001",
            "1234567890123456.7",
            "18446744073709551616",
        ] {
            let err = d.client(order(inexact).as_bytes()).unwrap_err();
            assert_eq!(err.code(), ErrorCode::BadRequest, "{inexact}: {err}");
            assert!(err.to_string().contains("send it as a string"), "{err}");
        }
        // Digits inside strings are the exact form, whatever their length.
        let text = order(r#""1.0000000000000000000000000001""#);
        assert!(d.client(text.as_bytes()).is_ok());
    }
    use crate::types::*;
    use rust_decimal::Decimal;
    use std::str::FromStr;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn both() -> [Decoder; 2] {
        [
            Decoder::with_backend(Backend::Serde),
            Decoder::with_backend(Backend::Simd),
        ]
    }

    fn quote() -> ServerMessage {
        ServerMessage::Quote(Quote {
            symbol: "AAPL".into(),
            seq: 42,
            bid: dec("187.25"),
            bid_size: dec("300"),
            ask: dec("187.26"),
            ask_size: dec("200"),
            ts_ns: 1_732_400_000_000_000_000,
            exch_ts_ns: None,
        })
    }

    #[test]
    fn a_quote_round_trips_with_decimals_as_strings() {
        let text = encode_server(&quote());
        assert!(text.contains(r#""bid":"187.25""#), "{text}");
        for mut d in both() {
            assert_eq!(d.server(text.as_bytes()).unwrap(), vec![quote()]);
        }
    }

    #[test]
    fn a_batch_frame_decodes_to_every_message_in_order() {
        let one = encode_server(&quote());
        let pong = encode_server(&ServerMessage::Pong(Pong {
            sent_ns: 1,
            ts_ns: 2,
        }));
        let frame = encode_batch([one.as_str(), pong.as_str(), one.as_str()]);
        assert!(frame.starts_with('[') && frame.ends_with(']'));
        for mut d in both() {
            let got = d.server(frame.as_bytes()).unwrap();
            assert_eq!(got.len(), 3);
            assert_eq!(
                got[1],
                ServerMessage::Pong(Pong {
                    sent_ns: 1,
                    ts_ns: 2
                })
            );
        }
    }

    #[test]
    fn a_batch_of_one_is_a_plain_object() {
        assert_eq!(encode_batch(["{}"]), "{}");
        assert_eq!(encode_batch(std::iter::empty()), "[]");
    }

    #[test]
    fn numbers_are_accepted_for_decimals_and_arrive_exact() {
        let text =
            br#"{"type":"order","id":"c-1","symbol":"AAPL","side":"buy","qty":100,"price":0.1}"#;
        for mut d in both() {
            let ClientMessage::Order(order) = d.client(text).unwrap() else {
                panic!("not an order")
            };
            assert_eq!(order.price, Some(dec("0.1")));
            assert_eq!(order.price.unwrap().to_string(), "0.1");
            assert_eq!(order.qty, dec("100"));
            assert_eq!(order.sent_ns, None);
        }
    }

    #[test]
    fn the_type_may_come_anywhere_in_the_object() {
        let text = br#"{"sent_ns":7,"extra":{"a":[1,2]},"type":"ping"}"#;
        for mut d in both() {
            assert_eq!(
                d.client(text).unwrap(),
                ClientMessage::Ping(Ping { sent_ns: 7 })
            );
        }
        let quote_late = br#"[{"symbol":"AAPL","seq":42,"bid":"187.25","bid_size":"300","ask":187.26,"ask_size":"200","ts_ns":1732400000000000000,"type":"quote"}]"#;
        for mut d in both() {
            assert_eq!(d.server(quote_late).unwrap(), vec![quote()]);
        }
    }

    #[test]
    fn a_market_order_has_no_price() {
        let text =
            br#"{"type":"order","id":"m","symbol":"AAPL","side":"sell","qty":"5","price":null}"#;
        let ClientMessage::Order(order) = Decoder::new().client(text).unwrap() else {
            panic!()
        };
        assert_eq!(order.price, None);
        assert_eq!(order.side, Side::Sell);
    }

    #[test]
    fn bad_input_gives_typed_errors() {
        type Check = fn(&DecodeError) -> bool;
        let cases: &[(&[u8], Check)] = &[
            (b"{\"type\":\"ping\",\"sent_ns\":", |e| matches!(e, DecodeError::Syntax(_))),
            (b"{\"type\":\"launch\"}", |e| matches!(e, DecodeError::UnknownType(t) if t == "launch")),
            (b"{\"symbols\":[]}", |e| matches!(e, DecodeError::MissingType)),
            (b"{\"type\":7}", |e| matches!(e, DecodeError::MissingType)),
            (b"[1,2]", |e| matches!(e, DecodeError::Syntax(_))),
            (b"{\"type\":\"ping\"}", |e| matches!(e, DecodeError::Invalid { kind, .. } if kind == "ping")),
            (b"{\"type\":\"ping\",\"sent_ns\":\"soon\"}", |e| matches!(e, DecodeError::Invalid { .. })),
            (b"{\"type\":\"ping\",\"sent_ns\":-1}", |e| matches!(e, DecodeError::Invalid { .. })),
            (b"{\"type\":\"order\",\"id\":\"x\",\"symbol\":\"A\",\"side\":\"buy\",\"qty\":NaN}", |e| matches!(e, DecodeError::Syntax(_))),
            (b"{\"type\":\"order\",\"id\":\"x\",\"symbol\":\"A\",\"side\":\"buy\",\"qty\":\"NaN\"}", |e| matches!(e, DecodeError::Invalid { .. })),
            (b"{\"type\":\"order\",\"id\":\"x\",\"symbol\":\"A\",\"side\":\"buy\",\"qty\":\"Infinity\"}", |e| matches!(e, DecodeError::Invalid { .. })),
            (b"{\"type\":\"order\",\"id\":\"x\",\"symbol\":\"A\",\"side\":\"buy\",\"qty\":1e300}", |e| matches!(e, DecodeError::Invalid { .. })),
            (b"{\"type\":\"order\",\"id\":\"x\",\"symbol\":\"A\",\"side\":\"buy\",\"qty\":\"99999999999999999999999999999999\"}", |e| matches!(e, DecodeError::Invalid { .. })),
            (b"{\"type\":\"order\",\"id\":\"x\",\"symbol\":\"A\",\"side\":\"up\",\"qty\":\"1\"}", |e| matches!(e, DecodeError::Invalid { .. })),
            (b"{\"type\":\"subscribe\",\"symbols\":\"AAPL\"}", |e| matches!(e, DecodeError::Invalid { .. })),
            (b"{\"type\":\"ping\",\"sent_ns\":1}\xff", |e| matches!(e, DecodeError::InvalidUtf8)),
            (b"", |e| matches!(e, DecodeError::Syntax(_))),
        ];
        for (input, check) in cases {
            for mut d in both() {
                let err = d.client(input).expect_err(&String::from_utf8_lossy(input));
                assert!(
                    check(&err),
                    "{:?} gave {err:?}",
                    String::from_utf8_lossy(input)
                );
                assert!(!err.to_string().is_empty());
            }
        }
    }

    #[test]
    fn a_ten_megabyte_string_is_refused_by_size_before_parsing() {
        let mut text = br#"{"type":"subscribe","symbols":[""#.to_vec();
        text.extend(std::iter::repeat_n(b'A', 10 * 1024 * 1024));
        text.extend_from_slice(br#""]}"#);
        let err = Decoder::new().client(&text).unwrap_err();
        assert!(matches!(
            err,
            DecodeError::TooLarge {
                limit: MAX_CLIENT_MESSAGE_BYTES,
                ..
            }
        ));
        assert_eq!(err.code(), crate::ErrorCode::BadRequest);
    }

    #[test]
    fn unknown_type_maps_to_its_own_error_code() {
        let err = Decoder::new().client(br#"{"type":"nope"}"#).unwrap_err();
        assert_eq!(err.code(), crate::ErrorCode::UnknownType);
    }

    #[test]
    fn unknown_reject_and_error_codes_decode_as_other() {
        let text = br#"{"type":"error","code":"brand_new","message":"m"}"#;
        let got = Decoder::new().server(text).unwrap();
        assert!(matches!(&got[0], ServerMessage::Error(e) if e.code == crate::ErrorCode::Other));
    }
}
