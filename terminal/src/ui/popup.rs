//! Overlays: the order form, the add-symbol prompt and the help screen.

use protocol::Decimal;
use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Clear, Paragraph, Widget, Wrap};

use crate::state::{Field, Overlay as StateOverlay, State};
use crate::theme;

fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let [v] = Layout::vertical([Constraint::Length(height.min(area.height))])
        .flex(Flex::Center)
        .areas(area);
    let [h] = Layout::horizontal([Constraint::Length(width.min(area.width))])
        .flex(Flex::Center)
        .areas(v);
    h
}

/// What a market order in the form would get from the ladder's book: its average price and
/// slippage, and whether the book can fill it all.
fn book_estimate(state: &State, form: &crate::state::OrderForm) -> String {
    let Ok(qty) = protocol::decimal::parse(&form.qty) else {
        return String::new();
    };
    let tick = state.watchlist.row(&form.symbol).map(|r| r.tick_size);
    match state.depth.estimate(&form.symbol, form.side, qty) {
        None => "  Book:     press l for average and slippage".to_owned(),
        Some(e) => {
            let average = crate::format::price(e.average, tick.map(|t| t / Decimal::from(100)));
            let slippage = crate::format::price(e.slippage, tick.map(|t| t / Decimal::from(100)));
            if e.fillable < qty {
                format!(
                    "  Book:     only {} in view, avg {average}",
                    crate::format::quantity(e.fillable)
                )
            } else {
                format!("  Book:     avg {average}, slippage {slippage}")
            }
        }
    }
}

/// The overlays (order form, prompts, help) over the whole screen `area`, when one is open.
#[derive(Debug, Clone, Copy)]
pub struct Overlay<'a> {
    pub state: &'a State,
}

impl Widget for Overlay<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let state = self.state;
        if let Some(form) = state.overlay.form() {
            let area = centered(area, 50, 11);
            let mark = |f: Field| if form.field == f { "▶" } else { " " };
            let side_style = Style::new().fg(if form.side == protocol::Side::Buy {
                theme::UP
            } else {
                theme::DOWN
            });
            let row = state.watchlist.row(&form.symbol);
            let touch = row.map_or_else(
                || "bid - / ask -".to_owned(),
                |r| format!("bid {} / ask {}", r.bid, r.ask),
            );
            let kind = match form.limit() {
                Some(p) => format!("LIMIT at {p}"),
                None if form.price.trim().is_empty() => "MARKET (walks the book)".to_owned(),
                None => "limit price not valid".to_owned(),
            };
            let notional = state
                .notional(form)
                .map_or_else(|| "-".to_owned(), |n| n.round_dp(2).to_string());
            let mut lines = vec![
                Line::styled(
                    format!(
                        "{} {}   {touch}",
                        form.side.as_str().to_uppercase(),
                        form.symbol
                    ),
                    side_style,
                ),
                Line::from(format!("{} Quantity: {}", mark(Field::Qty), form.qty)),
                Line::from(format!(
                    "{} Price:    {}",
                    mark(Field::Price),
                    if form.price.is_empty() {
                        "(empty: market)"
                    } else {
                        &form.price
                    }
                )),
                Line::from(format!("  Order:    {kind}")),
                Line::from(format!("  Notional: {notional}")),
            ];
            if form.limit().is_none() && form.price.trim().is_empty() {
                lines.push(Line::styled(book_estimate(state, form), theme::dim()));
            }
            if matches!(state.overlay, StateOverlay::Confirm(_)) {
                lines.push(Line::styled(
                    format!(
                        "Worth more than {}: Enter again to send, Esc to cancel",
                        state.confirm_notional
                    ),
                    Style::new().fg(Color::Yellow),
                ));
            } else {
                lines.push(Line::styled(
                    "Enter send  Tab field  Esc cancel",
                    theme::dim(),
                ));
            }
            if let Some(e) = &form.error {
                lines.push(Line::styled(e.clone(), Style::new().fg(Color::Red)));
            }
            Widget::render(Clear, area, buf);
            Widget::render(
                Paragraph::new(lines).wrap(Wrap { trim: true }).block(
                    Block::bordered()
                        .title(" New order ")
                        .border_style(side_style),
                ),
                area,
                buf,
            );
        } else if let Some(text) = state.overlay.prompt() {
            let matches = state.completions();
            let hint = if state.available.is_empty() {
                "waiting for the server's symbol list".to_owned()
            } else if matches.is_empty() {
                "no symbol on this server starts so".to_owned()
            } else {
                let names: Vec<&str> = matches.iter().map(|s| s.as_str()).collect();
                format!("Tab: {}", names.join(" "))
            };
            let area = centered(area, 44, 4);
            Widget::render(Clear, area, buf);
            Widget::render(
                Paragraph::new(vec![
                    Line::from(format!("{text}_")),
                    Line::styled(hint, theme::dim()),
                ])
                .block(Block::bordered().title(" Add symbol (Enter/Esc) ")),
                area,
                buf,
            );
        } else if let StateOverlay::Alert { symbol, text } = &state.overlay {
            let last = state
                .watchlist
                .row(symbol)
                .map_or_else(|| "-".to_owned(), |r| r.last.to_string());
            let area = centered(area, 44, 4);
            Widget::render(Clear, area, buf);
            Widget::render(
                Paragraph::new(vec![
                    Line::from(format!("{text}_")),
                    Line::styled(
                        format!("last {last}; empty removes the alert"),
                        theme::dim(),
                    ),
                ])
                .block(
                    Block::bordered().title(format!(" Alert on {symbol} at price (Enter/Esc) ")),
                ),
                area,
                buf,
            );
        } else if state.overlay == StateOverlay::Help {
            let keys = [
                ("Up/Down, k/j", "select a row"),
                ("PgUp/PgDn, g/G", "page; first / last row"),
                ("o / O", "sort by the next column / reverse"),
                ("Tab", "switch focus: watchlist / orders"),
                ("b / s", "buy / sell the selected symbol"),
                ("Enter", "send the order (no price = market)"),
                ("Esc", "close a form, or this help"),
                ("c", "cancel the selected open order"),
                ("a / d", "add a symbol / remove the selected one"),
                ("p", "positions and P&L / orders"),
                ("l", "depth ladder of the selected symbol"),
                ("A", "price alert on the selected symbol"),
                ("1-9", "switch watchlist (saved in the settings)"),
                ("?", "this help"),
                ("q, Ctrl-C", "quit (Ctrl-C also while typing)"),
                ("RTT", "order sent to its ack or reject"),
                ("tick", "an event's ts_ns to its arrival (same host)"),
            ];
            let needed = u16::try_from(keys.len())
                .unwrap_or(u16::MAX)
                .saturating_add(2);
            let screen = area;
            if screen.height >= needed && screen.width >= 64 {
                let lines: Vec<Line> = keys
                    .iter()
                    .map(|(k, what)| Line::from(format!("{k:>14}  {what}")))
                    .collect();
                let area = centered(screen, 64, needed);
                Widget::render(Clear, area, buf);
                Widget::render(
                    Paragraph::new(lines)
                        .block(Block::bordered().title(" Keys (Esc or ? closes) ")),
                    area,
                    buf,
                );
            } else {
                // A small screen: the keys in short, as one wrapped paragraph.
                let short = [
                    "j/k move",
                    "g/G ends",
                    "o/O sort",
                    "Tab pane",
                    "b/s order",
                    "c cancel",
                    "a/d add/del",
                    "A alert",
                    "p P&L",
                    "1-9 lists",
                    "q quit",
                    "RTT: order to answer",
                    "tick: ts_ns to arrival",
                ];
                let area = screen;
                Widget::render(Clear, area, buf);
                Widget::render(
                    Paragraph::new(short.join(" · "))
                        .wrap(Wrap { trim: true })
                        .block(Block::bordered().title(" Keys (Esc closes) ")),
                    area,
                    buf,
                );
            }
        }
    }
}
