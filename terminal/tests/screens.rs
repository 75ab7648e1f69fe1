//! What the screen shows, checked as text snapshots (insta + ratatui's TestBackend) at 120x36,
//! 80x24 and 40x12: live, disconnected, too small, and with the order form open. Every clock is
//! fixed, so the snapshots only change when the rendering does.
#![allow(clippy::unwrap_used)]

use std::str::FromStr;
use std::time::{Duration, Instant};

use protocol::{Ack, Decimal, Fill, Reject, RejectCode, ServerMessage, Side, Snapshot, Trade};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use terminal::action::Action;
use terminal::net::NetEvent;
use terminal::state::{Now, State};

/// 2026-01-02T14:30:00Z.
const WALL0: u64 = 1_767_364_200_000_000_000;

fn d(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap()
}

struct Clock {
    t0: Instant,
}

impl Clock {
    fn at(&self, ms: u64) -> Now {
        Now {
            at: self.t0 + Duration::from_millis(ms),
            wall_ns: WALL0 + ms * 1_000_000,
        }
    }
}

fn snapshot(
    symbol: &str,
    seq: u64,
    bid: &str,
    ask: &str,
    last: &str,
    prev: &str,
    tick: &str,
) -> ServerMessage {
    ServerMessage::Snapshot(Snapshot {
        symbol: symbol.into(),
        seq,
        bid: d(bid),
        bid_size: d("100"),
        ask: d(ask),
        ask_size: d("100"),
        last: d(last),
        last_size: d("10"),
        volume: d("1250000"),
        open: d(prev),
        high: d(last),
        low: d(prev),
        prev_close: d(prev),
        tick_size: d(tick),
        ts_ns: WALL0,
    })
}

/// A session: ten symbols, a few trades, one filled order, one rejected, one resting.
fn session() -> (State, Clock) {
    let clock = Clock { t0: Instant::now() };
    let symbols: Vec<String> = [
        "AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "META", "TSLA", "JPM", "V", "KO",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let mut s = State::new(
        "ws://127.0.0.1:9001/ws".into(),
        &symbols,
        d("100"),
        clock.t0,
    );
    s.apply(
        NetEvent::Connected {
            protocol: "tickwire.v1.json".into(),
            url: "ws://127.0.0.1:9001/ws".into(),
        },
        clock.at(0),
    );
    let prices = [
        ("AAPL", "229.86", "229.87", "229.87", "228.00", "0.01"),
        ("MSFT", "417.97", "418.00", "418.09", "417.00", "0.01"),
        ("NVDA", "141.86", "141.87", "141.93", "141.95", "0.01"),
        ("AMZN", "196.63", "196.65", "196.65", "197.12", "0.01"),
        ("GOOGL", "164.35", "164.36", "164.36", "164.76", "0.01"),
        ("META", "562.77", "562.78", "562.79", "559.14", "0.01"),
        ("TSLA", "339.74", "339.75", "339.74", "339.64", "0.01"),
        ("JPM", "248.40", "248.41", "248.20", "248.55", "0.01"),
        ("V", "311.33", "311.34", "311.32", "310.97", "0.01"),
        ("KO", "63.38", "63.39", "63.39", "63.72", "0.01"),
    ];
    let snaps = prices
        .iter()
        .map(|(sym, b, a, l, p, t)| snapshot(sym, 1, b, a, l, p, t))
        .collect();
    s.apply(
        NetEvent::Frame {
            messages: snaps,
            received_ns: WALL0 + 1_000_000,
        },
        clock.at(1),
    );
    for (i, price) in ["229.90", "229.95", "229.91"].iter().enumerate() {
        let ms = 100 * (i as u64 + 1);
        s.apply(
            NetEvent::Frame {
                messages: vec![ServerMessage::Trade(Trade {
                    symbol: "AAPL".into(),
                    seq: 2 + i as u64,
                    price: d(price),
                    size: d("1000000"),
                    ts_ns: WALL0 + ms * 1_000_000,
                    exch_ts_ns: None,
                    trade_id: None,
                    aggressor: None,
                })],
                received_ns: WALL0 + ms * 1_000_000 + 250_000,
            },
            clock.at(ms),
        );
    }
    // Order 1: a market buy, filled in two parts. Order 2: rejected. Order 3: resting.
    s.handle(Action::OpenOrder(Side::Buy), clock.at(1_000));
    s.handle(Action::Submit, clock.at(1_000));
    s.handle(Action::OpenOrder(Side::Sell), clock.at(1_100));
    s.handle(Action::NextField, clock.at(1_100));
    for c in "1".chars() {
        s.handle(Action::Input(c), clock.at(1_100));
    }
    s.handle(Action::Submit, clock.at(1_100));
    s.handle(Action::OpenOrder(Side::Buy), clock.at(1_200));
    s.handle(Action::NextField, clock.at(1_200));
    for c in "229.50".chars() {
        s.handle(Action::Input(c), clock.at(1_200));
    }
    s.handle(Action::Submit, clock.at(1_200));
    let ack = |id: &str, ms: u64| {
        ServerMessage::Ack(Ack {
            id: id.into(),
            order_id: format!("s-{id}"),
            sent_ns: None,
            ts_ns: WALL0 + ms * 1_000_000,
        })
    };
    let fill = |qty: &str, price: &str, leaves: &str| {
        ServerMessage::Fill(Fill {
            id: "t-1".into(),
            order_id: "s-t-1".into(),
            price: d(price),
            qty: d(qty),
            leaves: d(leaves),
            ts_ns: WALL0,
        })
    };
    s.apply(
        NetEvent::Frame {
            messages: vec![
                ack("t-1", 1_000),
                fill("40", "229.87", "60"),
                fill("60", "229.88", "0"),
            ],
            received_ns: WALL0 + 1_000_000_000 + 85_000,
        },
        clock.at(1_001),
    );
    s.apply(
        NetEvent::Frame {
            messages: vec![ServerMessage::Reject(Reject {
                id: "t-2".into(),
                code: RejectCode::BadPrice,
                reason: "price 1 is more than 50% away from the market (339.74)".into(),
                sent_ns: None,
                ts_ns: WALL0,
            })],
            received_ns: WALL0 + 1_100_000_000 + 120_000,
        },
        clock.at(1_101),
    );
    s.apply(
        NetEvent::Frame {
            messages: vec![ack("t-3", 1_200)],
            received_ns: WALL0 + 1_200_000_000 + 95_000,
        },
        clock.at(1_201),
    );
    s.refresh(clock.at(2_000).at);
    (s, clock)
}

fn buffer(width: u16, height: u16, state: &State, now: Instant) -> ratatui::buffer::Buffer {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal
        .draw(|f| terminal::ui::draw(f, state, now))
        .unwrap();
    terminal.backend().buffer().clone()
}

fn screen(width: u16, height: u16, state: &State, now: Instant) -> String {
    let buffer = buffer(width, height, state, now);
    let mut out = String::new();
    for y in 0..height {
        let mut line = String::new();
        for x in 0..width {
            line.push_str(buffer[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[test]
fn live_screens_at_three_sizes() {
    let (s, clock) = session();
    let now = clock.at(10_000).at;
    insta::assert_snapshot!("live_120x36", screen(120, 36, &s, now));
    insta::assert_snapshot!("live_80x24", screen(80, 24, &s, now));
    insta::assert_snapshot!("live_40x12", screen(40, 12, &s, now));
}

#[test]
fn disconnected_screens_mark_every_price_stale() {
    let (mut s, clock) = session();
    s.apply(
        NetEvent::Disconnected {
            code: None,
            reason: "connection lost".into(),
            retry_in: Duration::from_secs(2),
        },
        clock.at(5_000),
    );
    let now = clock.at(5_500).at;
    let wide = screen(120, 36, &s, now);
    assert!(wide.contains("stale since 14:30:05 UTC"), "{wide}");
    assert!(wide.contains("lost"), "the resting order is lost: {wide}");
    insta::assert_snapshot!("disconnected_120x36", wide);
    // Every price is drawn dim; the same cell is not dim while connected.
    let dim = |b: &ratatui::buffer::Buffer| {
        let (x, y) = (23, 2); // AAPL's Last
        assert_eq!(b[(x, y)].symbol(), "2", "the cell is a price digit");
        b[(x, y)].modifier.contains(ratatui::style::Modifier::DIM)
    };
    assert!(dim(&buffer(120, 36, &s, now)));
    let (live, clock) = session();
    assert!(!dim(&buffer(120, 36, &live, clock.at(5_500).at)));
    insta::assert_snapshot!("disconnected_80x24", screen(80, 24, &s, now));
    // A long reason still leaves the connection's state on a narrow status bar.
    s.apply(
        NetEvent::Disconnected {
            code: None,
            reason: "cannot connect: IO error: Connection refused (os error 111)".into(),
            retry_in: Duration::from_secs(2),
        },
        clock.at(6_000),
    );
    let narrow = screen(40, 12, &s, clock.at(6_000).at);
    assert!(
        narrow
            .lines()
            .last()
            .is_some_and(|l| l.contains("not connected; retry in 2.0s")),
        "{narrow}"
    );
}

#[test]
fn a_screen_below_the_minimum_says_so() {
    let (s, clock) = session();
    let text = screen(30, 8, &s, clock.at(10_000).at);
    assert!(text.contains("too small"), "{text}");
    insta::assert_snapshot!("too_small_30x8", text);
}

#[test]
fn the_order_form_shows_market_or_limit_the_touch_and_the_notional() {
    let (mut s, clock) = session();
    s.handle(Action::OpenOrder(Side::Buy), clock.at(3_000));
    s.handle(Action::Input('5'), clock.at(3_000));
    let text = screen(80, 24, &s, clock.at(3_000).at);
    for needle in [
        "BUY AAPL",
        "bid 229.86 / ask 229.87",
        "Quantity: 5",
        "MARKET",
        "Notional: 1149.35",
    ] {
        assert!(text.contains(needle), "{needle} in\n{text}");
    }
    insta::assert_snapshot!("order_form_80x24", text);
}

#[test]
fn positions_show_the_session_pnl_marked_to_the_mid() {
    let (mut s, clock) = session();
    s.handle(Action::TogglePositions, clock.at(3_000));
    let text = screen(120, 36, &s, clock.at(3_000).at);
    // 100 AAPL bought at 229.876 on average (40 at 229.87, 60 at 229.88), marked at the mid
    // 229.865: -1.10.
    for needle in [
        "Positions",
        "P&L",
        "AAPL",
        "229.88",
        "229.86",
        "-1.10",
        "Total",
    ] {
        assert!(text.contains(needle), "{needle} in\n{text}");
    }
    insta::assert_snapshot!("positions_120x36", text);
    s.handle(Action::TogglePositions, clock.at(3_000));
    assert!(screen(120, 36, &s, clock.at(3_000).at).contains("Orders"));
}

#[test]
fn an_alert_shows_in_the_watchlist_and_fires_with_a_notice() {
    let (mut s, clock) = session();
    s.handle(Action::SetAlert, clock.at(3_000));
    for c in "230".chars() {
        s.handle(Action::Input(c), clock.at(3_000));
    }
    s.handle(Action::Submit, clock.at(3_000));
    let set = screen(120, 36, &s, clock.at(3_100).at);
    assert!(set.contains("Alert") && set.contains("≥230"), "{set}");
    s.apply(
        NetEvent::Frame {
            messages: vec![ServerMessage::Trade(Trade {
                symbol: "AAPL".into(),
                seq: 5,
                price: d("230.01"),
                size: d("100"),
                ts_ns: WALL0 + 4_000_000_000,
                exch_ts_ns: None,
                trade_id: None,
                aggressor: None,
            })],
            received_ns: WALL0 + 4_000_250_000,
        },
        clock.at(4_000),
    );
    let fired = screen(120, 36, &s, clock.at(4_100).at);
    assert!(fired.contains("≥230!"), "{fired}");
    assert!(
        fired.contains("ALERT AAPL traded 230.01 (above 230)"),
        "{fired}"
    );
    insta::assert_snapshot!("alert_fired_120x36", fired);
}

#[test]
fn help_says_how_to_close_it_and_fits_a_small_screen() {
    let (mut s, clock) = session();
    s.handle(Action::ToggleHelp, clock.at(3_000));
    let big = screen(80, 24, &s, clock.at(3_000).at);
    assert!(
        big.contains("Esc or ? closes") && big.contains("RTT"),
        "{big}"
    );
    let small = screen(40, 12, &s, clock.at(3_000).at);
    assert!(small.contains("Esc closes"), "{small}");
    insta::assert_snapshot!("help_80x24", big);
    insta::assert_snapshot!("help_40x12", small);
}
