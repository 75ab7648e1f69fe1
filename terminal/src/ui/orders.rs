//! The session's orders: quantity, filled and leaves, prices to the symbol's tick, round trip,
//! status; the selected order's full status (a reject's reason) on a detail line.

use ratatui::buffer::Buffer;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Style};
use ratatui::widgets::{Block, Paragraph, StatefulWidget, TableState, Widget, Wrap};

use crate::format;
use crate::state::{Focus, OrderRow, OrderStatus, State};
use crate::theme;
use crate::ui::fit::{Column, table};

fn status(s: &OrderStatus) -> (&'static str, Style) {
    match s {
        OrderStatus::Sent => ("sent", Style::new().fg(Color::Yellow)),
        OrderStatus::Acked => ("acked", Style::new().fg(Color::Cyan)),
        OrderStatus::PartiallyFilled => ("partial", Style::new().fg(Color::Cyan)),
        OrderStatus::Filled => ("filled", Style::new().fg(theme::UP)),
        OrderStatus::Rejected(_) => ("rejected", Style::new().fg(theme::DOWN)),
        OrderStatus::Canceled => ("canceled", theme::dim()),
        OrderStatus::Lost => ("lost", Style::new().fg(theme::DOWN)),
    }
}

/// The whole story of one order, for the detail line.
pub fn detail(o: &OrderRow) -> String {
    let what = match &o.status {
        OrderStatus::Rejected(why) => format!("rejected: {why}"),
        OrderStatus::Lost => {
            "lost: the connection closed, and the server drops a connection's orders".to_owned()
        }
        other => status(other).0.to_owned(),
    };
    format!(
        "{} {} {} {}: {what}",
        o.id,
        o.side.as_str(),
        o.qty.normalize(),
        o.symbol
    )
}

/// The orders pane. Drawn from a borrowed state; never changes it.
#[derive(Debug, Clone, Copy)]
pub struct Orders<'a> {
    pub state: &'a State,
}

impl Widget for Orders<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let state = self.state;
        let focused = state.focus == Focus::Orders;
        let block = Block::bordered()
            .title(" Orders (Tab: focus, c: cancel) ")
            .border_style(theme::border(focused));
        let inner = block.inner(area);
        Widget::render(block, area, buf);
        let shown = if focused {
            state.orders.selected_row()
        } else {
            state.orders.rows.last()
        };
        let detail_lines = if inner.height >= 4 && shown.is_some() {
            2
        } else {
            0
        };
        let [list, detail_area] =
            Layout::vertical([Constraint::Min(0), Constraint::Length(detail_lines)]).areas(inner);

        let mut id = Column::new("Id", 3, false);
        let mut sym = Column::new("Sym", 0, false);
        let mut side = Column::new("Side", 1, false);
        let mut qty = Column::new("Qty", 2, true);
        let mut filled = Column::new("Filled", 5, true);
        let mut leaves = Column::new("Leaves", 4, true);
        let mut price = Column::new("Price", 3, true);
        let mut avg = Column::new("Avg", 6, true);
        let mut rtt = Column::new("RTT", 7, true);
        let mut st = Column::new("Status", 0, false);
        for o in &state.orders.rows {
            let tick = state.watchlist.row(&o.symbol).map(|r| r.tick_size);
            id.push(o.id.clone(), Style::new());
            sym.push(o.symbol.to_string(), Style::new());
            side.push(
                o.side.as_str().to_owned(),
                Style::new().fg(if o.side == protocol::Side::Buy {
                    theme::UP
                } else {
                    theme::DOWN
                }),
            );
            qty.push(format::quantity(o.qty), Style::new());
            filled.push(format::quantity(o.filled), Style::new());
            let open = o.status.is_open();
            leaves.push(
                if open {
                    format::quantity(o.qty.saturating_sub(o.filled))
                } else {
                    "0".to_owned()
                },
                Style::new(),
            );
            price.push(
                o.price
                    .map_or_else(|| "MKT".into(), |p| format::price(p, tick)),
                Style::new(),
            );
            avg.push(
                o.avg_price()
                    .map_or_else(String::new, |p| format::price(p, tick)),
                Style::new(),
            );
            rtt.push(
                o.rtt.map_or_else(
                    || "-".into(),
                    |d| format::nanos(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)),
                ),
                Style::new(),
            );
            let (text, style) = status(&o.status);
            st.push(text.to_owned(), style);
        }
        let columns = [id, sym, side, qty, price, filled, leaves, avg, rtt, st];
        let widget =
            table(&columns, list.width, theme::header()).row_highlight_style(theme::selected());
        let selected = (focused && !state.orders.rows.is_empty()).then_some(state.orders.selected);
        let mut table_state = TableState::default().with_selected(selected);
        if !focused && !state.orders.rows.is_empty() {
            // Keep the newest orders in view.
            let visible = usize::from(list.height.saturating_sub(1));
            *table_state.offset_mut() = state.orders.rows.len().saturating_sub(visible);
        }
        StatefulWidget::render(widget, list, buf, &mut table_state);
        if let Some(o) = shown
            && detail_lines > 0
        {
            Widget::render(
                Paragraph::new(detail(o))
                    .style(status(&o.status).1)
                    .wrap(Wrap { trim: true }),
                detail_area,
                buf,
            );
        }
    }
}
