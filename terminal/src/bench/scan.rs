//! Reading server frames with as little work as possible: only the fields the benchmark uses
//! (`type`, `symbol`, `seq`, `ts_ns`, `id`, `code`, `sent_ns`) are parsed, in any order; prices
//! and everything else are skipped without being converted. A frame may hold one object or an
//! array of them, as PROTOCOL.md allows.
//!
//! Two readers: a skimmer for the plain JSON servers send (no escapes in the fields read, whole
//! numbers), about three times cheaper than serde_json (77 against 228 ns for a quote in a frame of 500), which the client's CPU at millions of
//! deliveries per second needs; and serde_json for everything else, which also explains what is
//! wrong with a bad frame.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

/// The fields of one server message that the benchmark reads.
#[derive(Debug, Deserialize, PartialEq, Eq)]
pub(crate) struct Item<'a> {
    #[serde(rename = "type", borrow)]
    pub kind: Cow<'a, str>,
    #[serde(default, borrow)]
    pub symbol: Option<Cow<'a, str>>,
    #[serde(default)]
    pub seq: Option<u64>,
    #[serde(default)]
    pub ts_ns: Option<u64>,
    #[serde(default, borrow)]
    pub id: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub code: Option<Cow<'a, str>>,
    #[serde(default)]
    pub sent_ns: Option<u64>,
}

/// Calls `each` for every message in `frame`; fails on anything that is not a message object or
/// an array of them.
pub(crate) fn items<'a>(
    frame: &'a str,
    mut each: impl FnMut(Item<'a>),
) -> Result<(), serde_json::Error> {
    if let Some(items) = skim::frame(frame) {
        items.into_iter().for_each(each);
        return Ok(());
    }
    let mut de = serde_json::Deserializer::from_str(frame);
    Frame(&mut each).deserialize(&mut de)?;
    de.end()
}

/// What the benchmark reads of one binary message (`tickwire.v1.bin`).
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum BinItem {
    /// A quote or trade: its symbol id, `seq` and `ts_ns`.
    Event {
        id: u32,
        seq: u64,
        ts_ns: u64,
    },
    Snapshot {
        id: u32,
        seq: u64,
    },
    Error {
        code: u8,
    },
    /// The answer to a resume: the whole frame is decoded for it (it is rare).
    Resumed,
    /// A `book` or `book_update`: the frame is decoded whole to apply it.
    Book,
}

/// Calls `each` for the quotes, trades, snapshots and errors of a binary frame, reading only
/// their event heads (symbol id, `seq`, `ts_ns`, which every one of them starts with) and an
/// error's code, and stepping over everything else by its length.
pub(crate) fn binary_items(frame: &[u8], mut each: impl FnMut(BinItem)) -> Result<(), String> {
    use protocol::binary::{self, EventHead, Kind};
    for part in binary::messages(frame) {
        let (kind, message) = part.map_err(|e| e.to_string())?;
        match Kind::try_from(kind) {
            Ok(Kind::Error) => each(BinItem::Error {
                code: message.get(binary::HEADER).copied().unwrap_or(0),
            }),
            Ok(Kind::Resumed) => each(BinItem::Resumed),
            Ok(kind) if kind.is_book() => each(BinItem::Book),
            Ok(kind) if kind.is_market_data() => {
                let Ok(Some(head)) = EventHead::of(message) else {
                    return Err(match kind {
                        Kind::Snapshot => "a snapshot is too short".to_owned(),
                        _ => format!("message type 0x{:02x} is too short", kind as u8),
                    });
                };
                each(if kind == Kind::Snapshot {
                    BinItem::Snapshot {
                        id: head.symbol,
                        seq: head.seq,
                    }
                } else {
                    BinItem::Event {
                        id: head.symbol,
                        seq: head.seq,
                        ts_ns: head.ts_ns,
                    }
                });
            }
            _ => {}
        }
    }
    Ok(())
}

struct Frame<F>(F);

impl<'de, F: FnMut(Item<'de>)> DeserializeSeed<'de> for Frame<F> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de, F: FnMut(Item<'de>)> Visitor<'de> for Frame<F> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a message object or an array of them")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, map: A) -> Result<(), A::Error> {
        let item = Item::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
        (self.0)(item);
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        while let Some(item) = seq.next_element::<Item<'de>>()? {
            (self.0)(item);
        }
        Ok(())
    }
}

mod skim {
    //! The fast reader: `None` for anything it does not handle, which serde_json then reads.

    use std::borrow::Cow;

    use super::Item;

    pub(super) fn frame(text: &str) -> Option<Vec<Item<'_>>> {
        let mut p = Skim { text, at: 0 };
        let mut out = Vec::new();
        p.space();
        match p.peek()? {
            b'{' => out.push(p.object()?),
            b'[' => {
                p.at += 1;
                p.space();
                if p.peek()? == b']' {
                    p.at += 1;
                } else {
                    loop {
                        p.space();
                        out.push(p.object()?);
                        p.space();
                        match p.bump()? {
                            b',' => {}
                            b']' => break,
                            _ => return None,
                        }
                    }
                }
            }
            _ => return None,
        }
        p.space();
        (p.at == text.len()).then_some(out)
    }

    struct Skim<'a> {
        text: &'a str,
        at: usize,
    }

    impl<'a> Skim<'a> {
        fn peek(&self) -> Option<u8> {
            self.text.as_bytes().get(self.at).copied()
        }

        fn bump(&mut self) -> Option<u8> {
            let b = self.peek()?;
            self.at += 1;
            Some(b)
        }

        fn space(&mut self) {
            while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
                self.at += 1;
            }
        }

        fn eat(&mut self, byte: u8) -> Option<()> {
            (self.bump()? == byte).then_some(())
        }

        fn object(&mut self) -> Option<Item<'a>> {
            self.eat(b'{')?;
            let mut item = Item {
                kind: Cow::Borrowed(""),
                symbol: None,
                seq: None,
                ts_ns: None,
                id: None,
                code: None,
                sent_ns: None,
            };
            let mut typed = false;
            self.space();
            if self.peek()? == b'}' {
                return None;
            }
            loop {
                self.space();
                let key = self.plain_string()?;
                self.space();
                self.eat(b':')?;
                self.space();
                match key {
                    "type" => {
                        item.kind = Cow::Borrowed(self.plain_string()?);
                        typed = true;
                    }
                    "symbol" => item.symbol = Some(Cow::Borrowed(self.plain_string()?)),
                    "id" => item.id = Some(Cow::Borrowed(self.plain_string()?)),
                    "code" => item.code = Some(Cow::Borrowed(self.plain_string()?)),
                    "seq" => item.seq = Some(self.whole_number()?),
                    "ts_ns" => item.ts_ns = Some(self.whole_number()?),
                    "sent_ns" => item.sent_ns = Some(self.whole_number()?),
                    _ => self.skip_value()?,
                }
                self.space();
                match self.bump()? {
                    b',' => {}
                    b'}' => break,
                    _ => return None,
                }
            }
            typed.then_some(item)
        }

        /// A string without escapes or control characters.
        fn plain_string(&mut self) -> Option<&'a str> {
            self.eat(b'"')?;
            let start = self.at;
            let rest = self.text.as_bytes().get(start..)?;
            let end = start
                + rest
                    .iter()
                    .position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
            if rest[end - start] != b'"' {
                return None;
            }
            self.at = end + 1;
            // Both ends are ASCII quotes, so they are character boundaries.
            self.text.get(start..end)
        }

        fn whole_number(&mut self) -> Option<u64> {
            let start = self.at;
            let mut n: u64 = 0;
            while let Some(d @ b'0'..=b'9') = self.peek() {
                n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
                self.at += 1;
            }
            let after = self.peek()?;
            (self.at > start && !matches!(after, b'.' | b'e' | b'E')).then_some(n)
        }

        /// Skips a string whose opening quote is consumed; escapes allowed.
        fn skip_string(&mut self) -> Option<()> {
            let bytes = self.text.as_bytes();
            loop {
                let found = bytes
                    .get(self.at..)?
                    .iter()
                    .position(|&b| b == b'"' || b == b'\\')?;
                self.at += found + 1;
                if bytes[self.at - 1] == b'"' {
                    return Some(());
                }
                // A backslash: the next byte is escaped, whatever it is.
                self.at += 1;
            }
        }

        /// Skips any value: a string, an object or array (nesting counted, strings inside
        /// skipped whole), or a number or literal.
        fn skip_value(&mut self) -> Option<()> {
            let bytes = self.text.as_bytes();
            let mut depth = 0usize;
            loop {
                match self.bump()? {
                    b'"' => self.skip_string()?,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => depth = depth.checked_sub(1)?,
                    _ if depth == 0 => {
                        // A number or literal: up to the next delimiter.
                        while !matches!(
                            bytes.get(self.at),
                            None | Some(b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r')
                        ) {
                            self.at += 1;
                        }
                    }
                    _ => {}
                }
                if depth == 0 {
                    return Some(());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binary_frames_yield_ids_seqs_and_times_at_their_fixed_offsets() {
        use protocol::binary::{SymbolIds, encode_server};
        use protocol::{ErrorCode, ErrorReply, Quote, ServerMessage};
        let symbols = ["AAPL".into(), "MSFT".into()];
        let ids = SymbolIds::new(&symbols);
        let d = |s: &str| s.parse().unwrap();
        let mut frame = Vec::new();
        for (bid, seq) in [("1.5", 7), ("99999999999.25", 8)] {
            let quote = ServerMessage::Quote(Quote {
                symbol: "MSFT".into(),
                seq,
                bid: d(bid),
                bid_size: d("1"),
                ask: d("2"),
                ask_size: d("1"),
                ts_ns: 1_000 + seq,
                exch_ts_ns: None,
            });
            encode_server(&quote, &ids, &mut frame).unwrap();
        }
        let error = ServerMessage::Error(ErrorReply {
            code: ErrorCode::RateLimited,
            message: "slow down".into(),
            symbols: Vec::new(),
        });
        encode_server(&error, &ids, &mut frame).unwrap();
        let mut seen = Vec::new();
        binary_items(&frame, |item| seen.push(item)).unwrap();
        // The compact quote and the wide one read the same way.
        assert_eq!(
            seen,
            vec![
                BinItem::Event {
                    id: 1,
                    seq: 7,
                    ts_ns: 1_007
                },
                BinItem::Event {
                    id: 1,
                    seq: 8,
                    ts_ns: 1_008
                },
                BinItem::Error { code: 5 },
            ]
        );
        assert!(binary_items(&frame[..frame.len() - 1], |_| {}).is_err());
    }

    fn kinds(frame: &str) -> Result<Vec<(String, Option<u64>)>, serde_json::Error> {
        let mut out = Vec::new();
        items(frame, |i| out.push((i.kind.into_owned(), i.seq)))?;
        Ok(out)
    }

    #[test]
    fn reads_objects_and_arrays_with_fields_in_any_order() {
        let one = r#"{"seq":7,"bid":"1.5","extra":{"a":[1,{"b":2}]},"type":"quote","symbol":"AAPL","ts_ns":9}"#;
        let mut got = Vec::new();
        items(one, |i| got.push(i)).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].kind, "quote");
        assert_eq!(got[0].symbol.as_deref(), Some("AAPL"));
        assert_eq!((got[0].seq, got[0].ts_ns), (Some(7), Some(9)));
        let batch = r#"[{"type":"trade","symbol":"KO","seq":1,"price":"63.39","size":"5","ts_ns":2},
            {"type":"ack","id":"o1","order_id":"7","sent_ns":3,"ts_ns":4}]"#;
        assert_eq!(
            kinds(batch).unwrap(),
            vec![("trade".to_owned(), Some(1)), ("ack".to_owned(), None)]
        );
        let escaped = r#"{"type":"reject","id":"o\"1","code":"bad_price","reason":"x"}"#;
        let mut ids = Vec::new();
        items(escaped, |i| ids.push(i.id.map(Cow::into_owned))).unwrap();
        assert_eq!(ids, vec![Some("o\"1".to_owned())]);
    }

    #[test]
    fn the_skimmer_reads_what_serde_reads_and_leaves_it_what_it_cannot() {
        let cases = [
            r#"{"type":"quote","symbol":"AAPL","seq":1,"bid":"1.5","ts_ns":2}"#,
            r#" [ {"type" : "ack" , "id":"o7","sent_ns":3,"nested":{"a":[1,{"b":"x\"}"}]},"n":-1.5e3,"t":true,"z":null} , {"type":"fill","id":"o7"} ] "#,
            "[]",
            r#"{"type":"error","code":"bad_request","message":"a \"quoted\" {[ word"}"#,
        ];
        for case in cases {
            let fast = skim::frame(case).unwrap_or_else(|| panic!("skim refused {case}"));
            let mut slow = Vec::new();
            let mut de = serde_json::Deserializer::from_str(case);
            Frame(|i| slow.push(i)).deserialize(&mut de).unwrap();
            assert_eq!(fast, slow, "{case}");
        }
        // Escapes in a field read, fractions, or broken JSON: left to serde_json.
        for case in [
            r#"{"type":"quote","symbol":"A\u0041PL","seq":1}"#,
            r#"{"type":"quote","seq":1.0}"#,
            r#"{"type":"quote","seq":99999999999999999999}"#,
            r#"{"type":"quote","x":[1,2}"#,
            r#"{"type":"quote"}x"#,
            r#"{"symbol":"AAPL"}"#,
            r#"{"type":"quote""#,
        ] {
            assert!(skim::frame(case).is_none(), "{case}");
        }
        let mut ids = Vec::new();
        items(r#"{"type":"quote","symbol":"A\u0041PL","seq":1}"#, |i| {
            ids.push(i.symbol.map(Cow::into_owned));
        })
        .unwrap();
        assert_eq!(ids, vec![Some("AAPL".to_owned())]);
    }

    #[test]
    fn refuses_what_is_not_a_message() {
        for bad in [
            "",
            "7",
            r#""quote""#,
            r#"{"symbol":"AAPL"}"#,
            r#"[{"type":"quote"},3]"#,
            r#"{"type":"quote","seq":-1}"#,
            r#"{"type":"quote"} trailing"#,
        ] {
            assert!(kinds(bad).is_err(), "{bad}");
        }
    }
}
