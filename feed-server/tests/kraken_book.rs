//! Kraken's books from real captures (`../shared/realdata/exchanges/kraken/`): the v2 snapshots
//! give their published checksums only when numbers keep their text (`0.010`), and every one of
//! the 4,269 v1 updates of ten pairs verifies when each pair's book is kept from its snapshot.
//! A test says so and passes when the folder is absent.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::HashMap;
use std::path::PathBuf;

use feed_server::ingest::kraken::{KrakenBook, KrakenError};

fn capture(name: &str) -> Option<PathBuf> {
    support::realdata::sample(&format!("exchanges/kraken/{name}"))
}

#[test]
fn v2_snapshots_give_their_published_checksums_from_the_numbers_text() {
    for (name, depth, checksum) in [
        (
            "v2_samples/book_snapshot_GST-USD_depth10_krakpot.json",
            10,
            1_931_231_958,
        ),
        (
            "v2_samples/book_snapshot_BTC-USDT_depth25_bot_arbitratge.json",
            25,
            4_162_058_887_u32,
        ),
    ] {
        let Some(path) = capture(name) else {
            return;
        };
        let text = std::fs::read_to_string(&path).unwrap();
        let mut book = KrakenBook::new(depth);
        let changes = book.apply_v2(&text).unwrap();
        assert_eq!(book.checksum(), checksum, "{name}");
        assert_eq!(book.len(), (depth, depth), "{name}");
        assert_eq!(changes.len(), 2 * depth);
    }
    // Read through a float, `0.010` becomes `0.01` and the right checksum turns wrong.
    let Some(path) = capture("v2_samples/book_snapshot_GST-USD_depth10_krakpot.json") else {
        return;
    };
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("\"price\":0.010,"));
    let floated = text.replace("\"price\":0.010,", "\"price\":0.01,");
    let error = KrakenBook::new(10).apply_v2(&floated).unwrap_err();
    assert!(
        matches!(
            error,
            KrakenError::Mismatch {
                expected: 1_931_231_958,
                ..
            }
        ),
        "{error}"
    );
}

/// A v1 message's pair, and its book parts: `as`/`bs` (a snapshot) or `a`/`b` with `c`.
fn v1_parts(line: &str) -> Option<(String, usize, Vec<serde_json::Value>)> {
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    let items = value.as_array()?;
    let pair = items.last()?.as_str()?.to_owned();
    let channel = items.get(items.len().checked_sub(2)?)?.as_str()?;
    let depth = channel.strip_prefix("book-")?.parse().ok()?;
    let parts = items[1..items.len() - 2].to_vec();
    Some((pair, depth, parts))
}

fn levels(value: Option<&serde_json::Value>) -> Vec<(String, String)> {
    value
        .and_then(serde_json::Value::as_array)
        .map(|levels| {
            levels
                .iter()
                .map(|l| {
                    let l = l.as_array().unwrap();
                    (
                        l[0].as_str().unwrap().to_owned(),
                        l[1].as_str().unwrap().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn texts(side: &[(String, String)]) -> Vec<(&str, &str)> {
    side.iter().map(|(p, q)| (p.as_str(), q.as_str())).collect()
}

#[test]
fn every_v1_update_of_ten_pairs_verifies_from_its_snapshot() {
    let Some(path) = capture("v1_2021-04-17_cryptofeed/book.jsonl") else {
        return;
    };
    let text = std::fs::read_to_string(&path).unwrap();
    let mut books: HashMap<String, KrakenBook> = HashMap::new();
    let (mut snapshots, mut verified) = (0, 0);
    for line in text.lines() {
        let Some((pair, depth, parts)) = v1_parts(line) else {
            continue;
        };
        let book = books
            .entry(pair.clone())
            .or_insert_with(|| KrakenBook::new(depth));
        // Bids and asks of one update may come in two objects; the checksum in the last.
        let mut bids = Vec::new();
        let mut asks = Vec::new();
        let mut checksum = None;
        let mut snapshot = false;
        for part in &parts {
            if part.get("as").is_some() || part.get("bs").is_some() {
                snapshot = true;
                asks.extend(levels(part.get("as")));
                bids.extend(levels(part.get("bs")));
            }
            asks.extend(levels(part.get("a")));
            bids.extend(levels(part.get("b")));
            if let Some(c) = part.get("c").and_then(serde_json::Value::as_str) {
                checksum = Some(c.parse::<u32>().unwrap());
            }
        }
        book.apply(snapshot, &texts(&bids), &texts(&asks), checksum)
            .unwrap_or_else(|e| panic!("{pair}: {e}: {line}"));
        if snapshot {
            snapshots += 1;
        } else if checksum.is_some() {
            verified += 1;
        }
    }
    assert_eq!((books.len(), snapshots, verified), (10, 10, 4_269));
    for (pair, book) in &books {
        let (bid, ask) = book.top();
        let (bid, ask) = (bid.unwrap().0, ask.unwrap().0);
        assert!(bid < ask, "{pair} is crossed: {bid} / {ask}");
    }
}

#[test]
fn an_update_before_the_snapshot_or_a_bad_number_is_an_error() {
    let mut book = KrakenBook::new(10);
    assert_eq!(
        book.apply(false, &[("1.0", "2")], &[], None),
        Err(KrakenError::NoSnapshot)
    );
    assert!(matches!(
        book.apply(true, &[("1.0e3", "2")], &[], None),
        Err(KrakenError::Malformed(_))
    ));
    assert!(matches!(
        book.apply_v2(r#"{"channel":"ticker","type":"update","data":[]}"#),
        Err(KrakenError::Malformed(_))
    ));
    // Zero however written removes a level; the depth cuts the rest.
    let mut book = KrakenBook::new(2);
    book.apply(
        true,
        &[("3.0", "1"), ("2.0", "1"), ("1.0", "1")],
        &[("4.0", "1")],
        None,
    )
    .unwrap();
    assert_eq!(book.len(), (2, 1));
    book.apply(false, &[("3.0", "0.00000000")], &[], None)
        .unwrap();
    assert_eq!(
        book.top().0.map(|l| l.0.to_string()),
        Some("2.0".to_owned())
    );
}
