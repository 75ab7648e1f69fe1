//! Real venue captures in the forms the tests play them: Kraken's v1 book messages rewritten as
//! WebSocket v2 ones (every number's text kept, so the real checksums still hold), and a book
//! kept from them as text, to make the fresh snapshot a re-subscribe is answered with.

use std::cmp::Reverse;
use std::collections::BTreeMap;

use protocol::Decimal;

/// One v1 `book` message: its pair, whether it is a snapshot, its levels as text (price,
/// volume) and its checksum.
#[derive(Debug, Clone)]
pub struct KrakenV1 {
    pub pair: String,
    pub snapshot: bool,
    pub bids: Vec<(String, String)>,
    pub asks: Vec<(String, String)>,
    pub checksum: Option<String>,
}

impl KrakenV1 {
    /// Reads a line of the v1 capture (`[id, {"as":…,"bs":…}, "book-N", "PAIR"]` or updates
    /// with `a`, `b` and `c`), or `None` for a line that is not a book message.
    pub fn parse(line: &str) -> Option<Self> {
        let value: serde_json::Value = serde_json::from_str(line).ok()?;
        let items = value.as_array()?;
        let pair = items.last()?.as_str()?.to_owned();
        let mut message = Self {
            pair,
            snapshot: false,
            bids: Vec::new(),
            asks: Vec::new(),
            checksum: None,
        };
        for part in &items[1..items.len().saturating_sub(2)] {
            for (key, levels) in part.as_object()? {
                let target = match key.as_str() {
                    "as" | "bs" => {
                        message.snapshot = true;
                        if key == "as" {
                            &mut message.asks
                        } else {
                            &mut message.bids
                        }
                    }
                    "a" => &mut message.asks,
                    "b" => &mut message.bids,
                    "c" => {
                        message.checksum = levels.as_str().map(str::to_owned);
                        continue;
                    }
                    _ => continue,
                };
                for level in levels.as_array()? {
                    let level = level.as_array()?;
                    target.push((level[0].as_str()?.to_owned(), level[1].as_str()?.to_owned()));
                }
            }
        }
        Some(message)
    }

    /// The same message in WebSocket v2's form (numbers as JSON numbers, their text kept),
    /// for `symbol` (v2 may name the pair differently).
    pub fn v2(&self, symbol: &str) -> String {
        v2_book(
            symbol,
            self.snapshot,
            &self.bids,
            &self.asks,
            self.checksum.as_deref(),
        )
    }
}

/// A v2 `book` message.
pub fn v2_book(
    symbol: &str,
    snapshot: bool,
    bids: &[(String, String)],
    asks: &[(String, String)],
    checksum: Option<&str>,
) -> String {
    let levels = |side: &[(String, String)]| {
        side.iter()
            .map(|(p, q)| format!(r#"{{"price":{p},"qty":{q}}}"#))
            .collect::<Vec<_>>()
            .join(",")
    };
    let checksum = checksum.map_or_else(String::new, |c| format!(r#","checksum":{c}"#));
    format!(
        r#"{{"channel":"book","type":"{}","data":[{{"symbol":"{symbol}","bids":[{}],"asks":[{}]{checksum},"timestamp":"2021-04-17T16:43:30.244075Z"}}]}}"#,
        if snapshot { "snapshot" } else { "update" },
        levels(bids),
        levels(asks)
    )
}

/// A Kraken book kept from v1 messages as text, cut to `depth`.
#[derive(Debug, Clone)]
pub struct TextBook {
    depth: usize,
    bids: BTreeMap<Reverse<Decimal>, (String, String)>,
    asks: BTreeMap<Decimal, (String, String)>,
}

/// A side's levels, best first, as decimals.
pub type Levels = Vec<(Decimal, Decimal)>;

impl TextBook {
    pub fn new(depth: usize) -> Self {
        Self {
            depth,
            bids: BTreeMap::new(),
            asks: BTreeMap::new(),
        }
    }

    pub fn apply(&mut self, message: &KrakenV1) {
        if message.snapshot {
            self.bids.clear();
            self.asks.clear();
        }
        for (price, qty) in &message.bids {
            let p: Decimal = price.parse().unwrap();
            if qty.parse::<Decimal>().unwrap().is_zero() {
                self.bids.remove(&Reverse(p));
            } else {
                self.bids.insert(Reverse(p), (price.clone(), qty.clone()));
            }
        }
        for (price, qty) in &message.asks {
            let p: Decimal = price.parse().unwrap();
            if qty.parse::<Decimal>().unwrap().is_zero() {
                self.asks.remove(&p);
            } else {
                self.asks.insert(p, (price.clone(), qty.clone()));
            }
        }
        while self.bids.len() > self.depth {
            self.bids.pop_last();
        }
        while self.asks.len() > self.depth {
            self.asks.pop_last();
        }
    }

    /// A v2 snapshot of this book, with its checksum.
    pub fn snapshot_v2(&self, symbol: &str) -> String {
        let bids: Vec<(String, String)> = self.bids.values().cloned().collect();
        let asks: Vec<(String, String)> = self.asks.values().cloned().collect();
        let checksum = protocol::checksum::checksum_text(
            asks.iter().map(|(p, q)| (p.as_str(), q.as_str())),
            bids.iter().map(|(p, q)| (p.as_str(), q.as_str())),
        );
        v2_book(symbol, true, &bids, &asks, Some(&checksum.to_string()))
    }

    pub fn top(&self, n: usize) -> (Levels, Levels) {
        let read = |(p, q): &(String, String)| (p.parse().unwrap(), q.parse().unwrap());
        (
            self.bids.values().take(n).map(read).collect(),
            self.asks.values().take(n).map(read).collect(),
        )
    }
}
