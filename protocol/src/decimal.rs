//! Exact decimals on the wire: written as JSON strings, read from strings or numbers.
//!
//! Strings are the exact form and are parsed digit by digit. JSON numbers are accepted for
//! convenience; the parser hands them over as `f64`, and the shortest text that round-trips that
//! `f64` is parsed instead, so `0.1` arrives as exactly `0.1`. That is exact for any number written
//! with up to 15 significant digits; send longer ones as strings. Values that would be rounded to fit
//! a [`Decimal`] (more than 28 fractional digits) or are out of its range are errors, never
//! silently changed.

use std::fmt;

use rust_decimal::Decimal;
use serde::de::{self, Visitor};
use serde::{Deserializer, Serializer};

/// Serializes as a JSON string such as `"187.25"`.
pub fn serialize<S: Serializer>(value: &Decimal, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

/// Reads a string or a number exactly, or fails with a message naming the value.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Decimal, D::Error> {
    deserializer.deserialize_any(DecimalVisitor)
}

/// Parses decimal text exactly: no exponent, no rounding, no `NaN`.
pub fn parse(text: &str) -> Result<Decimal, String> {
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err("empty decimal".to_owned());
    }
    let body = trimmed.strip_prefix(['-', '+']).unwrap_or(trimmed);
    if !body.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        || body.bytes().filter(|&b| b == b'.').count() > 1
    {
        return Err(format!("`{}` is not a plain decimal number", clip(trimmed)));
    }
    Decimal::from_str_exact(trimmed)
        .map_err(|e| format!("`{}` does not fit an exact decimal: {e}", clip(trimmed)))
}

fn clip(text: &str) -> &str {
    match text.char_indices().nth(32) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

struct DecimalVisitor;

impl Visitor<'_> for DecimalVisitor {
    type Value = Decimal;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a decimal as a string (\"187.25\") or a number")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Decimal, E> {
        parse(v).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Decimal, E> {
        Ok(Decimal::from(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Decimal, E> {
        Ok(Decimal::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Decimal, E> {
        if !v.is_finite() {
            return Err(E::custom("a decimal must be finite"));
        }
        // `Display` for f64 prints the shortest text that reads back as the same f64, with no
        // exponent: exactly what a person wrote, for up to 15 significant digits.
        let text = v.to_string();
        parse(&text).map_err(|e| E::custom(format!("number {e}")))
    }
}

/// The same rules for an optional decimal; `null` or an absent field is `None`.
pub mod option {
    use rust_decimal::Decimal;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(
        value: &Option<Decimal>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(d) => serializer.collect_str(d),
            None => serializer.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<Decimal>, D::Error> {
        #[derive(Deserialize)]
        struct Exact(#[serde(with = "super")] Decimal);
        Ok(Option::<Exact>::deserialize(deserializer)?.map(|Exact(d)| d))
    }
}
