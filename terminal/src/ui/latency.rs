//! Latency percentiles, message rate and gaps: one column per statistic, one row per percentile.
//! Columns that do not fit are left out whole. `?` explains what RTT and tick mean.

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::widgets::{Block, Widget};

use crate::format::nanos;
use crate::latency::Summary;
use crate::state::State;
use crate::theme;
use crate::ui::fit::{Column, table};

/// One row of the panel: its name and how to read it from a summary.
type Line = (&'static str, fn(&Summary) -> String);

/// The latency panel. Drawn from a borrowed state; never changes it.
#[derive(Debug, Clone, Copy)]
pub struct Latency<'a> {
    pub state: &'a State,
}

impl Widget for Latency<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let state = self.state;
        let v = &state.view;
        let rows: [Line; 6] = [
            ("p50", |s| nanos(s.p50)),
            ("p90", |s| nanos(s.p90)),
            ("p99", |s| nanos(s.p99)),
            ("p99.9", |s| nanos(s.p999)),
            ("max", |s| nanos(s.max)),
            ("count", |s| s.count.to_string()),
        ];
        let mut names = Column::new("", 0, false);
        let mut stats = [
            (Column::new("RTT", 1, true), v.rtt),
            (Column::new("RTT 10s", 3, true), v.rtt_recent),
            (Column::new("tick", 2, true), v.tick),
            (Column::new("tick 10s", 4, true), v.tick_recent),
        ];
        for (name, pick) in rows {
            names.push(name.to_owned(), Style::new());
            for (column, summary) in &mut stats {
                column.push(pick(summary), Style::new());
            }
        }
        let mut columns = vec![names];
        columns.extend(stats.into_iter().map(|(c, _)| c));
        let title = format!(
            " Latency  {} msg/s  gaps {} ",
            v.messages_per_s, state.watchlist.gaps
        );
        let block = Block::bordered().title(title);
        let inner = block.inner(area);
        Widget::render(
            table(&columns, inner.width, theme::header()).block(block),
            area,
            buf,
        );
    }
}
