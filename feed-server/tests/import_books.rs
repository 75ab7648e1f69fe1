//! `feed-server import` of order books: Tardis `book_snapshot_N` and `incremental_book_L2`,
//! Databento MBP-10 and MBO (DBN versions 1 to 3) become version-2 recordings whose book lines
//! rebuild the source's books exactly (prices and sizes to the last digit, every checksum
//! right), with quotes from the book's top; bad rows stop the import with their place.
//!
//! The real samples come from `../shared/realdata/depth/`; a test says so and passes when that
//! folder is absent.
#![allow(clippy::unwrap_used)]

mod support;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use dbn::decode::{DbnMetadata, DecodeRecord, DynDecoder};
use dbn::{MboMsg, Mbp10Msg, UNDEF_PRICE, VersionUpgradePolicy};
use feed_server::import::{Format, ImportArgs, import};
use protocol::book::{BookStep, Books};
use protocol::recording::read_all;
use protocol::{Decimal, Decoder, ServerMessage, Symbol};

fn depth_sample(name: &str) -> Option<PathBuf> {
    support::realdata::sample(&format!("depth/{name}"))
}

fn imported(inputs: Vec<PathBuf>, dir: &Path) -> PathBuf {
    let out = dir.join("out.jsonl");
    import(&ImportArgs {
        inputs,
        out: out.clone(),
        format: Format::Auto,
    })
    .unwrap();
    // The reader checks every book line's seq and checksum.
    read_all(&out).unwrap();
    out
}

type Side = Vec<(Decimal, Decimal)>;

/// Replays a recording's lines by the client's rules: each symbol's book after every book
/// line (each must be in sync), and the quotes.
fn books_by_line(file: &Path) -> (Vec<(Symbol, Side, Side)>, Vec<protocol::Quote>) {
    let text = std::fs::read_to_string(file).unwrap();
    let mut decoder = Decoder::new();
    let mut books = Books::new(1_000);
    let (mut after, mut quotes) = (Vec::new(), Vec::new());
    for line in text.lines().skip(1) {
        let mut out = Vec::new();
        decoder.server_frame(line.as_bytes(), &mut out).unwrap();
        let message = out.pop().unwrap();
        if let ServerMessage::Quote(q) = message {
            quotes.push(q);
            continue;
        }
        let Some(step) = books.apply(&message) else {
            continue;
        };
        assert_eq!(step, BookStep::InSync, "{line}");
        let (ServerMessage::Book(book) | ServerMessage::BookUpdate(book)) = &message else {
            continue;
        };
        let mine = books.get(&book.symbol).unwrap();
        let bids = mine.bids().map(|(p, s)| (*p, *s)).collect();
        let asks = mine.asks().map(|(p, s)| (*p, *s)).collect();
        after.push((book.symbol.clone(), bids, asks));
    }
    (after, quotes)
}

fn d(s: &str) -> Decimal {
    s.parse().unwrap()
}

#[test]
fn tardis_book_snapshots_import_with_every_level_exact() {
    for name in [
        "tardis/binance-futures_book_snapshot_25_BTCUSDT.csv",
        "tardis/binance-futures_book_snapshot_5_BTCUSDT.csv",
    ] {
        let Some(path) = depth_sample(name) else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let out = imported(vec![path.clone()], dir.path());
        let (header, _) = read_all(&out).unwrap();
        let depth = if name.contains("_25_") { 25 } else { 5 };
        assert_eq!((header.version, header.book_depth), (2, Some(depth)));
        // Every CSV row's levels, as the book after the row.
        let csv = std::fs::read_to_string(&path).unwrap();
        let rows: Vec<(Side, Side)> = csv
            .lines()
            .skip(1)
            .map(|row| {
                let f: Vec<&str> = row.split(',').collect();
                let level = |i: usize| (d(f[4 + 4 * i + 2]), d(f[4 + 4 * i + 3]));
                let ask = |i: usize| (d(f[4 + 4 * i]), d(f[4 + 4 * i + 1]));
                (
                    (0..depth as usize).map(level).collect(),
                    (0..depth as usize).map(ask).collect(),
                )
            })
            .collect();
        let (after, quotes) = books_by_line(&out);
        // A row that changes nothing writes no line: the books seen are the rows' distinct ones.
        let mut distinct = rows.clone();
        distinct.dedup();
        let seen: Vec<(Side, Side)> = after.into_iter().map(|(_, b, a)| (b, a)).collect();
        assert_eq!(seen, distinct, "{name}");
        // Quotes are the top of the book whenever it changed.
        let last = quotes.last().unwrap();
        let (bids, asks) = rows.last().unwrap();
        assert_eq!(
            (last.bid, last.bid_size, last.ask, last.ask_size),
            (bids[0].0, bids[0].1, asks[0].0, asks[0].1)
        );
    }
}

#[test]
fn tardis_incremental_books_apply_updates_and_take_a_new_snapshot_whole() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("incremental_book_L2.csv");
    std::fs::write(
        &csv,
        "exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount\n\
         x,BTC-USD,1,1000,true,bid,100.5,1.5\n\
         x,ETH-USD,1,1000,true,ask,20.25,3\n\
         x,BTC-USD,1,1000,true,ask,101,2\n\
         x,BTC-USD,1,1000,true,bid,100,4\n\
         x,BTC-USD,2,2000,false,bid,100.5,0.0000\n\
         x,BTC-USD,2,2000,false,ask,100.75,0.25\n\
         x,ETH-USD,3,2000,true,bid,20,1\n\
         x,BTC-USD,3,3000,false,bid,99,7\n\
         x,BTC-USD,4,4000,true,bid,90,1\n\
         x,BTC-USD,4,4000,true,ask,95,1\n",
    )
    .unwrap();
    let out = imported(vec![csv], dir.path());
    let (after, quotes) = books_by_line(&out);
    let btc: Vec<&(Symbol, Side, Side)> = after.iter().filter(|b| b.0 == "BTC-USD").collect();
    // The snapshot's rows on either side of ETH's are two lines: the book, then the rest of it.
    assert_eq!(btc.len(), 5, "{btc:?}");
    let btc = &btc[1..];
    assert_eq!(btc[0].1, vec![(d("100.5"), d("1.5")), (d("100"), d("4"))]);
    // Rows received together are one update: the 100.5 bid goes, a better ask comes.
    assert_eq!(btc[1].1, vec![(d("100"), d("4"))]);
    assert_eq!(btc[1].2, vec![(d("100.75"), d("0.25")), (d("101"), d("2"))]);
    assert_eq!(btc[2].1, vec![(d("100"), d("4")), (d("99"), d("7"))]);
    // A new snapshot after updates is the whole book again.
    assert_eq!(
        (btc[3].1.clone(), btc[3].2.clone()),
        (vec![(d("90"), d("1"))], vec![(d("95"), d("1"))])
    );
    // ETH's snapshot went on after BTC's rows came between: both of its levels stay.
    let eth = after.iter().rfind(|b| b.0 == "ETH-USD").unwrap();
    assert_eq!(
        (eth.1.clone(), eth.2.clone()),
        (vec![(d("20"), d("1"))], vec![(d("20.25"), d("3"))])
    );
    let btc_quotes: Vec<_> = quotes
        .iter()
        .filter(|q| q.symbol == "BTC-USD")
        .map(|q| (q.bid, q.ask))
        .collect();
    assert_eq!(
        btc_quotes,
        vec![
            (d("100.5"), d("101")),
            (d("100"), d("100.75")),
            (d("90"), d("95"))
        ]
    );

    // The real Deribit sample: one snapshot of fifteen asks.
    if let Some(path) = depth_sample("tardis/deribit_incremental_book_L2_BTC-PERPETUAL.csv") {
        let dir = tempfile::tempdir().unwrap();
        let out = imported(vec![path.clone()], dir.path());
        let (after, _) = books_by_line(&out);
        let want: Side = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .skip(1)
            .map(|l| {
                let f: Vec<&str> = l.split(',').collect();
                (d(f[6]), d(f[7]))
            })
            .collect();
        assert_eq!(after.last().unwrap().2, want);
    }
}

#[test]
fn a_bad_book_row_stops_the_import_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("bad.csv");
    let head = "exchange,symbol,timestamp,local_timestamp,is_snapshot,side,price,amount\n\
                x,BTC-USD,1,1000,true,bid,100.5,1.5\n";
    for (row, why) in [
        ("x,BTC-USD,2,2000,false,middle,100,1", "`side` is `middle`"),
        (
            "x,BTC-USD,2,2000,maybe,bid,100,1",
            "`is_snapshot` is `maybe`",
        ),
        ("x,BTC-USD,2,2000,false,bid,-1,1", "must be positive"),
        ("x,BTC-USD,2,2000,false,bid,100,-1", "must not be negative"),
    ] {
        std::fs::write(&csv, format!("{head}{row}\n")).unwrap();
        let out = dir.path().join("out.jsonl");
        let error = import(&ImportArgs {
            inputs: vec![csv.clone()],
            out: out.clone(),
            format: Format::Auto,
        })
        .unwrap_err()
        .to_string();
        assert!(
            error.starts_with(&format!("{}:3: ", csv.display())) && error.contains(why),
            "{error}"
        );
        assert!(!out.exists());
    }
}

/// Every MBP-10 record of a file, as its book (bids and asks best first).
fn mbp10_books(path: &Path) -> Vec<(Side, Side)> {
    let mut decoder = DynDecoder::from_file(path, VersionUpgradePolicy::default()).unwrap();
    let _ = decoder.metadata();
    let mut books = Vec::new();
    while let Some(m) = decoder.decode_record::<Mbp10Msg>().unwrap() {
        let px = |p: i64| Decimal::new(p, 9).normalize();
        let bids = m
            .levels
            .iter()
            .filter(|l| l.bid_px != UNDEF_PRICE && l.bid_sz > 0);
        let asks = m
            .levels
            .iter()
            .filter(|l| l.ask_px != UNDEF_PRICE && l.ask_sz > 0);
        books.push((
            bids.map(|l| (px(l.bid_px), Decimal::from(l.bid_sz)))
                .collect(),
            asks.map(|l| (px(l.ask_px), Decimal::from(l.ask_sz)))
                .collect(),
        ));
    }
    books
}

#[test]
fn databento_mbp10_books_import_exactly_from_dbn_versions_2_and_3() {
    for name in [
        "databento/test_data.mbp-10.dbn",
        "databento/test_data.mbp-10.v3.dbn.zst",
    ] {
        let Some(path) = depth_sample(name) else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let out = imported(vec![path.clone()], dir.path());
        assert_eq!(read_all(&out).unwrap().0.book_depth, Some(10));
        let mut want = mbp10_books(&path);
        want.dedup();
        assert_eq!(want.len(), 2, "{name}");
        let (after, quotes) = books_by_line(&out);
        let seen: Vec<(Side, Side)> = after.into_iter().map(|(_, b, a)| (b, a)).collect();
        assert_eq!(seen, want, "{name}");
        let q = quotes.last().unwrap();
        assert_eq!((q.bid, q.ask), (want[1].0[0].0, want[1].1[0].0));
    }
}

#[test]
fn databento_mbo_builds_each_level_from_its_orders() {
    // A snapshot burst (DBN version 1): the book is every order added, summed by price.
    let Some(path) = depth_sample("databento/esh4-glbx-mdp3-20231224.mbo.dbn.zst") else {
        return;
    };
    let mut decoder = DynDecoder::from_file(&path, VersionUpgradePolicy::default()).unwrap();
    let mut sums: [HashMap<i64, u64>; 2] = [HashMap::new(), HashMap::new()];
    while let Some(m) = decoder.decode_record::<MboMsg>().unwrap() {
        match (m.action as u8, m.side as u8) {
            (b'A', b'B') => *sums[0].entry(m.price).or_default() += u64::from(m.size),
            (b'A', b'A') => *sums[1].entry(m.price).or_default() += u64::from(m.size),
            (b'R', _) => sums.iter_mut().for_each(HashMap::clear),
            (action, _) => panic!(
                "the sample holds only adds and clears, not {}",
                action as char
            ),
        }
    }
    let side = |sums: &HashMap<i64, u64>, bids: bool| -> Side {
        let mut levels: Vec<(Decimal, Decimal)> = sums
            .iter()
            .map(|(p, s)| (Decimal::new(*p, 9).normalize(), Decimal::from(*s)))
            .collect();
        levels.sort_by(|a, b| if bids { b.0.cmp(&a.0) } else { a.0.cmp(&b.0) });
        levels
    };
    let dir = tempfile::tempdir().unwrap();
    let out = imported(vec![path], dir.path());
    let (after, quotes) = books_by_line(&out);
    let (_, bids, asks) = after.last().unwrap();
    assert_eq!(*bids, side(&sums[0], true));
    assert_eq!(*asks, side(&sums[1], false));
    assert!(bids.len() > 50 && asks.len() > 50);
    let q = quotes.last().unwrap();
    assert_eq!((q.bid, q.ask), (bids[0].0, asks[0].0));

    // Live events after a snapshot: every line in sync, never crossed.
    if let Some(path) =
        depth_sample("databento/orderbooks_mbo_2024-05-08T00-00-00_2024-05-08T00-00-02.dbn.zst")
    {
        let dir = tempfile::tempdir().unwrap();
        let out = imported(vec![path], dir.path());
        let (after, quotes) = books_by_line(&out);
        assert!(after.len() > 100, "{} book lines", after.len());
        assert_eq!(
            read_all(&out).unwrap().0.symbols.len(),
            1,
            "one instrument, one symbol"
        );
        for (symbol, bids, asks) in &after {
            if let (Some(b), Some(a)) = (bids.first(), asks.first()) {
                assert!(b.0 < a.0, "{symbol} crossed: {b:?} / {a:?}");
            }
        }
        assert!(quotes.len() > 50);
    }
    // Records that only cancel orders placed before the file began build no book, and say so.
    if let Some(path) = depth_sample("databento/test_data.mbo.dbn") {
        let dir = tempfile::tempdir().unwrap();
        let error = import(&ImportArgs {
            inputs: vec![path],
            out: dir.path().join("o.jsonl"),
            format: Format::Auto,
        })
        .unwrap_err()
        .to_string();
        assert!(error.contains("hold no quote, trade or book"), "{error}");
    }
}
