//! Colours and styles, in one place.

use ratatui::style::{Color, Modifier, Style};

use crate::state::Direction;

pub const UP: Color = Color::Green;
pub const DOWN: Color = Color::Red;

pub fn direction(d: Direction) -> Style {
    match d {
        Direction::Up => Style::new().fg(UP),
        Direction::Down => Style::new().fg(DOWN),
        Direction::Flat => Style::new(),
    }
}

/// A value that just changed: reversed for a moment.
pub fn flash(d: Direction) -> Style {
    direction(d).add_modifier(Modifier::REVERSED)
}

pub fn header() -> Style {
    Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD)
}

pub fn selected() -> Style {
    Style::new()
        .bg(Color::DarkGray)
        .add_modifier(Modifier::BOLD)
}

pub fn border(focused: bool) -> Style {
    if focused {
        Style::new().fg(Color::Cyan)
    } else {
        Style::new().fg(Color::Gray)
    }
}

/// Prices that are no longer live (disconnected): the terminal's dim attribute.
pub fn stale() -> Style {
    Style::new().add_modifier(Modifier::DIM)
}

pub fn dim() -> Style {
    Style::new().fg(Color::DarkGray)
}

pub fn status() -> Style {
    Style::new().bg(Color::Blue).fg(Color::White)
}
