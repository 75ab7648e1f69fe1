//! The book checksum against real books: Kraken's published examples and books recorded from
//! Kraken (`../shared/realdata/checksums/`), by wire text and by exact decimals read from it.

use std::path::PathBuf;

use protocol::Decimal;
use protocol::checksum::{checksum, checksum_text};
use serde_json::Value;

fn realdata() -> Option<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/realdata/checksums");
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipped: {} is absent", dir.display());
        None
    }
}

fn side(value: &Value) -> Vec<(String, String)> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|level| {
            let price = level.get(0)?.as_str()?.to_owned();
            let size = level.get(1)?.as_str()?.to_owned();
            Some((price, size))
        })
        .collect()
}

fn both_ways(asks: &[(String, String)], bids: &[(String, String)]) -> (u32, u32) {
    let text = checksum_text(
        asks.iter().map(|(p, s)| (p.as_str(), s.as_str())),
        bids.iter().map(|(p, s)| (p.as_str(), s.as_str())),
    );
    let exact = |side: &[(String, String)]| -> Vec<(Decimal, Decimal)> {
        side.iter()
            .map(|(p, s)| {
                let d = |t: &str| protocol::decimal::parse(t).unwrap_or_default();
                (d(p), d(s))
            })
            .collect()
    };
    let (asks, bids) = (exact(asks), exact(bids));
    let decimal = checksum(
        asks.iter().map(|(p, s)| (p, s)),
        bids.iter().map(|(p, s)| (p, s)),
    );
    (text, decimal)
}

#[test]
fn every_kraken_vector_matches() {
    let Some(dir) = realdata() else { return };
    let text = std::fs::read_to_string(dir.join("checksum_vectors.json")).expect("vectors");
    let file: Value = serde_json::from_str(&text).expect("vectors are JSON");
    let vectors = file["vectors"].as_array().expect("a vectors list");
    let mut checked = 0;
    for v in vectors.iter().filter(|v| v["venue"] == "kraken") {
        let field = &v["expected_unsigned"];
        let expected: u32 = field
            .as_str()
            .and_then(|s| s.parse().ok())
            .or_else(|| field.as_u64().and_then(|n| u32::try_from(n).ok()))
            .expect("expected_unsigned");
        let (asks, bids) = (side(&v["asks"]), side(&v["bids"]));
        assert!(!asks.is_empty() && !bids.is_empty(), "{}", v["source"]);
        let (by_text, by_decimal) = both_ways(&asks, &bids);
        assert_eq!(by_text, expected, "{} (text)", v["source"]);
        assert_eq!(by_decimal, expected, "{} (decimals)", v["source"]);
        checked += 1;
    }
    assert!(checked >= 6, "only {checked} Kraken vectors");
}

#[test]
fn kraken_v2_documented_snapshot_matches() {
    let Some(dir) = realdata() else { return };
    let text =
        std::fs::read_to_string(dir.join("kraken_v2_docs_example_snapshot.json")).expect("example");
    let message: Value = serde_json::from_str(&text).expect("JSON");
    let book = &message["data"][0];
    let levels = |side: &str| -> Vec<(String, String)> {
        book[side]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|l| {
                Some((
                    l["price"].as_str()?.to_owned(),
                    l["qty"].as_str()?.to_owned(),
                ))
            })
            .collect()
    };
    let (by_text, by_decimal) = both_ways(&levels("asks"), &levels("bids"));
    let expected = book["checksum"].as_u64().expect("checksum");
    assert_eq!(u64::from(by_text), expected);
    assert_eq!(u64::from(by_decimal), expected);
}
