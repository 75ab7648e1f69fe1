//! The watchlist table: columns as wide as their values, dropped by importance when narrow;
//! every price dim and marked stale while disconnected.

use std::time::Instant;

use protocol::Decimal;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::widgets::{Block, StatefulWidget, TableState, Widget};

use crate::format;
use crate::state::{Connection, Direction, Focus, State};
use crate::theme;
use crate::ui::fit::{Column, table};

/// `14:03:22 UTC` for a wall-clock time in ns since the epoch.
pub fn clock(ns: u64) -> String {
    let text = humantime::format_rfc3339_seconds(
        std::time::UNIX_EPOCH + std::time::Duration::from_nanos(ns),
    )
    .to_string();
    text.get(11..19)
        .map_or_else(|| text.clone(), |t| format!("{t} UTC"))
}

/// The watchlist pane. Drawn from a borrowed state; never changes it.
#[derive(Debug, Clone, Copy)]
pub struct Watchlist<'a> {
    pub state: &'a State,
    pub now: Instant,
}

impl Widget for Watchlist<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let state = self.state;
        let now = self.now;
        let stale_since = match &state.connection {
            Connection::Reconnecting { stale_since_ns, .. } => Some(*stale_since_ns),
            _ => None,
        };
        let mut symbol = Column::new("Symbol", 0, false);
        let mut last = Column::new("Last", 1, true);
        let mut pct = Column::new("Chg%", 2, true);
        let mut bid = Column::new("Bid", 3, true);
        let mut ask = Column::new("Ask", 4, true);
        let mut change = Column::new("Chg", 5, true);
        let mut volume = Column::new("Volume", 6, true);
        let mut spread = Column::new("Sprd", 7, true);
        let mut alert = Column::new("Alert", 5, true);
        let order = state.watchlist.order();
        for r in order.iter().map(|&i| &state.watchlist.rows[i]) {
            // A symbol whose venue stream is down: marked, its prices dim.
            let source_stale = state.stale_sources.contains(&r.symbol);
            if source_stale {
                symbol.push(format!("{} stale", r.symbol), theme::stale());
            } else {
                symbol.push(r.symbol.to_string(), Style::new());
            }
            match state.alerts.get(&r.symbol) {
                Some(a) if a.fired => alert.push(
                    format!("{}!", a.label()),
                    Style::new()
                        .fg(ratatui::style::Color::Yellow)
                        .add_modifier(ratatui::style::Modifier::BOLD),
                ),
                Some(a) => alert.push(a.label(), Style::new()),
                None => alert.push(String::new(), Style::new()),
            }
            if r.seq.last().is_none() && stale_since.is_none() {
                last.push("…".into(), theme::dim());
                for c in [
                    &mut pct,
                    &mut bid,
                    &mut ask,
                    &mut change,
                    &mut volume,
                    &mut spread,
                ] {
                    c.push(String::new(), Style::new());
                }
                continue;
            }
            let tick = Some(r.tick_size);
            let ch = r.change().unwrap_or(Decimal::ZERO);
            let dir = if ch.is_zero() {
                Direction::Flat
            } else if ch.is_sign_negative() {
                Direction::Down
            } else {
                Direction::Up
            };
            let sign = if dir == Direction::Up { "+" } else { "" };
            let (dir_style, last_style, plain) = if stale_since.is_some() || source_stale {
                (theme::stale(), theme::stale(), theme::stale())
            } else if r.flashing(now) {
                (
                    theme::direction(dir),
                    theme::flash(r.direction),
                    Style::new(),
                )
            } else {
                (
                    theme::direction(dir),
                    theme::direction(r.direction),
                    Style::new(),
                )
            };
            last.push(format::price(r.last, tick), last_style);
            pct.push(
                r.change_pct().map_or_else(
                    || "n/a".into(),
                    |p| format!("{sign}{}%", format::price(p, Some(Decimal::new(1, 2)))),
                ),
                dir_style,
            );
            bid.push(format::price(r.bid, tick), plain);
            ask.push(format::price(r.ask, tick), plain);
            change.push(
                r.change().map_or_else(
                    || "n/a".into(),
                    |c| format!("{sign}{}", format::price(c, tick)),
                ),
                dir_style,
            );
            volume.push(format::quantity(r.volume.trunc()), plain);
            spread.push(
                r.spread()
                    .map_or_else(|| "n/a".into(), |s| format::price(s, tick)),
                plain,
            );
        }
        let mut columns = vec![symbol, bid, ask, last, change, pct, volume, spread];
        if let Some((key, descending)) = state.watchlist.sort {
            let arrow = if descending { "▼" } else { "▲" };
            for c in &mut columns {
                if c.header == key.header() {
                    c.header.push_str(arrow);
                }
            }
        }
        if !state.alerts.rows.is_empty() {
            columns.push(alert);
        }
        let focused = state.focus == Focus::Watchlist;
        let name = if state.lists.len() > 1 {
            let list = state.list;
            let total = state.lists.len();
            let name = state.lists.get(list).map_or("", |(n, _)| n.as_str());
            format!(" {}/{total} {name}", list + 1)
        } else {
            String::new()
        };
        let title = match stale_since {
            Some(ns) => format!(" Watchlist{name}: stale since {} ", clock(ns)),
            None => format!(" Watchlist{name} "),
        };
        let block = Block::bordered()
            .title(title)
            .border_style(if stale_since.is_some() {
                theme::stale()
            } else {
                theme::border(focused)
            });
        let inner = block.inner(area);
        let widget = table(&columns, inner.width, theme::header())
            .row_highlight_style(theme::selected())
            .block(block);
        let shown = order.iter().position(|&i| i == state.watchlist.selected);
        let mut table_state = TableState::default().with_selected(shown);
        StatefulWidget::render(widget, area, buf, &mut table_state);
    }
}
