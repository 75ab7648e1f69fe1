//! The session's orders and their status.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Color, Style};
use ratatui::text::Text;
use ratatui::widgets::{Block, Cell, Row, Table, TableState};

use crate::state::{Focus, OrderStatus, State};
use crate::theme;
use crate::ui::fmt_ns;

fn status(s: &OrderStatus) -> (String, Style) {
    match s {
        OrderStatus::Sent => ("sent".into(), Style::new().fg(Color::Yellow)),
        OrderStatus::Acked => ("acked".into(), Style::new().fg(Color::Cyan)),
        OrderStatus::PartiallyFilled => ("partial".into(), Style::new().fg(Color::Cyan)),
        OrderStatus::Filled => ("filled".into(), Style::new().fg(theme::UP)),
        OrderStatus::Rejected(why) => (format!("rejected {why}"), Style::new().fg(theme::DOWN)),
        OrderStatus::Canceled => ("canceled".into(), theme::dim()),
        OrderStatus::Lost => ("lost".into(), Style::new().fg(theme::DOWN)),
    }
}

pub fn render(frame: &mut Frame, area: Rect, state: &State) {
    let right = |s: String| Cell::from(Text::from(s).right_aligned());
    let header = Row::new([
        Cell::from("Id"),
        Cell::from("Sym"),
        Cell::from("Side"),
        right("Qty".into()),
        right("Price".into()),
        right("Avg".into()),
        right("RTT".into()),
        Cell::from("Status"),
    ])
    .style(theme::header());
    let rows = state.orders.rows.iter().map(|o| {
        let (text, style) = status(&o.status);
        Row::new([
            Cell::from(o.id.clone()),
            Cell::from(o.symbol.to_string()),
            Cell::from(o.side.as_str()).style(Style::new().fg(if o.side == protocol::Side::Buy {
                theme::UP
            } else {
                theme::DOWN
            })),
            right(o.qty.to_string()),
            right(o.price.map_or_else(|| "MKT".into(), |p| p.to_string())),
            right(o.avg_price().map_or_else(String::new, |p| p.to_string())),
            right(o.rtt.map_or_else(
                || "-".into(),
                |d| fmt_ns(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
            )),
            Cell::from(text).style(style),
        ])
    });
    let widths = [
        Constraint::Length(5),
        Constraint::Length(5),
        Constraint::Length(4),
        Constraint::Length(6),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(6),
        Constraint::Min(8),
    ];
    let focused = state.focus == Focus::Orders;
    let table = Table::new(rows, widths)
        .header(header)
        .row_highlight_style(theme::selected())
        .block(
            Block::bordered()
                .title(" Orders (Tab: focus, c: cancel) ")
                .border_style(theme::border(focused)),
        );
    let selected = (focused && !state.orders.rows.is_empty()).then_some(state.orders.selected);
    let mut table_state = TableState::default().with_selected(selected);
    if !focused && !state.orders.rows.is_empty() {
        // Keep the newest orders in view.
        let visible = usize::from(area.height.saturating_sub(3));
        *table_state.offset_mut() = state.orders.rows.len().saturating_sub(visible);
    }
    frame.render_stateful_widget(table, area, &mut table_state);
}
