//! Rendering: lays out the panes and draws each from a borrowed [`State`]. Never blocks, never
//! mutates state.

mod chart;
mod latency;
mod orders;
mod popup;
mod status;
mod watchlist;

use std::time::Instant;

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout};

use crate::state::State;

/// Draws the whole screen. Wide screens put the chart beside the watchlist; narrow ones stack.
pub fn draw(frame: &mut Frame, state: &State, now: Instant) {
    let [main, status_bar] = Layout::vertical([Constraint::Min(0), Constraint::Length(1)]).areas(frame.area());
    let wide = main.width >= 120;
    let [top, bottom] = Layout::vertical([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(main);
    if wide {
        let [watch, chart] = Layout::horizontal([Constraint::Percentage(58), Constraint::Percentage(42)]).areas(top);
        let [orders, lat] = Layout::horizontal([Constraint::Percentage(58), Constraint::Percentage(42)]).areas(bottom);
        watchlist::render(frame, watch, state, now);
        chart::render(frame, chart, state);
        orders::render(frame, orders, state);
        latency::render(frame, lat, state);
    } else {
        let [chart_area, lat] = Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)]).areas(bottom);
        let [watch, orders_area] = Layout::vertical([Constraint::Min(4), Constraint::Length(5)]).areas(top);
        watchlist::render(frame, watch, state, now);
        orders::render(frame, orders_area, state);
        chart::render(frame, chart_area, state);
        latency::render(frame, lat, state);
    }
    status::render(frame, status_bar, state, now);
    popup::render(frame, state);
}

/// Formats nanoseconds with a unit that keeps three digits.
pub fn fmt_ns(ns: u64) -> String {
    match ns {
        0 => "-".to_owned(),
        n if n < 10_000 => format!("{n}ns"),
        n if n < 10_000_000 => format!("{:.0}us", n as f64 / 1e3),
        n if n < 10_000_000_000 => format!("{:.0}ms", n as f64 / 1e6),
        n => format!("{:.1}s", n as f64 / 1e9),
    }
}
