//! Kraken's order book as its WebSocket sends it, kept exactly: levels are read from the
//! message text (a price of `0.010` stays `0.010`), never through a float, because Kraken's
//! CRC32 checksum is over that text and a float turns a right checksum wrong.
//!
//! WebSocket v2 (`{"channel":"book","type":"snapshot"|"update","data":[{"symbol",…,"bids":
//! [{"price":…,"qty":…}],"asks":[…],"checksum":…}]}`, numbers as JSON numbers) and v1 (`[id,
//! {"as":[[price,volume,time],…],"bs":…}, "book-N", "PAIR"]` snapshots and `{"a":…}` / `{"b":…,
//! "c":"checksum"}` updates, numbers as strings) follow the same rules: a snapshot replaces the
//! book, an update sets each level's new volume (zero, however written, removes it), the book
//! is cut to the subscribed depth, and the checksum of the top ten asks then bids must match.
//! A mismatch means the book is wrong: the caller subscribes to the symbol again.

use std::cmp::Reverse;
use std::collections::BTreeMap;

use protocol::Decimal;
use protocol::Side;
use serde::Deserialize;
use serde_json::value::RawValue;

/// One level as Kraken wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Level {
    qty: Decimal,
    price_text: String,
    qty_text: String,
}

/// Why a message could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KrakenError {
    #[error("not a Kraken book message: {0}")]
    Malformed(String),
    #[error("checksum {expected} does not match the book ({computed}): subscribe again")]
    Mismatch { expected: u32, computed: u32 },
    #[error("an update before the snapshot")]
    NoSnapshot,
}

/// A level change the book made, as exact decimals: `(side, price, new size)`, 0 removing it.
pub type Change = (Side, Decimal, Decimal);

/// A side's best level: price and size.
pub type Best = (Decimal, Decimal);

/// One symbol's book.
#[derive(Debug, Clone, Default)]
pub struct KrakenBook {
    depth: usize,
    bids: BTreeMap<Reverse<Decimal>, Level>,
    asks: BTreeMap<Decimal, Level>,
    synced: bool,
}

impl KrakenBook {
    /// A book kept to the subscribed `depth` (10, 25, 100, 500 or 1000 at Kraken).
    pub fn new(depth: usize) -> Self {
        Self {
            depth: depth.max(1),
            ..Self::default()
        }
    }

    /// The book's checksum as Kraken computes it.
    pub fn checksum(&self) -> u32 {
        protocol::checksum::checksum_text(
            self.asks
                .values()
                .map(|l| (l.price_text.as_str(), l.qty_text.as_str())),
            self.bids
                .values()
                .map(|l| (l.price_text.as_str(), l.qty_text.as_str())),
        )
    }

    /// The best bid and ask, `(price, size)`.
    pub fn top(&self) -> (Option<Best>, Option<Best>) {
        (
            self.bids.iter().next().map(|(Reverse(p), l)| (*p, l.qty)),
            self.asks.iter().next().map(|(p, l)| (*p, l.qty)),
        )
    }

    /// Levels a side, `(bids, asks)`.
    pub fn len(&self) -> (usize, usize) {
        (self.bids.len(), self.asks.len())
    }

    /// Forgets the book (after a mismatch): the next message must be a snapshot.
    pub fn reset(&mut self) {
        self.bids.clear();
        self.asks.clear();
        self.synced = false;
    }

    /// Applies a v2 `book` message's data entry for this symbol; returns what changed.
    pub fn apply_v2(&mut self, message: &str) -> Result<Vec<Change>, KrakenError> {
        let parsed: V2Message<'_> =
            serde_json::from_str(message).map_err(|e| KrakenError::Malformed(e.to_string()))?;
        if parsed.channel != "book" {
            return Err(KrakenError::Malformed(format!(
                "channel `{}`",
                parsed.channel
            )));
        }
        let snapshot = match parsed.kind {
            "snapshot" => true,
            "update" => false,
            other => return Err(KrakenError::Malformed(format!("type `{other}`"))),
        };
        let mut changes = Vec::new();
        for data in parsed.data {
            let bids: Vec<(&str, &str)> = data.bids.iter().map(V2Level::text).collect();
            let asks: Vec<(&str, &str)> = data.asks.iter().map(V2Level::text).collect();
            changes.extend(self.apply(snapshot, &bids, &asks, data.checksum)?);
        }
        Ok(changes)
    }

    /// Applies levels given as text: a whole book (`snapshot`) or an update; then cuts to the
    /// depth and checks `checksum` when given.
    pub fn apply(
        &mut self,
        snapshot: bool,
        bids: &[(&str, &str)],
        asks: &[(&str, &str)],
        checksum: Option<u32>,
    ) -> Result<Vec<Change>, KrakenError> {
        let mut changes = Vec::new();
        if snapshot {
            changes.extend(
                self.bids
                    .keys()
                    .map(|Reverse(p)| (Side::Buy, *p, Decimal::ZERO)),
            );
            changes.extend(self.asks.keys().map(|p| (Side::Sell, *p, Decimal::ZERO)));
            self.bids.clear();
            self.asks.clear();
            self.synced = true;
        } else if !self.synced {
            return Err(KrakenError::NoSnapshot);
        }
        for (side, levels) in [(Side::Buy, bids), (Side::Sell, asks)] {
            for &(price, qty) in levels {
                let (price_text, qty_text) = (unquote(price), unquote(qty));
                let price = number(price_text)?;
                let qty = number(qty_text)?;
                let level = Level {
                    qty,
                    price_text: price_text.to_owned(),
                    qty_text: qty_text.to_owned(),
                };
                let removed = qty.is_zero();
                match (side, removed) {
                    (Side::Buy, true) => drop(self.bids.remove(&Reverse(price))),
                    (Side::Buy, false) => drop(self.bids.insert(Reverse(price), level)),
                    (Side::Sell, true) => drop(self.asks.remove(&price)),
                    (Side::Sell, false) => drop(self.asks.insert(price, level)),
                }
                changes.push((side, price, if removed { Decimal::ZERO } else { qty }));
            }
        }
        while self.bids.len() > self.depth {
            if let Some((Reverse(p), _)) = self.bids.pop_last() {
                changes.push((Side::Buy, p, Decimal::ZERO));
            }
        }
        while self.asks.len() > self.depth {
            if let Some((p, _)) = self.asks.pop_last() {
                changes.push((Side::Sell, p, Decimal::ZERO));
            }
        }
        if let Some(expected) = checksum {
            let computed = self.checksum();
            if computed != expected {
                return Err(KrakenError::Mismatch { expected, computed });
            }
        }
        Ok(changes)
    }
}

/// A number's text without the quotes v1 (and re-serialized captures) put around it.
fn unquote(text: &str) -> &str {
    text.trim().trim_matches('"')
}

fn number(text: &str) -> Result<Decimal, KrakenError> {
    protocol::decimal::parse(text).map_err(|e| KrakenError::Malformed(format!("`{text}`: {e}")))
}

#[derive(Deserialize)]
struct V2Message<'a> {
    #[serde(borrow)]
    channel: &'a str,
    #[serde(rename = "type", borrow)]
    kind: &'a str,
    #[serde(borrow)]
    data: Vec<V2Data<'a>>,
}

#[derive(Deserialize)]
struct V2Data<'a> {
    #[serde(default, borrow)]
    bids: Vec<V2Level<'a>>,
    #[serde(default, borrow)]
    asks: Vec<V2Level<'a>>,
    checksum: Option<u32>,
}

#[derive(Deserialize)]
struct V2Level<'a> {
    #[serde(borrow)]
    price: &'a RawValue,
    #[serde(borrow)]
    qty: &'a RawValue,
}

impl<'a> V2Level<'a> {
    /// The price's and the quantity's text as the message wrote them.
    fn text(&self) -> (&'a str, &'a str) {
        (self.price.get(), self.qty.get())
    }
}
