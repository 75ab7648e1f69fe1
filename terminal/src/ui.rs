//! Rendering: lays out the panes and draws each from a borrowed [`State`]. Never blocks, never
//! mutates state.

mod chart;
mod depth;
mod fit;
mod latency;
mod orders;
mod popup;
mod positions;
mod status;
mod watchlist;

use std::time::Instant;

use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout};
use ratatui::widgets::{Paragraph, Wrap};

use crate::state::State;

/// The smallest screen the terminal draws on; below it, it says so instead.
pub const MIN_WIDTH: u16 = 40;
pub const MIN_HEIGHT: u16 = 12;

/// Draws the whole screen. Wide screens put the chart beside the watchlist; narrow ones stack;
/// short ones keep the watchlist (or the orders, when focused) and the status bar.
pub fn draw(frame: &mut Frame, state: &State, now: Instant) {
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        let text = format!(
            "terminal too small (need {MIN_WIDTH}x{MIN_HEIGHT}, have {}x{})",
            area.width, area.height
        );
        frame.render_widget(
            Paragraph::new(text)
                .wrap(Wrap { trim: true })
                .alignment(Alignment::Center),
            area,
        );
        return;
    }
    let [main, status_bar] =
        Layout::vertical([Constraint::Min(0), Constraint::Length(1)]).areas(frame.area());
    if main.height < 20 || main.width < 60 {
        if main.height < 16 {
            if state.focus == crate::state::Focus::Orders {
                bottom_left(frame, main, state);
            } else if state.depth.visible {
                frame.render_widget(depth::DepthLadder { state }, main);
            } else {
                frame.render_widget(watchlist::Watchlist { state, now }, main);
            }
        } else {
            let [watch, orders_area] =
                Layout::vertical([Constraint::Min(4), Constraint::Length(7)]).areas(main);
            if state.depth.visible {
                frame.render_widget(depth::DepthLadder { state }, watch);
            } else {
                frame.render_widget(watchlist::Watchlist { state, now }, watch);
            }
            bottom_left(frame, orders_area, state);
        }
    } else if main.width >= 120 {
        let [top, bottom] =
            Layout::vertical([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(main);
        let [watch, chart] =
            Layout::horizontal([Constraint::Percentage(58), Constraint::Percentage(42)]).areas(top);
        let [orders, lat] =
            Layout::horizontal([Constraint::Percentage(58), Constraint::Percentage(42)])
                .areas(bottom);
        frame.render_widget(watchlist::Watchlist { state, now }, watch);
        chart_or_depth(frame, chart, state);
        bottom_left(frame, orders, state);
        frame.render_widget(latency::Latency { state }, lat);
    } else {
        let [top, bottom] =
            Layout::vertical([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(main);
        let [chart_area, lat] =
            Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)])
                .areas(bottom);
        let [watch, orders_area] =
            Layout::vertical([Constraint::Min(4), Constraint::Length(6)]).areas(top);
        frame.render_widget(watchlist::Watchlist { state, now }, watch);
        bottom_left(frame, orders_area, state);
        if state.depth.visible {
            // The ladder needs the height: it takes the chart's and the latency's place.
            frame.render_widget(depth::DepthLadder { state }, bottom);
        } else {
            frame.render_widget(chart::PriceChart { state }, chart_area);
            frame.render_widget(latency::Latency { state }, lat);
        }
    }
    frame.render_widget(status::StatusBar { state, now }, status_bar);
    frame.render_widget(popup::Overlay { state }, frame.area());
}

/// The chart, or the depth ladder when `l` toggled it in.
fn chart_or_depth(frame: &mut Frame, area: ratatui::layout::Rect, state: &State) {
    if state.depth.visible {
        frame.render_widget(depth::DepthLadder { state }, area);
    } else {
        frame.render_widget(chart::PriceChart { state }, area);
    }
}

/// The orders, or the positions when `p` toggled them in.
fn bottom_left(frame: &mut Frame, area: ratatui::layout::Rect, state: &State) {
    if state.show_positions {
        frame.render_widget(positions::Positions { state }, area);
    } else {
        frame.render_widget(orders::Orders { state }, area);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::Terminal;
    use ratatui::backend::TestBackend;

    fn screen(width: u16, height: u16, state: &State) -> String {
        let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
        terminal
            .draw(|f| draw(f, state, std::time::Instant::now()))
            .unwrap();
        let buffer = terminal.backend().buffer().clone();
        let mut out = String::new();
        for y in 0..height {
            for x in 0..width {
                out.push_str(buffer[(x, y)].symbol());
            }
            out.push('\n');
        }
        out
    }

    #[test]
    fn extreme_server_values_neither_panic_nor_show_wrong_numbers() {
        use crate::net::NetEvent;
        use protocol::{Ack, Decimal, Fill, ServerMessage, Side, Snapshot, Trade};
        let mut s = State::new(
            "ws://x/ws".into(),
            &["AAPL".into()],
            Decimal::ONE,
            std::time::Instant::now(),
        );
        let snapshot = ServerMessage::Snapshot(Snapshot {
            symbol: "AAPL".into(),
            seq: u64::MAX - 1,
            bid: Decimal::MIN,
            bid_size: Decimal::MAX,
            ask: Decimal::MAX,
            ask_size: Decimal::MAX,
            last: Decimal::MAX,
            last_size: Decimal::MAX,
            volume: Decimal::MAX,
            open: Decimal::MAX,
            high: Decimal::MAX,
            low: Decimal::MIN,
            prev_close: Decimal::MIN,
            tick_size: Decimal::new(1, 28),
            ts_ns: u64::MAX,
        });
        let trade = |seq| {
            ServerMessage::Trade(Trade {
                symbol: "AAPL".into(),
                seq,
                price: Decimal::MAX,
                size: Decimal::MAX,
                ts_ns: 0,
                exch_ts_ns: None,
                trade_id: None,
                aggressor: None,
            })
        };
        s.apply(
            NetEvent::Frame {
                messages: vec![snapshot, trade(u64::MAX), trade(u64::MAX)],
                received_ns: u64::MAX,
            },
            crate::state::Now::read(),
        );
        let row = &s.watchlist.rows[0];
        assert_eq!(
            (row.change(), row.change_pct(), row.spread()),
            (None, None, None)
        );
        assert_eq!(row.volume, Decimal::MAX);
        s.handle(
            crate::action::Action::OpenOrder(Side::Buy),
            crate::state::Now::read(),
        );
        s.handle(crate::action::Action::Submit, crate::state::Now::read());
        // Worth more than the confirmation threshold at that ask: Enter again sends it.
        s.handle(crate::action::Action::Submit, crate::state::Now::read());
        let id = s.orders.rows[0].id.clone();
        s.apply(
            NetEvent::Frame {
                messages: vec![
                    ServerMessage::Ack(Ack {
                        id: id.as_str().into(),
                        order_id: "o-1".into(),
                        sent_ns: Some(0),
                        ts_ns: 0,
                    }),
                    ServerMessage::Fill(Fill {
                        id: id.as_str().into(),
                        order_id: "o-1".into(),
                        price: Decimal::MAX,
                        qty: Decimal::MAX,
                        leaves: Decimal::ONE,
                        ts_ns: 0,
                    }),
                    ServerMessage::Fill(Fill {
                        id: id.as_str().into(),
                        order_id: "o-1".into(),
                        price: Decimal::MIN,
                        qty: Decimal::MAX,
                        leaves: Decimal::ZERO,
                        ts_ns: 0,
                    }),
                ],
                received_ns: 0,
            },
            crate::state::Now::read(),
        );
        assert_eq!(s.orders.rows[0].side, Side::Buy);
        let text = screen(120, 36, &s);
        assert!(text.contains("n/a"), "{text}");
    }

    fn sample() -> State {
        use crate::net::NetEvent;
        use protocol::{Decimal, ServerMessage, Snapshot, Trade};
        use std::str::FromStr;
        let d = |s: &str| Decimal::from_str(s).unwrap();
        let mut s = State::new(
            "ws://127.0.0.1:9001/ws".into(),
            &["AAPL".into(), "MSFT".into()],
            d("100"),
            std::time::Instant::now(),
        );
        let snap = ServerMessage::Snapshot(Snapshot {
            symbol: "AAPL".into(),
            seq: 1,
            bid: d("229.86"),
            bid_size: d("300"),
            ask: d("229.87"),
            ask_size: d("200"),
            last: d("229.87"),
            last_size: d("100"),
            volume: d("15000"),
            open: d("229"),
            high: d("231"),
            low: d("228"),
            prev_close: d("228.00"),
            tick_size: d("0.01"),
            ts_ns: 1,
        });
        let trade = ServerMessage::Trade(Trade {
            symbol: "AAPL".into(),
            seq: 2,
            price: d("229.90"),
            size: d("100"),
            ts_ns: 1_000,
            exch_ts_ns: None,
            trade_id: None,
            aggressor: None,
        });
        s.apply(
            NetEvent::Connected {
                protocol: "tickwire.v1.json".into(),
                url: "ws://127.0.0.1:9001/ws".into(),
            },
            crate::state::Now::read(),
        );
        s.apply(
            NetEvent::Frame {
                messages: vec![snap, trade],
                received_ns: 251_000,
            },
            crate::state::Now::read(),
        );
        s.refresh(std::time::Instant::now());
        s
    }

    #[test]
    fn the_screen_fits_80_by_24_with_every_pane() {
        let text = screen(80, 24, &sample());
        for needle in [
            "Watchlist",
            "AAPL",
            "229.86",
            "229.90",
            "+1.90",
            "+0.83%",
            "Orders",
            "Latency",
            "p99.9",
            "RTT 10s",
            "tick 10s",
            "connected",
            "? help",
        ] {
            assert!(text.contains(needle), "{needle:?} missing from:\n{text}");
        }
        assert!(
            text.contains("250us"),
            "tick latency of the trade shows:\n{text}"
        );
    }

    #[test]
    fn a_wide_screen_puts_the_chart_beside_the_watchlist() {
        let text = screen(160, 48, &sample());
        let first = text.lines().next().unwrap();
        assert!(
            first.contains("Watchlist") && first.contains("AAPL last"),
            "{first}"
        );
        assert!(text.contains("tickwire.v1.json"));
    }

    #[test]
    fn a_symbol_whose_venue_stream_is_down_is_marked_stale() {
        let mut s = sample();
        s.apply(
            crate::net::NetEvent::Frame {
                messages: vec![protocol::ServerMessage::Status(protocol::Status {
                    stale: vec!["AAPL".into()],
                    ts_ns: 1,
                })],
                received_ns: 2,
            },
            crate::state::Now::read(),
        );
        let text = screen(80, 24, &s);
        assert!(text.contains("AAPL stale"), "{text}");
        insta::assert_snapshot!("watchlist_source_stale_80x24", text);
    }

    #[test]
    fn the_help_overlay_lists_every_key() {
        let mut s = sample();
        s.handle(crate::action::Action::ToggleHelp, crate::state::Now::read());
        let text = screen(80, 24, &s);
        for key in ["b / s", "Tab", "c ", "a / d", "q, Ctrl-C", "Esc"] {
            assert!(text.contains(key), "{key:?} missing from help:\n{text}");
        }
    }

    /// The sample with the ladder shown on AAPL: a book of five levels a side, in sync, and a
    /// resting buy of 100 at the second bid.
    fn with_ladder() -> State {
        use crate::net::NetEvent;
        use protocol::checksum::checksum_text;
        use protocol::{Book, Decimal, Level, ServerMessage, Side};
        use std::str::FromStr;
        let d = |s: &str| Decimal::from_str(s).unwrap();
        let mut s = sample();
        let out = s.handle(
            crate::action::Action::ToggleDepth,
            crate::state::Now::read(),
        );
        assert_eq!(out.len(), 1, "the ladder subscribes to the book: {out:?}");
        let bids = [
            ("229.86", "300"),
            ("229.85", "1200"),
            ("229.84", "800"),
            ("229.82", "2500"),
            ("229.80", "4000"),
        ];
        let asks = [
            ("229.87", "200"),
            ("229.88", "900"),
            ("229.90", "1500"),
            ("229.91", "700"),
            ("229.93", "3000"),
        ];
        let levels = |side: &[(&str, &str)]| side.iter().map(|(p, q)| Level(d(p), d(q))).collect();
        let book = ServerMessage::Book(Book {
            symbol: "AAPL".into(),
            seq: 7,
            bids: levels(&bids),
            asks: levels(&asks),
            checksum: checksum_text(asks, bids),
            ts_ns: 1,
        });
        s.apply(
            NetEvent::Frame {
                messages: vec![book],
                received_ns: 2,
            },
            crate::state::Now::read(),
        );
        s.orders
            .add("AAPL".into(), Side::Buy, d("100"), Some(d("229.85")), 1);
        s
    }

    #[test]
    fn the_depth_ladder_shows_both_sides_the_spread_and_a_resting_order() {
        let s = with_ladder();
        assert_eq!(s.depth.state, crate::state::BookState::InSync);
        insta::assert_snapshot!("depth_ladder_120x36", screen(120, 36, &s));
        insta::assert_snapshot!("depth_ladder_80x24", screen(80, 24, &s));
        insta::assert_snapshot!("depth_ladder_60x16", screen(60, 16, &s));
    }
}
