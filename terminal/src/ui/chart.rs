//! Recent prices of the selected symbol.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::symbols::Marker;
use ratatui::text::Line;
use ratatui::widgets::{Axis, Block, Chart, Dataset, GraphType, Paragraph, Widget};

use crate::state::State;
use crate::theme;

/// The chart of the selected symbol's recent prices. Drawn from a borrowed state; never changes it.
#[derive(Debug, Clone, Copy)]
pub struct PriceChart<'a> {
    pub state: &'a State,
}

impl Widget for PriceChart<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let state = self.state;
        let Some(row) = state.watchlist.selected_row() else {
            Widget::render(
                Paragraph::new("no symbol selected").block(Block::bordered().title(" Chart ")),
                area,
                buf,
            );
            return;
        };
        let title = format!(" {} last ", row.symbol);
        let points: Vec<(f64, f64)> = row.history.iter().copied().collect();
        if points.len() < 2 {
            Widget::render(
                Paragraph::new("waiting for trades…")
                    .style(theme::dim())
                    .block(Block::bordered().title(title)),
                area,
                buf,
            );
            return;
        }
        let (x0, x1) = (
            points[0].0,
            points[points.len() - 1].0.max(points[0].0 + 1.0),
        );
        let (lo, hi) = points.iter().fold((f64::MAX, f64::MIN), |(lo, hi), p| {
            (lo.min(p.1), hi.max(p.1))
        });
        let pad = ((hi - lo) * 0.1).max(0.01);
        let (lo, hi) = (lo - pad, hi + pad);
        let colour = if points[points.len() - 1].1 >= points[0].1 {
            theme::UP
        } else {
            theme::DOWN
        };
        // Axis bounds to the symbol's tick, like every price on screen.
        let tick = row.tick_size;
        let label = |v: f64| {
            rust_decimal::Decimal::from_f64_retain(v).map_or_else(
                || format!("{v:.2}"),
                |d| crate::format::price(d, Some(tick)),
            )
        };
        let data = Dataset::default()
            .marker(Marker::Braille)
            .graph_type(GraphType::Line)
            .style(Style::new().fg(colour))
            .data(&points);
        let chart = Chart::new(vec![data])
            .block(Block::bordered().title(title))
            .x_axis(
                Axis::default()
                    .bounds([x0, x1])
                    .labels([Line::from(format!("-{:.0}s", x1 - x0)), Line::from("now")])
                    .style(theme::dim()),
            )
            .y_axis(
                Axis::default()
                    .bounds([lo, hi])
                    .labels([Line::from(label(lo)), Line::from(label(hi))])
                    .style(theme::dim()),
            );
        Widget::render(chart, area, buf);
    }
}
