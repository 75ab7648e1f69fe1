//! Property tests: every message survives encode then decode unchanged, with either back end, and
//! no input makes the decoder panic.

use proptest::prelude::*;
use protocol::codec::Backend;
use protocol::*;

fn decimal() -> impl Strategy<Value = Decimal> {
    (any::<i64>(), 0u32..=12).prop_map(|(m, scale)| Decimal::new(m, scale))
}

fn symbol() -> impl Strategy<Value = Symbol> {
    "[A-Z.]{1,8}|\\*".prop_map(Symbol::from)
}

fn text() -> impl Strategy<Value = String> {
    // Any Unicode, including quotes and control characters that must be escaped.
    any::<String>()
}

/// Channels as the binary form keeps them: each once, quotes first.
fn channels() -> impl Strategy<Value = Option<Vec<Channel>>> {
    prop_oneof![
        Just(None),
        Just(Some(vec![Channel::Quotes])),
        Just(Some(vec![Channel::Book])),
        Just(Some(vec![Channel::Quotes, Channel::Book])),
    ]
}

fn levels() -> impl Strategy<Value = Vec<Level>> {
    prop::collection::vec((decimal(), decimal()).prop_map(|(p, s)| Level(p, s)), 0..6)
}

fn client() -> impl Strategy<Value = ClientMessage> {
    prop_oneof![
        prop::collection::vec(symbol(), 0..5)
            .prop_map(|symbols| ClientMessage::Subscribe(Subscribe::to(symbols))),
        (
            prop::collection::vec(symbol(), 0..5),
            text(),
            prop::collection::btree_map(symbol(), any::<u64>(), 0..5)
        )
            .prop_map(
                |(symbols, epoch, from)| ClientMessage::Subscribe(Subscribe {
                    resume: Some(protocol::Resume {
                        epoch,
                        from,
                        book_from: std::collections::BTreeMap::new()
                    }),
                    ..Subscribe::to(symbols)
                })
            ),
        (
            prop::collection::vec(symbol(), 0..5),
            channels(),
            prop::option::of(1u32..=50),
            prop::option::of((
                "[0-9]{1,12}",
                prop::collection::btree_map(symbol(), any::<u64>(), 0..3),
                prop::collection::btree_map(symbol(), any::<u64>(), 0..3),
            )),
        )
            .prop_map(|(symbols, channels, depth, resume)| {
                ClientMessage::Subscribe(Subscribe {
                    symbols,
                    channels,
                    depth,
                    resume: resume.map(|(epoch, from, book_from)| protocol::Resume {
                        epoch,
                        from,
                        book_from,
                    }),
                })
            }),
        (prop::collection::vec(symbol(), 0..5), channels()).prop_map(|(symbols, channels)| {
            ClientMessage::Unsubscribe(Unsubscribe { symbols, channels })
        }),
        (
            text(),
            symbol(),
            any::<bool>(),
            decimal(),
            prop::option::of(decimal()),
            prop::option::of(any::<u64>())
        )
            .prop_map(
                |(id, symbol, buy, qty, price, sent_ns)| ClientMessage::Order(Order {
                    id: id.into(),
                    symbol,
                    side: if buy { Side::Buy } else { Side::Sell },
                    qty,
                    price,
                    sent_ns,
                })
            ),
        (text(), prop::option::of(any::<u64>())).prop_map(|(id, sent_ns)| ClientMessage::Cancel(
            Cancel {
                id: id.into(),
                sent_ns
            }
        )),
        any::<u64>().prop_map(|sent_ns| ClientMessage::Ping(Ping { sent_ns })),
        text().prop_map(|token| ClientMessage::Auth(protocol::Auth { token })),
    ]
}

fn server() -> impl Strategy<Value = ServerMessage> {
    let d = decimal;
    prop_oneof![
        (
            text(),
            prop::collection::vec(symbol(), 0..4),
            any::<u64>(),
            any::<u64>()
        )
            .prop_map(|(protocol, symbols, heartbeat_ms, ts_ns)| {
                ServerMessage::Hello(Hello {
                    protocol,
                    server: ServerInfo {
                        name: "n".into(),
                        version: "v".into(),
                    },
                    symbols,
                    heartbeat_ms,
                    ts_ns,
                    source: (heartbeat_ms % 2 == 0).then(|| protocol::SourceInfo {
                        kind: "replay".into(),
                        rate: None,
                        seed: None,
                        file: Some("s.jsonl.zst".into()),
                        speed: Some("10".into()),
                        looping: Some(true),
                        recording_start_ns: Some(ts_ns / 2),
                        replay_start_ns: Some(ts_ns),
                        venues: None,
                    }),
                    auth_required: ts_ns % 3 == 0,
                    epoch: (ts_ns % 5 != 0).then(|| ts_ns.to_string()),
                })
            }),
        (
            symbol(),
            any::<u64>(),
            [d(), d(), d(), d(), d(), d(), d(), d(), d(), d(), d(), d()],
            any::<u64>()
        )
            .prop_map(|(symbol, seq, v, ts_ns)| ServerMessage::Snapshot(Snapshot {
                symbol,
                seq,
                bid: v[0],
                bid_size: v[1],
                ask: v[2],
                ask_size: v[3],
                last: v[4],
                last_size: v[5],
                volume: v[6],
                open: v[7],
                high: v[8],
                low: v[9],
                prev_close: v[10],
                tick_size: v[11],
                ts_ns,
            })),
        (
            symbol(),
            any::<u64>(),
            d(),
            d(),
            d(),
            d(),
            any::<u64>(),
            prop::option::of(any::<u64>())
        )
            .prop_map(
                |(symbol, seq, bid, bid_size, ask, ask_size, ts_ns, exch_ts_ns)| {
                    ServerMessage::Quote(Quote {
                        symbol,
                        seq,
                        bid,
                        bid_size,
                        ask,
                        ask_size,
                        ts_ns,
                        exch_ts_ns,
                    })
                }
            ),
        (
            symbol(),
            any::<u64>(),
            d(),
            d(),
            any::<u64>(),
            prop::option::of(any::<u64>()),
            prop::option::of(any::<u64>()),
            prop::option::of(prop_oneof![Just(Side::Buy), Just(Side::Sell)])
        )
            .prop_map(
                |(symbol, seq, price, size, ts_ns, exch_ts_ns, trade_id, aggressor)| {
                    ServerMessage::Trade(Trade {
                        symbol,
                        seq,
                        price,
                        size,
                        ts_ns,
                        exch_ts_ns,
                        trade_id,
                        aggressor,
                    })
                }
            ),
        (text(), text(), prop::option::of(any::<u64>()), any::<u64>()).prop_map(
            |(id, order_id, sent_ns, ts_ns)| ServerMessage::Ack(Ack {
                id: id.into(),
                order_id,
                sent_ns,
                ts_ns
            })
        ),
        (text(), text(), prop::option::of(any::<u64>()), any::<u64>()).prop_map(
            |(id, reason, sent_ns, ts_ns)| {
                ServerMessage::Reject(Reject {
                    id: id.into(),
                    code: RejectCode::BadPrice,
                    reason,
                    sent_ns,
                    ts_ns,
                })
            }
        ),
        (text(), text(), d(), d(), d(), any::<u64>()).prop_map(
            |(id, order_id, price, qty, leaves, ts_ns)| {
                ServerMessage::Fill(Fill {
                    id: id.into(),
                    order_id,
                    price,
                    qty,
                    leaves,
                    ts_ns,
                })
            }
        ),
        (text(), text(), d(), any::<u64>(), prop::option::of(text())).prop_map(
            |(id, order_id, leaves, ts_ns, reason)| {
                ServerMessage::Canceled(Canceled {
                    id: id.into(),
                    order_id,
                    leaves,
                    ts_ns,
                    reason,
                })
            }
        ),
        (any::<u64>(), any::<u64>())
            .prop_map(|(sent_ns, ts_ns)| ServerMessage::Pong(Pong { sent_ns, ts_ns })),
        any::<u64>().prop_map(|ts_ns| ServerMessage::Authorized(protocol::Authorized { ts_ns })),
        (prop::collection::vec(symbol(), 0..4), any::<u64>())
            .prop_map(|(stale, ts_ns)| ServerMessage::Status(protocol::Status { stale, ts_ns })),
        (
            prop::collection::vec(symbol(), 0..3),
            any::<u64>(),
            prop::collection::vec(symbol(), 0..3),
            any::<u64>()
        )
            .prop_map(|(recovered, recovered_count, snapshot, snapshot_count)| {
                ServerMessage::Resumed(protocol::Resumed {
                    recovered,
                    recovered_count,
                    snapshot,
                    snapshot_count,
                })
            }),
        (
            symbol(),
            any::<u64>(),
            levels(),
            levels(),
            any::<u32>(),
            any::<u64>(),
            any::<bool>()
        )
            .prop_map(|(symbol, seq, bids, asks, checksum, ts_ns, whole)| {
                let book = Book {
                    symbol,
                    seq,
                    bids,
                    asks,
                    checksum,
                    ts_ns,
                };
                if whole {
                    ServerMessage::Book(book)
                } else {
                    ServerMessage::BookUpdate(book)
                }
            }),
        (text(), prop::collection::vec(symbol(), 0..3)).prop_map(|(message, symbols)| {
            ServerMessage::Error(ErrorReply {
                code: ErrorCode::UnknownSymbol,
                message,
                symbols,
            })
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn client_messages_round_trip(m in client()) {
        let text = encode_client(&m);
        for backend in [Backend::Serde, Backend::Simd] {
            prop_assert_eq!(&Decoder::with_backend(backend).client(text.as_bytes()).unwrap(), &m);
        }
    }

    #[test]
    fn server_messages_round_trip_alone_and_in_batches(ms in prop::collection::vec(server(), 1..6)) {
        let parts: Vec<String> = ms.iter().map(encode_server).collect();
        for (m, text) in ms.iter().zip(&parts) {
            let tag = format!("{{\"type\":\"{}\"", m.type_name());
            prop_assert!(text.starts_with(&tag), "{}", text);
        }
        let frame = encode_batch(parts.iter().map(String::as_str));
        for backend in [Backend::Serde, Backend::Simd] {
            prop_assert_eq!(&Decoder::with_backend(backend).server(frame.as_bytes()).unwrap(), &ms);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        for backend in [Backend::Serde, Backend::Simd] {
            let mut d = Decoder::with_backend(backend);
            let _ = d.client(&bytes);
            let _ = d.server(&bytes);
        }
    }

    #[test]
    fn mangled_valid_messages_never_panic(m in client(), cut in any::<prop::sample::Index>(), byte in any::<u8>()) {
        let mut bytes = encode_client(&m).into_bytes();
        let i = cut.index(bytes.len());
        bytes[i] = byte;
        for backend in [Backend::Serde, Backend::Simd] {
            let mut d = Decoder::with_backend(backend);
            let _ = d.client(&bytes);
            let _ = d.client(&bytes[..i]);
        }
    }

    #[test]
    fn decimal_numbers_with_up_to_15_digits_arrive_exact(m in 1i64..999_999_999_999_999, scale in 0u32..15) {
        let value = Decimal::new(m, scale);
        let text = format!(r#"{{"type":"order","id":"x","symbol":"A","side":"buy","qty":{value}}}"#);
        for backend in [Backend::Serde, Backend::Simd] {
            let ClientMessage::Order(o) = Decoder::with_backend(backend).client(text.as_bytes()).unwrap() else { panic!() };
            prop_assert_eq!(o.qty, value);
        }
    }
}

/// Every symbol a message names (not `*`), for a binary symbol table.
fn symbols_of(m: &ServerMessage) -> Vec<Symbol> {
    match m {
        ServerMessage::Snapshot(s) => vec![s.symbol.clone()],
        ServerMessage::Quote(q) => vec![q.symbol.clone()],
        ServerMessage::Trade(t) => vec![t.symbol.clone()],
        ServerMessage::Resumed(r) => r.recovered.iter().chain(&r.snapshot).cloned().collect(),
        ServerMessage::Status(s) => s.stale.clone(),
        ServerMessage::Book(b) | ServerMessage::BookUpdate(b) => vec![b.symbol.clone()],
        _ => Vec::new(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn server_messages_round_trip_in_binary(ms in prop::collection::vec(server(), 1..6)) {
        // A hello sets the ids for what follows it, so each hello starts its own frame.
        let mut table: Vec<Symbol> = ms.iter().flat_map(symbols_of).collect();
        table.sort();
        table.dedup();
        let ids = binary::SymbolIds::new(&table);
        let mut decoder = binary::ServerDecoder::new();
        let hello_of = |symbols: Vec<Symbol>| ServerMessage::Hello(Hello {
            protocol: SUBPROTOCOL_BIN.into(),
            server: ServerInfo { name: "n".into(), version: "v".into() },
            symbols,
            heartbeat_ms: 1,
            ts_ns: 2,
            source: None,
            auth_required: false,
            epoch: Some("e".into()),
        });
        let mut frame = Vec::new();
        binary::encode_server(&hello_of(table.clone()), &ids, &mut frame).unwrap();
        let mut out = Vec::new();
        decoder.frame(&frame, &mut out).unwrap();
        let others: Vec<ServerMessage> = ms.into_iter().filter(|m| !matches!(m, ServerMessage::Hello(_))).collect();
        let mut frame = Vec::new();
        for m in &others {
            binary::encode_server(m, &ids, &mut frame).unwrap();
        }
        let mut out = Vec::new();
        decoder.frame(&frame, &mut out).unwrap();
        prop_assert_eq!(&out, &others);
    }

    #[test]
    fn client_messages_round_trip_in_binary(m in client()) {
        let mut table: Vec<Symbol> = match &m {
            ClientMessage::Subscribe(s) => s
                .symbols
                .iter()
                .chain(s.resume.iter().flat_map(|r| r.from.keys().chain(r.book_from.keys())))
                .cloned()
                .collect(),
            ClientMessage::Unsubscribe(s) => s.symbols.clone(),
            ClientMessage::Order(o) => vec![o.symbol.clone()],
            _ => Vec::new(),
        };
        table.sort();
        table.dedup();
        let ids = binary::SymbolIds::new(&table);
        let frame = binary::encode_client(&m, &ids).unwrap();
        prop_assert_eq!(binary::decode_client(&frame, &table).unwrap(), m);
    }

    #[test]
    fn arbitrary_bytes_never_panic_the_binary_decoders(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let table: Vec<Symbol> = vec!["AAPL".into()];
        let _ = binary::decode_client(&bytes, &table);
        let _ = binary::ServerDecoder::new().frame(&bytes, &mut Vec::new());
    }
}
