//! Positions and P&L from this session's fills, with session totals (`p` toggles it with the
//! orders pane).

use protocol::Decimal;
use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::widgets::{Block, Widget};

use crate::format;
use crate::state::State;
use crate::theme;
use crate::ui::fit::{Column, table};

fn signed(style_of: Option<Decimal>) -> Style {
    match style_of {
        Some(v) if v.is_sign_negative() && !v.is_zero() => Style::new().fg(theme::DOWN),
        Some(v) if !v.is_zero() => Style::new().fg(theme::UP),
        _ => Style::new(),
    }
}

fn money(v: Option<Decimal>) -> String {
    v.map_or_else(|| "n/a".to_owned(), |v| format!("{:.2}", v.round_dp(2)))
}

/// The positions pane. Drawn from a borrowed state; never changes it.
#[derive(Debug, Clone, Copy)]
pub struct Positions<'a> {
    pub state: &'a State,
}

impl Widget for Positions<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let state = self.state;
        let mut symbol = Column::new("Symbol", 0, false);
        let mut pos = Column::new("Pos", 1, true);
        let mut avg = Column::new("Avg", 3, true);
        let mut mark = Column::new("Mark", 4, true);
        let mut unreal = Column::new("Unreal", 2, true);
        let mut real = Column::new("Real", 2, true);
        let mut pnl = Column::new("P&L", 0, true);
        for p in &state.positions.rows {
            let tick = state.watchlist.row(&p.symbol).map(|r| r.tick_size);
            let m = state.mark(&p.symbol);
            let u = if p.broken { None } else { p.unrealized(m) };
            let r = (!p.broken).then_some(p.realized);
            let total = r.zip(u).and_then(|(r, u)| r.checked_add(u));
            symbol.push(p.symbol.to_string(), Style::new());
            pos.push(format::quantity(p.qty), Style::new());
            avg.push(
                if p.qty.is_zero() {
                    "-".to_owned()
                } else {
                    format::price(p.avg_cost, tick)
                },
                Style::new(),
            );
            mark.push(
                m.map_or_else(|| "stale".to_owned(), |m| format::price(m, tick)),
                Style::new(),
            );
            unreal.push(money(u), signed(u));
            real.push(money(r), signed(r));
            pnl.push(money(total), signed(total));
        }
        let (r, u) = state.pnl_totals();
        let total = r.zip(u).and_then(|(r, u)| r.checked_add(u));
        let bold = Style::new().add_modifier(Modifier::BOLD);
        symbol.push("Total".to_owned(), bold);
        for c in [&mut pos, &mut avg, &mut mark] {
            c.push(String::new(), Style::new());
        }
        unreal.push(money(u), signed(u).add_modifier(Modifier::BOLD));
        real.push(money(r), signed(r).add_modifier(Modifier::BOLD));
        pnl.push(money(total), signed(total).add_modifier(Modifier::BOLD));
        let columns = [symbol, pos, avg, mark, unreal, real, pnl];
        let block = Block::bordered()
            .title(" Positions (p: orders) ")
            .border_style(theme::border(false));
        let inner = block.inner(area);
        Widget::render(
            table(&columns, inner.width, theme::header()).block(block),
            area,
            buf,
        );
    }
}
