//! Latency percentiles, message rate and gaps: one column per statistic, one row per percentile,
//! so that it fits an 80-column screen.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Text;
use ratatui::widgets::{Block, Cell, Row, Table};

use crate::latency::Summary;
use crate::state::State;
use crate::theme;
use crate::ui::format::nanos as fmt_ns;

pub fn render(frame: &mut Frame, area: Rect, state: &State) {
    let v = &state.view;
    let columns: [Summary; 4] = [v.rtt, v.rtt_recent, v.tick, v.tick_recent];
    let right = |v: String| Cell::from(Text::from(v).right_aligned());
    let header = Row::new(["", "RTT", "RTT 10s", "tick", "tick 10s"].map(|h| right(h.to_owned())))
        .style(theme::header());
    let line = |name: &str, pick: fn(&Summary) -> String| {
        Row::new(
            std::iter::once(Cell::from(name.to_owned()))
                .chain(columns.iter().map(|s| right(pick(s)))),
        )
    };
    let rows = vec![
        line("p50", |s| fmt_ns(s.p50)),
        line("p90", |s| fmt_ns(s.p90)),
        line("p99", |s| fmt_ns(s.p99)),
        line("p99.9", |s| fmt_ns(s.p999)),
        line("max", |s| fmt_ns(s.max)),
        line("count", |s| s.count.to_string()),
    ];
    let widths = [
        Constraint::Length(5),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(8),
        Constraint::Length(8),
    ];
    let title = format!(
        " Latency  {} msg/s  gaps {} ",
        v.messages_per_s, state.watchlist.gaps
    );
    frame.render_widget(
        Table::new(rows, widths)
            .header(header)
            .column_spacing(1)
            .block(Block::bordered().title(title)),
        area,
    );
}
