//! `feed-server import`: Tickwire CSV, Tardis.dev CSV and Databento DBN become recordings, merged
//! by time, exact to the last digit; every bad row stops the import with its place, and leaves no
//! output behind.
#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::path::{Path, PathBuf};

use feed_server::import::{Format, ImportArgs, import};
use protocol::Decimal;
use protocol::recording::read_all;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn args(inputs: Vec<PathBuf>, out: &Path) -> ImportArgs {
    ImportArgs {
        inputs,
        out: out.to_owned(),
        format: Format::Auto,
    }
}

/// The recording's events as wire JSON, one per line (what replay will send, but for `seq`).
fn lines(path: &Path) -> Vec<String> {
    let text = if path.extension().is_some_and(|e| e == "zst") {
        String::from_utf8(zstd::decode_all(std::fs::File::open(path).unwrap()).unwrap()).unwrap()
    } else {
        std::fs::read_to_string(path).unwrap()
    };
    text.lines().skip(1).map(str::to_owned).collect()
}

#[test]
fn tickwire_csv_quotes_and_trades_merge_by_time_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let quotes = write(
        dir.path(),
        "quotes.csv",
        "timestamp,symbol,bid,bid_size,ask,ask_size\n\
         1767364200000000000,AAPL,229.90,300,229.91,200\n\
         2026-01-02T14:30:00.002Z,BRK.B,472.93,10,472.95,12\n\
         1767364200004000000,AAPL,229.905,100,229.91,200\n",
    );
    let trades = write(
        dir.path(),
        "trades.csv",
        "symbol,timestamp,size,price,venue\n\
         AAPL,1767364200001000000,50,229.91,X\n\
         BRK.B,1767364200003000000,1.5,472.94,Y\n",
    );
    let out = dir.path().join("out.jsonl.zst");
    let summary = import(&args(vec![quotes, trades], &out)).unwrap();
    assert_eq!((summary.rows, summary.events, summary.symbols), (5, 5, 2));
    let (header, events) = read_all(&out).unwrap();
    assert_eq!(header.source, "import");
    assert_eq!(header.start_ns, 1_767_364_200_000_000_000);
    // Grids are the finest decimal place used: AAPL prices have three, BRK.B sizes one.
    let grid = |s: &str| {
        let i = header.symbols.iter().find(|i| i.symbol == s).unwrap();
        (
            i.tick_size.to_string(),
            i.lot_size.to_string(),
            i.prev_close.to_string(),
        )
    };
    assert_eq!(grid("AAPL"), ("0.001".into(), "1".into(), "229.90".into()));
    assert_eq!(
        grid("BRK.B"),
        ("0.01".into(), "0.1".into(), "472.93".into())
    );
    let times: Vec<u64> = events.iter().map(|e| e.ts_ns % 10_000_000).collect();
    assert_eq!(times, [0, 1_000_000, 2_000_000, 3_000_000, 4_000_000]);
    let wire = lines(&out);
    assert!(
        wire[3].contains(r#""symbol":"BRK.B","seq":2,"price":"472.94","size":"1.5""#),
        "{}",
        wire[3]
    );
    assert!(wire[4].contains(r#""bid":"229.905""#), "{}", wire[4]);
}

#[test]
fn every_bad_csv_row_names_its_file_and_line_and_leaves_no_output() {
    let dir = tempfile::tempdir().unwrap();
    let head = "timestamp,symbol,bid,bid_size,ask,ask_size\n";
    let good = "1767364200000000000,AAPL,229.90,300,229.91,200\n";
    let cases = [
        (
            "1767364200000000001,AAPL,229.90,300,229.91\n",
            "3",
            "fields",
        ),
        ("yesterday,AAPL,229.90,300,229.91,200\n", "3", "timestamp"),
        (
            "1767364200000000001,AA PL,229.90,300,229.91,200\n",
            "3",
            "symbol",
        ),
        ("1767364200000000001,AAPL,2e3,300,229.91,200\n", "3", "bid"),
        (
            "1767364200000000001,AAPL,-1,300,229.91,200\n",
            "3",
            "positive",
        ),
        (
            "1767364200000000001,AAPL,229.90,-300,229.91,200\n",
            "3",
            "negative",
        ),
        ("1767364200000000001,AAPL,,300,229.91,200\n", "3", "empty"),
    ];
    for (bad, line, why) in cases {
        let input = write(dir.path(), "q.csv", &format!("{head}{good}{bad}{good}"));
        let out = dir.path().join("out.jsonl");
        let error = import(&args(vec![input.clone()], &out))
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with(&format!("{}:{line}: ", input.display())),
            "{bad}: {error}"
        );
        assert!(error.contains(why), "{bad}: {error}");
        assert!(!out.exists() && !dir.path().join("out.jsonl.partial").exists());
    }
    let no_columns = write(dir.path(), "x.csv", "time,ticker,px\n1,A,1\n");
    let error = import(&args(vec![no_columns], &dir.path().join("o.jsonl")))
        .unwrap_err()
        .to_string();
    assert!(error.contains(":1: ") && error.contains("lacks"), "{error}");
}

#[test]
fn tardis_quotes_and_trades_gzipped_or_not_import_with_one_sided_quotes_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let quotes = dir.path().join("binance_quotes.csv.gz");
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&quotes).unwrap(),
        flate2::Compression::default(),
    );
    gz.write_all(
        b"exchange,symbol,timestamp,local_timestamp,ask_amount,ask_price,bid_price,bid_amount\n\
          binance,BTCUSDT,1767225600000000,1767225600000100,0.512,94000.01,94000.00,1.25\n\
          binance,BTCUSDT,1767225600001000,1767225600001100,,,94000.00,1.5\n\
          binance,ETHUSDT,1767225600002000,1767225600002100,10,3300.5,3300.4,7.125\n",
    )
    .unwrap();
    gz.finish().unwrap();
    let trades = write(
        dir.path(),
        "binance_trades.csv",
        "exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n\
         binance,BTCUSDT,1767225600000500,1767225600000600,1,buy,94000.01,0.002\n",
    );
    let out = dir.path().join("crypto.jsonl.zst");
    let summary = import(&args(vec![quotes, trades], &out)).unwrap();
    assert_eq!((summary.rows, summary.events, summary.skipped), (4, 3, 1));
    let wire = lines(&out);
    assert_eq!(
        wire[0],
        r#"{"type":"quote","symbol":"BTCUSDT","seq":1,"bid":"94000","bid_size":"1.25","ask":"94000.01","ask_size":"0.512","ts_ns":1767225600000100000}"#
    );
    assert!(
        wire[1].contains(
            r#""type":"trade","symbol":"BTCUSDT","seq":2,"price":"94000.01","size":"0.002""#
        ),
        "{}",
        wire[1]
    );
    assert!(wire[2].contains(r#""symbol":"ETHUSDT""#));
    let (header, _) = read_all(&out).unwrap();
    let btc = &header.symbols[0];
    assert_eq!(
        (btc.tick_size, btc.lot_size),
        (Decimal::new(1, 2), Decimal::new(1, 3))
    );

    let bad = write(
        dir.path(),
        "bad_trades.csv",
        "exchange,symbol,timestamp,local_timestamp,id,side,price,amount\n\
         binance,BTCUSDT,1,1767225600000600,1,buy,94000.01,0\n",
    );
    let error = import(&args(vec![bad.clone()], &dir.path().join("o.jsonl")))
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with(&format!("{}:2: ", bad.display())) && error.contains("positive"),
        "{error}"
    );
}

mod dbn_files {
    use super::*;
    use dbn::encode::{DbnEncoder, EncodeRecord};
    use dbn::{
        BidAskPair, MappingInterval, Mbp1Msg, MetadataBuilder, RecordHeader, SType, Schema,
        SymbolMapping, TradeMsg, UNDEF_PRICE, rtype,
    };

    const T0: u64 = 1_767_364_200_000_000_000;

    fn day() -> time::Date {
        time::Date::from_calendar_date(2026, time::Month::January, 2).unwrap()
    }

    fn metadata(schema: Schema, mapped: bool) -> dbn::Metadata {
        let mappings = if mapped {
            vec![SymbolMapping {
                raw_symbol: "ESH6".to_owned(),
                intervals: vec![MappingInterval {
                    start_date: day(),
                    end_date: day().next_day().unwrap(),
                    symbol: "101".to_owned(),
                }],
            }]
        } else {
            Vec::new()
        };
        MetadataBuilder::new()
            .dataset("GLBX.MDP3".to_owned())
            .schema(Some(schema))
            .start(T0)
            .stype_in(Some(SType::RawSymbol))
            .stype_out(SType::InstrumentId)
            .symbols(vec!["ESH6".to_owned()])
            .mappings(mappings)
            .build()
    }

    fn mbp1(ts: u64, action: u8, price: i64, size: u32, bid: i64, ask: i64) -> Mbp1Msg {
        Mbp1Msg {
            hd: RecordHeader::new::<Mbp1Msg>(rtype::MBP_1, 1, 101, ts),
            price,
            size,
            action: action as std::ffi::c_char,
            side: b'N' as std::ffi::c_char,
            ts_recv: ts,
            levels: [BidAskPair {
                bid_px: bid,
                ask_px: ask,
                bid_sz: 10,
                ask_sz: 12,
                ..BidAskPair::default()
            }],
            ..Mbp1Msg::default()
        }
    }

    const PX: i64 = 1_000_000_000;

    #[test]
    fn mbp1_becomes_quotes_when_the_top_changes_and_trades_exactly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("es.mbp-1.dbn.zst");
        let file = std::fs::File::create(&path).unwrap();
        let mut encoder = DbnEncoder::with_zstd(file, &metadata(Schema::Mbp1, true)).unwrap();
        let bid = 6_000 * PX + PX / 4;
        let ask = 6_000 * PX + PX / 2;
        for record in [
            mbp1(T0, b'A', bid, 1, bid, ask),
            mbp1(T0 + 1_000, b'T', ask, 3, bid, ask),
            mbp1(T0 + 2_000, b'C', bid, 1, bid - PX / 4, ask),
        ] {
            encoder.encode_record(&record).unwrap();
        }
        drop(encoder);
        let out = dir.path().join("es.jsonl");
        let summary = import(&args(vec![path], &out)).unwrap();
        assert_eq!((summary.events, summary.symbols), (3, 1));
        assert!(summary.notes.is_empty(), "{:?}", summary.notes);
        let wire = lines(&out);
        assert_eq!(
            wire[0],
            r#"{"type":"quote","symbol":"ESH6","seq":1,"bid":"6000.25","bid_size":"10","ask":"6000.5","ask_size":"12","ts_ns":1767364200000000000}"#
        );
        assert!(
            wire[1]
                .contains(r#""type":"trade","symbol":"ESH6","seq":2,"price":"6000.5","size":"3""#),
            "{}",
            wire[1]
        );
        assert!(wire[2].contains(r#""bid":"6000""#), "{}", wire[2]);
        let (header, _) = read_all(&out).unwrap();
        assert_eq!(header.symbols[0].tick_size, Decimal::new(1, 2));
    }

    #[test]
    fn trades_without_symbol_mappings_are_named_by_id_and_a_bad_record_is_located() {
        let dir = tempfile::tempdir().unwrap();
        let trade = |ts: u64, price: i64| TradeMsg {
            hd: RecordHeader::new::<TradeMsg>(rtype::MBP_0, 1, 202, ts),
            price,
            size: 5,
            action: b'T' as std::ffi::c_char,
            side: b'A' as std::ffi::c_char,
            ts_recv: ts,
            ..TradeMsg::default()
        };
        let write = |name: &str, records: &[TradeMsg]| {
            let path = dir.path().join(name);
            let mut encoder = DbnEncoder::new(
                std::fs::File::create(&path).unwrap(),
                &metadata(Schema::Trades, false),
            )
            .unwrap();
            for r in records {
                encoder.encode_record(r).unwrap();
            }
            path
        };
        let good = write("t.dbn", &[trade(T0, 17 * PX), trade(T0 + 5, 17 * PX + 1)]);
        let out = dir.path().join("t.jsonl");
        let summary = import(&args(vec![good], &out)).unwrap();
        assert_eq!(summary.events, 2);
        assert!(
            summary.notes[0].contains("instruments are named by id"),
            "{:?}",
            summary.notes
        );
        let wire = lines(&out);
        // 1e-9 units kept exactly, never through a float.
        assert!(
            wire[1].contains(r#""symbol":"ID202","seq":2,"price":"17.000000001""#),
            "{}",
            wire[1]
        );

        let bad = write("bad.dbn", &[trade(T0, 17 * PX), trade(T0 + 5, UNDEF_PRICE)]);
        let error = import(&args(vec![bad.clone()], &dir.path().join("b.jsonl")))
            .unwrap_err()
            .to_string();
        assert!(
            error.starts_with(&format!("{}: record 2: ", bad.display())),
            "{error}"
        );
        assert!(!dir.path().join("b.jsonl").exists());

        let not_dbn = dir.path().join("junk.dbn");
        std::fs::write(&not_dbn, b"definitely not DBN").unwrap();
        let error = import(&args(vec![not_dbn], &dir.path().join("j.jsonl")))
            .unwrap_err()
            .to_string();
        assert!(error.contains("not a readable DBN file"), "{error}");
    }
}
