//! The watchlist table.

use std::time::Instant;

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Text;
use ratatui::widgets::{Block, Cell, Row, Table, TableState};
use rust_decimal::prelude::ToPrimitive;

use crate::state::{Focus, State};
use crate::theme;
use protocol::Decimal;

fn num(value: String) -> Cell<'static> {
    Cell::from(Text::from(value).right_aligned())
}

fn volume(v: protocol::Decimal) -> String {
    let v = v.trunc().to_u64().unwrap_or(0);
    match v {
        v if v >= 10_000_000 => format!("{:.1}M", v as f64 / 1e6),
        v if v >= 10_000 => format!("{:.0}K", v as f64 / 1e3),
        v => v.to_string(),
    }
}

pub fn render(frame: &mut Frame, area: Rect, state: &State, now: Instant) {
    let header = Row::new(
        [
            "Symbol", "Bid", "Ask", "Last", "Chg", "Chg%", "Volume", "Sprd",
        ]
        .map(|h| {
            if h == "Symbol" {
                Cell::from(h)
            } else {
                Cell::from(Text::from(h).right_aligned())
            }
        }),
    )
    .style(theme::header());
    let rows = state.watchlist.rows.iter().map(|r| {
        if r.seq.is_none() {
            return Row::new([Cell::from(r.symbol.to_string()), num("…".into())])
                .style(theme::dim());
        }
        let change = r.change().unwrap_or(Decimal::ZERO);
        let dir_style = theme::direction(if change.is_sign_negative() && !change.is_zero() {
            crate::state::Direction::Down
        } else if change.is_zero() {
            crate::state::Direction::Flat
        } else {
            crate::state::Direction::Up
        });
        let last_style = if r.flashing(now) {
            theme::flash(r.direction)
        } else {
            theme::direction(r.direction)
        };
        let sign = if change.is_sign_positive() && !change.is_zero() {
            "+"
        } else {
            ""
        };
        Row::new([
            Cell::from(r.symbol.to_string()),
            num(r.bid.to_string()),
            num(r.ask.to_string()),
            num(r.last.to_string()).style(last_style),
            num(r
                .change()
                .map_or_else(|| "n/a".into(), |c| format!("{sign}{c}")))
            .style(dir_style),
            num(r
                .change_pct()
                .map_or_else(|| "n/a".into(), |p| format!("{sign}{p}%")))
            .style(dir_style),
            num(volume(r.volume)),
            num(r.spread().map_or_else(|| "n/a".into(), |s| s.to_string())),
        ])
    });
    let widths = [
        Constraint::Length(6),
        Constraint::Length(9),
        Constraint::Length(9),
        Constraint::Length(9),
        Constraint::Length(7),
        Constraint::Length(7),
        Constraint::Length(7),
        Constraint::Length(5),
    ];
    let focused = state.focus == Focus::Watchlist;
    let table = Table::new(rows, widths)
        .header(header)
        .column_spacing(1)
        .row_highlight_style(theme::selected())
        .block(
            Block::bordered()
                .title(" Watchlist ")
                .border_style(theme::border(focused)),
        );
    let mut table_state = TableState::default()
        .with_selected((!state.watchlist.rows.is_empty()).then_some(state.watchlist.selected));
    frame.render_stateful_widget(table, area, &mut table_state);
}
