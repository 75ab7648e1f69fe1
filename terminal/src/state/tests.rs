//! The state's update functions, driven with plain values.

use super::*;
use protocol::{Ack, Fill, Quote, Reject, RejectCode, Snapshot, Trade};

fn now() -> Now {
    Now::read()
}
use std::str::FromStr;
use std::time::{Duration, Instant};

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

fn state() -> State {
    State::new(
        "ws://x/ws".into(),
        &["AAPL".into(), "MSFT".into()],
        dec("100"),
        Instant::now(),
    )
}

fn frame(messages: Vec<ServerMessage>) -> NetEvent {
    NetEvent::Frame {
        messages,
        received_ns: 2_000_000,
    }
}

fn snapshot(symbol: &str, seq: u64) -> ServerMessage {
    ServerMessage::Snapshot(Snapshot {
        symbol: symbol.into(),
        seq,
        bid: dec("100.00"),
        bid_size: dec("100"),
        ask: dec("100.02"),
        ask_size: dec("100"),
        last: dec("100.01"),
        last_size: dec("10"),
        volume: dec("1000"),
        open: dec("99"),
        high: dec("101"),
        low: dec("98"),
        prev_close: dec("99.01"),
        tick_size: dec("0.01"),
        ts_ns: 1,
    })
}

fn quote(symbol: &str, seq: u64, bid: &str) -> ServerMessage {
    ServerMessage::Quote(Quote {
        symbol: symbol.into(),
        seq,
        bid: dec(bid),
        bid_size: dec("1"),
        ask: dec("200"),
        ask_size: dec("1"),
        ts_ns: 1_000_000,
        exch_ts_ns: None,
    })
}

#[test]
fn quotes_and_trades_update_their_rows_after_the_snapshot() {
    let mut s = state();
    assert!(
        s.apply(
            frame(vec![snapshot("AAPL", 10), quote("AAPL", 11, "100.05")]),
            now()
        )
        .is_empty()
    );
    let trade = ServerMessage::Trade(Trade {
        symbol: "AAPL".into(),
        seq: 12,
        price: dec("100.51"),
        size: dec("5"),
        ts_ns: 1_500_000,
        exch_ts_ns: None,
        trade_id: None,
        aggressor: None,
    });
    s.apply(frame(vec![trade]), now());
    let row = &s.watchlist.rows[0];
    assert_eq!(
        (row.bid, row.last, row.volume, row.seq.last()),
        (dec("100.05"), dec("100.51"), dec("1005"), Some(12))
    );
    assert_eq!(row.direction, Direction::Up);
    assert_eq!(row.change(), Some(dec("1.50")));
    assert_eq!(row.change_pct(), Some(dec("1.51")));
    assert_eq!(s.tick_latency.session().count, 2);
    assert_eq!(s.watchlist.rows[1].seq.last(), None, "MSFT untouched");
}

#[test]
fn a_gap_is_counted_once_and_asks_for_a_fresh_snapshot() {
    let mut s = state();
    s.apply(frame(vec![snapshot("AAPL", 10)]), now());
    let out = s.apply(
        frame(vec![quote("AAPL", 13, "1"), quote("AAPL", 14, "2")]),
        now(),
    );
    assert_eq!(
        out,
        vec![ClientMessage::Subscribe(Subscribe::to(vec!["AAPL".into()]))]
    );
    assert_eq!((s.watchlist.gaps, s.watchlist.rows[0].gaps), (1, 1));
    assert_eq!(
        s.watchlist.rows[0].bid,
        dec("100.00"),
        "events after a gap wait for the snapshot"
    );
    s.apply(
        frame(vec![snapshot("AAPL", 20), quote("AAPL", 21, "3")]),
        now(),
    );
    assert_eq!(
        (
            s.watchlist.rows[0].bid,
            !s.watchlist.rows[0].seq.is_synced()
        ),
        (dec("3"), false)
    );
    assert_eq!(s.watchlist.gaps, 1);
}

#[test]
fn an_order_goes_from_form_to_sent_acked_and_filled() {
    let mut s = state();
    s.apply(frame(vec![snapshot("AAPL", 1)]), now());
    assert!(s.handle(Action::OpenOrder(Side::Buy), now()).is_empty());
    let form = s.overlay.form().cloned().unwrap();
    assert_eq!((form.qty.as_str(), form.price.as_str()), ("100", ""));
    s.handle(Action::NextField, now());
    for c in "100.02".chars() {
        s.handle(Action::Input(c), now());
    }
    let out = s.handle(Action::Submit, now());
    let [ClientMessage::Order(o)] = out.as_slice() else {
        panic!("{out:?}")
    };
    assert_eq!(
        (o.symbol.as_str(), o.side, o.qty, o.price),
        ("AAPL", Side::Buy, dec("100"), Some(dec("100.02")))
    );
    let sent = s.orders.rows[0].sent_ns;
    s.apply(
        NetEvent::Frame {
            messages: vec![ServerMessage::Ack(Ack {
                id: o.id.clone(),
                order_id: "o-1".into(),
                sent_ns: Some(sent),
                ts_ns: 0,
            })],
            received_ns: sent + 250_000,
        },
        now(),
    );
    assert_eq!(
        (s.orders.rows[0].status.clone(), s.orders.rows[0].rtt),
        (OrderStatus::Acked, Some(Duration::from_micros(250)))
    );
    assert_eq!(s.rtt.session().count, 1);
    let fill = |qty: &str, price: &str, leaves: &str| {
        ServerMessage::Fill(Fill {
            id: o.id.clone(),
            order_id: "o-1".into(),
            price: dec(price),
            qty: dec(qty),
            leaves: dec(leaves),
            ts_ns: 0,
        })
    };
    s.apply(frame(vec![fill("40", "100.02", "60")]), now());
    assert_eq!(s.orders.rows[0].status, OrderStatus::PartiallyFilled);
    s.apply(frame(vec![fill("60", "100.03", "0")]), now());
    assert_eq!(s.orders.rows[0].status, OrderStatus::Filled);
    assert_eq!(s.orders.rows[0].avg_price(), Some(dec("100.026")));
}

#[test]
fn a_rejected_order_keeps_its_reason_and_an_empty_price_is_a_market_order() {
    let mut s = state();
    s.handle(Action::OpenOrder(Side::Sell), now());
    s.handle(Action::NextField, now());
    s.handle(Action::Backspace, now());
    let out = s.handle(Action::Submit, now());
    let [ClientMessage::Order(o)] = out.as_slice() else {
        panic!()
    };
    assert_eq!(o.price, None);
    s.apply(
        frame(vec![ServerMessage::Reject(Reject {
            id: o.id.clone(),
            code: RejectCode::BadQuantity,
            reason: "too big".into(),
            sent_ns: o.sent_ns,
            ts_ns: 0,
        })]),
        now(),
    );
    assert!(matches!(&s.orders.rows[0].status, OrderStatus::Rejected(r) if r.contains("too big")));
}

#[test]
fn bad_form_input_is_refused_without_sending() {
    let mut s = state();
    s.handle(Action::OpenOrder(Side::Buy), now());
    for _ in 0..5 {
        s.handle(Action::Backspace, now());
    }
    assert!(s.handle(Action::Submit, now()).is_empty());
    assert!(s.overlay.form().unwrap().error.is_some());
    s.handle(Action::Escape, now());
    assert!(s.overlay.form().is_none() && s.orders.rows.is_empty());
}

fn hello(symbols: &[&str]) -> NetEvent {
    frame(vec![ServerMessage::Hello(protocol::Hello {
        protocol: "tickwire.v1.json".into(),
        server: protocol::ServerInfo {
            name: "n".into(),
            version: "v".into(),
        },
        symbols: symbols.iter().map(|s| Symbol::from(*s)).collect(),
        heartbeat_ms: 1,
        ts_ns: 1,
        source: None,
        auth_required: false,
        epoch: None,
    })])
}

#[test]
fn with_a_token_every_hello_is_answered_with_auth_before_the_subscription() {
    let mut s = state();
    s.token = Some("s3cret".parse().unwrap());
    for _ in 0..2 {
        let out = s.apply(hello(&["AAPL"]), now());
        assert!(
            matches!(&out[..], [ClientMessage::Auth(a), ClientMessage::Subscribe(_)] if a.token == "s3cret"),
            "{out:?}"
        );
    }
}

#[test]
fn adding_and_removing_symbols_subscribes_and_unsubscribes() {
    let mut s = state();
    s.apply(hello(&["AAPL", "MSFT", "NVDA"]), now());
    s.handle(Action::AddSymbol, now());
    for c in "nv".chars() {
        s.handle(Action::Input(c), now());
    }
    let names: Vec<&str> = s.completions().iter().map(|c| c.as_str()).collect();
    assert_eq!(names, ["NVDA"], "completes as you type");
    s.handle(Action::NextField, now());
    assert_eq!(s.overlay.prompt(), Some("NVDA"), "Tab takes the completion");
    let out = s.handle(Action::Submit, now());
    assert_eq!(
        out,
        vec![ClientMessage::Subscribe(Subscribe::to(vec!["NVDA".into()]))]
    );
    assert_eq!((s.watchlist.rows.len(), s.watchlist.selected), (3, 2));
    let out = s.handle(Action::RemoveSymbol, now());
    assert_eq!(
        out,
        vec![ClientMessage::Unsubscribe(Unsubscribe::all(vec![
            "NVDA".into()
        ]))]
    );
    assert_eq!(s.watchlist.symbols(), ["AAPL", "MSFT"]);
}

#[test]
fn an_unknown_symbol_is_refused_and_never_becomes_a_row() {
    let mut s = state();
    s.handle(Action::AddSymbol, now());
    s.handle(Action::Input('K'), now());
    s.handle(Action::Input('O'), now());
    assert!(
        s.handle(Action::Submit, now()).is_empty(),
        "no list from the server yet"
    );
    s.apply(hello(&["AAPL", "MSFT", "KO"]), now());
    s.handle(Action::AddSymbol, now());
    for c in "ZZZ".chars() {
        s.handle(Action::Input(c), now());
    }
    assert!(s.handle(Action::Submit, now()).is_empty());
    assert!(
        s.notice_at(Instant::now())
            .unwrap()
            .contains("`ZZZ` is not on this server")
    );
    assert_eq!(s.watchlist.symbols(), ["AAPL", "MSFT"]);
    s.handle(Action::AddSymbol, now());
    for c in "ko".chars() {
        s.handle(Action::Input(c), now());
    }
    assert_eq!(s.handle(Action::Submit, now()).len(), 1, "ko is KO");
    assert_eq!(s.watchlist.symbols(), ["AAPL", "MSFT", "KO"]);
}

#[test]
fn settings_symbols_are_matched_to_the_servers_list() {
    let mut s = State::new(
        "ws://x/ws".into(),
        &["aapl".into(), "NOPE".into(), "MSFT".into(), "msft".into()],
        dec("1"),
        Instant::now(),
    );
    let out = s.apply(hello(&["AAPL", "MSFT", "KO"]), now());
    assert_eq!(s.watchlist.symbols(), ["AAPL", "MSFT"]);
    assert_eq!(
        out,
        vec![ClientMessage::Subscribe(Subscribe::to(vec![
            "AAPL".into(),
            "MSFT".into()
        ]))]
    );
    assert!(
        s.notice_at(Instant::now())
            .unwrap()
            .contains("removed: NOPE")
    );
}

#[test]
fn a_star_watchlist_takes_every_symbol_the_server_offers() {
    let mut s = State::new("ws://x/ws".into(), &["*".into()], dec("1"), Instant::now());
    assert!(s.watchlist.symbols().is_empty());
    let out = s.apply(hello(&["S0001", "S0002"]), now());
    let subscribe = vec![ClientMessage::Subscribe(Subscribe::to(vec![
        "S0001".into(),
        "S0002".into(),
    ]))];
    assert_eq!(out, subscribe);
    assert_eq!(s.watchlist.symbols(), ["S0001", "S0002"]);
    // A reconnect's hello adds no row twice; the state subscribes again.
    assert_eq!(s.apply(hello(&["S0001", "S0002"]), now()), subscribe);
    assert_eq!(s.watchlist.rows.len(), 2);
}

#[test]
fn open_orders_are_marked_lost_when_the_connection_drops_them() {
    let mut s = state();
    s.apply(frame(vec![snapshot("AAPL", 1)]), now());
    for _ in 0..3 {
        s.handle(Action::OpenOrder(Side::Buy), now());
        s.handle(Action::Submit, now());
    }
    let ids: Vec<String> = s.orders.rows.iter().map(|o| o.id.clone()).collect();
    let ack = |id: &str| {
        ServerMessage::Ack(Ack {
            id: id.into(),
            order_id: format!("o-{id}"),
            sent_ns: None,
            ts_ns: 0,
        })
    };
    let fill = |id: &str, leaves: &str| {
        ServerMessage::Fill(Fill {
            id: id.into(),
            order_id: format!("o-{id}"),
            price: dec("100.00"),
            qty: dec("10"),
            leaves: dec(leaves),
            ts_ns: 0,
        })
    };
    // One resting, one partly filled, one done; then the connection closes.
    s.apply(
        frame(vec![
            ack(&ids[0]),
            ack(&ids[1]),
            fill(&ids[1], "90"),
            ack(&ids[2]),
            fill(&ids[2], "0"),
        ]),
        now(),
    );
    s.apply(
        NetEvent::Disconnected {
            code: Some(1001),
            reason: "server shutting down".into(),
            retry_in: Duration::from_millis(250),
        },
        now(),
    );
    s.apply(
        NetEvent::Connected {
            protocol: "tickwire.v1.json".into(),
            url: "ws://127.0.0.1:9000/ws".into(),
        },
        now(),
    );
    let statuses: Vec<&OrderStatus> = s.orders.rows.iter().map(|o| &o.status).collect();
    assert_eq!(
        statuses,
        [&OrderStatus::Lost, &OrderStatus::Lost, &OrderStatus::Filled]
    );
    assert!(s.orders.rows.iter().all(|o| !o.status.is_open()));
}

#[test]
fn the_status_shows_a_replays_file_speed_and_recording_clock() {
    let mut s = State::new(
        "ws://x/ws".into(),
        &["AAPL".into()],
        dec("1"),
        Instant::now(),
    );
    assert_eq!(s.source_text(), None);
    s.source = Some(protocol::SourceInfo {
        kind: "replay".into(),
        rate: None,
        seed: None,
        file: Some("open.jsonl.zst".into()),
        speed: Some("10".into()),
        looping: Some(false),
        // 2026-01-02T14:30:00Z, replayed from t = 1000 s.
        recording_start_ns: Some(1_767_364_200_000_000_000),
        replay_start_ns: Some(1_000_000_000_000),
        venues: None,
    });
    // 1.5 s of replay at 10x is 15 s into the recording.
    s.last_event_ns = 1_001_500_000_000;
    assert_eq!(
        s.source_text().as_deref(),
        Some("replay open.jsonl.zst 10x @ 14:30:15.000")
    );
    s.source = Some(protocol::SourceInfo {
        kind: "synthetic".into(),
        rate: Some(2_000),
        seed: Some(1),
        file: None,
        speed: None,
        looping: None,
        recording_start_ns: None,
        replay_start_ns: None,
        venues: None,
    });
    assert_eq!(s.source_text().as_deref(), Some("synthetic 2000/s"));
    s.source = Some(protocol::SourceInfo {
        kind: "ingest".into(),
        rate: None,
        seed: None,
        file: None,
        speed: None,
        looping: None,
        recording_start_ns: None,
        replay_start_ns: None,
        venues: Some(vec!["BINANCE".into(), "KRAKEN".into()]),
    });
    assert_eq!(s.source_text().as_deref(), Some("ingest BINANCE, KRAKEN"));
    // A venue's stream goes down: its symbols are marked, and the bar says how many.
    s.apply(
        frame(vec![ServerMessage::Status(protocol::Status {
            stale: vec!["KRAKEN:BTC/USD".into()],
            ts_ns: 1,
        })]),
        now(),
    );
    assert!(s.stale_sources.contains("KRAKEN:BTC/USD"));
    assert_eq!(
        s.source_text().as_deref(),
        Some("ingest BINANCE, KRAKEN · 1 stale")
    );
    s.apply(
        frame(vec![ServerMessage::Status(protocol::Status {
            stale: Vec::new(),
            ts_ns: 2,
        })]),
        now(),
    );
    assert!(s.stale_sources.is_empty());
    assert_eq!(s.source_text().as_deref(), Some("ingest BINANCE, KRAKEN"));
}

#[test]
fn c_with_the_watchlist_focused_shows_the_order_before_cancelling_it() {
    let mut s = state();
    s.apply(frame(vec![snapshot("AAPL", 1)]), now());
    s.handle(Action::OpenOrder(Side::Buy), now());
    s.handle(Action::Submit, now());
    s.handle(Action::Down, now());
    assert_eq!(s.focus, Focus::Watchlist);
    // MSFT is selected and has no order: nothing is cancelled.
    assert!(s.handle(Action::CancelOrder, now()).is_empty());
    assert!(
        s.notice_at(Instant::now())
            .unwrap()
            .contains("no open order for MSFT")
    );
    s.handle(Action::Up, now());
    assert!(
        s.handle(Action::CancelOrder, now()).is_empty(),
        "asks first"
    );
    assert_eq!((s.focus, s.orders.selected), (Focus::Orders, 0));
    assert!(
        s.notice_at(Instant::now())
            .unwrap()
            .contains("press c again")
    );
    assert!(matches!(
        s.handle(Action::CancelOrder, now()).as_slice(),
        [ClientMessage::Cancel(_)]
    ));
}

#[test]
fn notices_expire() {
    let mut s = state();
    let t = Instant::now();
    s.apply(
        frame(vec![ServerMessage::Error(protocol::ErrorReply {
            code: protocol::ErrorCode::BadRequest,
            message: "nope".into(),
            symbols: Vec::new(),
        })]),
        Now { at: t, wall_ns: 1 },
    );
    assert_eq!(
        s.notice_at(t + Duration::from_secs(1)),
        Some("server: nope")
    );
    assert_eq!(s.notice_at(t + NOTICE_TTL), None);
}

#[test]
fn a_large_order_asks_for_confirmation() {
    let mut s = state();
    s.apply(frame(vec![snapshot("AAPL", 1)]), now());
    s.handle(Action::OpenOrder(Side::Buy), now());
    for c in "5000".chars() {
        s.handle(Action::Input(c), now());
    }
    // 5,000 at the ask of 100.02 is 500,100: above the 100,000 default.
    assert_eq!(
        s.notional(s.overlay.form().unwrap()),
        Some(dec("500100.00"))
    );
    assert!(s.handle(Action::Submit, now()).is_empty());
    assert!(matches!(s.overlay, Overlay::Confirm(_)));
    assert!(matches!(
        s.handle(Action::Submit, now()).as_slice(),
        [ClientMessage::Order(_)]
    ));
    // A small one goes at once.
    s.handle(Action::OpenOrder(Side::Buy), now());
    s.handle(Action::Input('5'), now());
    assert!(matches!(
        s.handle(Action::Submit, now()).as_slice(),
        [ClientMessage::Order(_)]
    ));
}

#[test]
fn an_alert_set_from_the_selected_row_fires_once_and_rings_if_asked() {
    let mut s = state();
    s.bell = true;
    s.apply(frame(vec![snapshot("AAPL", 1)]), now());
    s.handle(Action::SetAlert, now());
    for c in "100.50".chars() {
        s.handle(Action::Input(c), now());
    }
    s.handle(Action::Submit, now());
    let alert = s.alerts.get("AAPL").unwrap().clone();
    assert!(
        alert.above && !alert.fired,
        "100.50 is above the last 100.01"
    );
    assert!(s.settings_dirty, "alerts are kept in the settings");
    let trade = |seq, price: &str| {
        frame(vec![ServerMessage::Trade(Trade {
            symbol: "AAPL".into(),
            seq,
            price: dec(price),
            size: dec("1"),
            ts_ns: 1,
            exch_ts_ns: None,
            trade_id: None,
            aggressor: None,
        })])
    };
    s.apply(trade(2, "100.49"), now());
    assert!(!s.ring);
    s.apply(trade(3, "100.51"), now());
    assert!(s.ring && s.alerts.get("AAPL").unwrap().fired);
    assert!(
        s.notice_at(Instant::now())
            .unwrap()
            .starts_with("ALERT AAPL traded 100.51")
    );
    s.ring = false;
    s.apply(trade(4, "100.60"), now());
    assert!(!s.ring, "fired once");
    // An empty price removes it.
    s.handle(Action::SetAlert, now());
    for _ in 0..6 {
        s.handle(Action::Backspace, now());
    }
    s.handle(Action::Submit, now());
    assert!(s.alerts.rows.is_empty());
}

#[test]
fn number_keys_switch_watchlists_and_the_subscriptions_follow() {
    let mut s = state();
    s.lists
        .push(("banks".into(), vec!["JPM".into(), "AAPL".into()]));
    s.apply(hello(&["AAPL", "MSFT", "JPM"]), now());
    let out = s.handle(Action::SwitchList(1), now());
    assert_eq!(
        out,
        vec![
            ClientMessage::Unsubscribe(Unsubscribe::all(vec!["MSFT".into()])),
            ClientMessage::Subscribe(Subscribe::to(vec!["JPM".into(), "AAPL".into()])),
        ]
    );
    assert_eq!(
        (s.list, s.watchlist.symbols()),
        (1, vec![Symbol::from("JPM"), "AAPL".into()])
    );
    s.handle(Action::RemoveSymbol, now());
    assert!(s.settings_dirty);
    s.handle(Action::SwitchList(0), now());
    let saved = s.saved();
    assert_eq!(saved.lists[0].1, ["AAPL", "MSFT"]);
    assert_eq!(saved.lists[1].1, ["AAPL"], "the change to banks is kept");
    assert!(s.handle(Action::SwitchList(5), now()).is_empty());
}

#[test]
fn ctrl_c_quits_from_anywhere_and_q_unless_typing() {
    for open in [
        Action::ToggleHelp,
        Action::OpenOrder(Side::Buy),
        Action::AddSymbol,
    ] {
        let mut s = state();
        s.apply(frame(vec![snapshot("AAPL", 1)]), now());
        s.handle(open, now());
        s.handle(Action::ForceQuit, now());
        assert!(s.quit, "{open:?}");
    }
    let mut s = state();
    s.handle(Action::ToggleHelp, now());
    s.handle(Action::Quit, now());
    assert!(s.quit, "q quits from help");
    let mut s = state();
    s.handle(Action::AddSymbol, now());
    s.handle(Action::Input('q'), now());
    assert!(
        !s.quit && s.overlay.prompt() == Some("q"),
        "q is a letter in the prompt"
    );
}

#[test]
fn a_connection_that_never_opened_is_not_called_closed() {
    let mut s = state();
    let down = || NetEvent::Disconnected {
        code: None,
        reason: "cannot connect: refused".into(),
        retry_in: Duration::from_secs(1),
    };
    s.apply(down(), now());
    assert!(matches!(
        s.connection,
        Connection::Reconnecting { opened: false, .. }
    ));
    s.apply(
        NetEvent::Connected {
            protocol: "p".into(),
            url: "ws://127.0.0.1:9000/ws".into(),
        },
        now(),
    );
    let before = now();
    s.apply(down(), before);
    let Connection::Reconnecting {
        opened,
        stale_since_ns,
        ..
    } = s.connection.clone()
    else {
        panic!()
    };
    assert!(opened);
    assert_eq!(stale_since_ns, before.wall_ns);
    // Failed retries keep the moment prices went stale.
    s.apply(down(), now());
    assert!(
        matches!(s.connection, Connection::Reconnecting { opened: false, stale_since_ns: t, .. } if t == before.wall_ns)
    );
}

#[test]
fn cancel_applies_to_the_selected_open_order_only() {
    let mut s = state();
    s.handle(Action::OpenOrder(Side::Buy), now());
    let out = s.handle(Action::Submit, now());
    let [ClientMessage::Order(o)] = out.as_slice() else {
        panic!()
    };
    s.handle(Action::SwitchFocus, now());
    assert!(
        matches!(s.handle(Action::CancelOrder, now()).as_slice(), [ClientMessage::Cancel(c)] if c.id == o.id)
    );
    s.apply(
        NetEvent::Disconnected {
            code: Some(1001),
            reason: "bye".into(),
            retry_in: Duration::from_secs(1),
        },
        now(),
    );
    assert!(matches!(s.orders.rows[0].status, OrderStatus::Rejected(_)));
    assert!(s.handle(Action::CancelOrder, now()).is_empty());
}

fn hello_of(epoch: &str) -> NetEvent {
    let NetEvent::Frame { mut messages, .. } = hello(&["AAPL", "MSFT"]) else {
        unreachable!()
    };
    if let ServerMessage::Hello(h) = &mut messages[0] {
        h.epoch = Some(epoch.into());
    }
    frame(messages)
}

#[test]
fn a_reconnect_to_the_same_epoch_resumes_each_symbol_from_its_seq() {
    let mut s = state();
    s.apply(hello_of("e1"), now());
    s.apply(
        frame(vec![snapshot("AAPL", 10), quote("AAPL", 11, "100.05")]),
        now(),
    );
    s.apply(
        NetEvent::Disconnected {
            code: None,
            reason: "reset".into(),
            retry_in: Duration::from_millis(250),
        },
        now(),
    );
    let out = s.apply(hello_of("e1"), now());
    let [ClientMessage::Subscribe(sub)] = &out[..] else {
        panic!("{out:?}")
    };
    let resume = sub.resume.as_ref().expect("a resume");
    assert_eq!(resume.epoch, "e1");
    assert_eq!(
        resume.from.iter().collect::<Vec<_>>(),
        [(&Symbol::from("AAPL"), &11)],
        "only what the rows hold"
    );
    s.apply(
        frame(vec![ServerMessage::Resumed(protocol::Resumed {
            recovered: vec!["AAPL".into()],
            recovered_count: 1,
            snapshot: vec!["MSFT".into()],
            snapshot_count: 1,
        })]),
        now(),
    );
    assert_eq!(
        s.notice_at(Instant::now()),
        Some("1 resumed, 1 from snapshot")
    );
    // AAPL continues from 12 with no snapshot; a duplicate of 11 is skipped.
    s.apply(
        frame(vec![quote("AAPL", 11, "1"), quote("AAPL", 12, "100.07")]),
        now(),
    );
    let row = &s.watchlist.rows[0];
    assert_eq!((row.seq.last(), row.bid), (Some(12), dec("100.07")));
    assert_eq!(s.watchlist.gaps, 0);
}

#[test]
fn a_new_epoch_starts_every_symbol_from_a_snapshot() {
    let mut s = state();
    s.apply(hello_of("e1"), now());
    s.apply(frame(vec![snapshot("AAPL", 500)]), now());
    let out = s.apply(hello_of("e2"), now());
    assert!(
        matches!(&out[..], [ClientMessage::Subscribe(sub)] if sub.resume.is_none()),
        "{out:?}"
    );
    // The restarted server's seqs are lower: its snapshot applies, events before it do not.
    s.apply(frame(vec![quote("AAPL", 3, "1")]), now());
    assert_eq!(s.watchlist.rows[0].seq.last(), None);
    s.apply(
        frame(vec![snapshot("AAPL", 2), quote("AAPL", 3, "100.03")]),
        now(),
    );
    assert_eq!(s.watchlist.rows[0].seq.last(), Some(3));
    assert!(
        s.notice_at(Instant::now())
            .is_some_and(|n| n.contains("new server session"))
    );
}
