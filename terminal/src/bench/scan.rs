//! Reading server frames with as little work as possible: only the fields the benchmark uses
//! (`type`, `symbol`, `seq`, `ts_ns`, `id`, `code`, `sent_ns`) are parsed, in any order; prices
//! and everything else are skipped without being converted. A frame may hold one object or an
//! array of them, as PROTOCOL.md allows.

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
    frame: &'a [u8],
    each: impl FnMut(Item<'a>),
) -> Result<(), serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(frame);
    Frame(each).deserialize(&mut de)?;
    de.end()
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

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(frame: &str) -> Result<Vec<(String, Option<u64>)>, serde_json::Error> {
        let mut out = Vec::new();
        items(frame.as_bytes(), |i| out.push((i.kind.into_owned(), i.seq)))?;
        Ok(out)
    }

    #[test]
    fn reads_objects_and_arrays_with_fields_in_any_order() {
        let one = r#"{"seq":7,"bid":"1.5","extra":{"a":[1,{"b":2}]},"type":"quote","symbol":"AAPL","ts_ns":9}"#;
        let mut got = Vec::new();
        items(one.as_bytes(), |i| got.push(i)).unwrap();
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
        items(escaped.as_bytes(), |i| ids.push(i.id.map(Cow::into_owned))).unwrap();
        assert_eq!(ids, vec![Some("o\"1".to_owned())]);
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
