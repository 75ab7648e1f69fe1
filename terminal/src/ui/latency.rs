//! Latency percentiles, message rate and gaps.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::text::Text;
use ratatui::widgets::{Block, Cell, Row, Table};

use crate::latency::Summary;
use crate::state::State;
use crate::theme;
use crate::ui::fmt_ns;

fn row(name: &'static str, s: Summary) -> Row<'static> {
    let right = |v: String| Cell::from(Text::from(v).right_aligned());
    Row::new([
        Cell::from(name),
        right(fmt_ns(s.p50)),
        right(fmt_ns(s.p90)),
        right(fmt_ns(s.p99)),
        right(fmt_ns(s.p999)),
        right(fmt_ns(s.max)),
        right(s.count.to_string()),
    ])
}

pub fn render(frame: &mut Frame, area: Rect, state: &State) {
    let now_s = state.started.elapsed().as_secs();
    let header = Row::new(["", "p50", "p90", "p99", "p99.9", "max", "n"].map(|h| Cell::from(Text::from(h).right_aligned()))).style(theme::header());
    let rows = vec![
        row("RTT", state.rtt.session()),
        row("RTT 10s", state.rtt.recent(now_s)),
        row("tick", state.tick_latency.session()),
        row("tick 10s", state.tick_latency.recent(now_s)),
    ];
    let widths = [
        Constraint::Length(8),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Length(6),
        Constraint::Min(5),
    ];
    let title = format!(" Latency  {} msg/s  gaps {} ", state.messages.per_second(now_s), state.gaps);
    frame.render_widget(Table::new(rows, widths).header(header).column_spacing(1).block(Block::bordered().title(title)), area);
}
