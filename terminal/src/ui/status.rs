//! The status bar: connection, URL, subprotocol, uptime, key hints, notices.

use std::time::Instant;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::state::{Connection, State};
use crate::theme;

pub fn render(frame: &mut Frame, area: Rect, state: &State, now: Instant) {
    let (text, colour) = match &state.connection {
        Connection::Connecting { attempt: 0 } => ("connecting".to_owned(), Color::Yellow),
        Connection::Connecting { attempt } => {
            (format!("connecting (try {})", attempt + 1), Color::Yellow)
        }
        Connection::Connected => ("connected".to_owned(), Color::Green),
        Connection::Reconnecting {
            at,
            code,
            reason,
            opened,
            ..
        } => {
            let secs = at.saturating_duration_since(now).as_secs_f64();
            if *opened {
                let code = code.map_or_else(String::new, |c| format!("{c} "));
                (
                    format!("closed {code}{reason}; reconnecting in {secs:.1}s"),
                    Color::Red,
                )
            } else {
                (
                    format!("not connected: {reason}; retrying in {secs:.1}s"),
                    Color::Red,
                )
            }
        }
    };
    let up = state.started.elapsed().as_secs();
    let mut spans = vec![
        Span::styled(
            format!(" {text} "),
            Style::new().bg(colour).fg(Color::Black),
        ),
        Span::raw(" ? help  q quit "),
    ];
    if let Some(notice) = state.notice_at(now) {
        spans.push(Span::styled(
            format!(" {notice} "),
            Style::new().fg(Color::Yellow),
        ));
    }
    if let Some(source) = state.source_text() {
        spans.push(Span::styled(
            format!(" {source} "),
            Style::new().fg(Color::Cyan),
        ));
    }
    spans.push(Span::raw(format!(
        " {} {} up {}:{:02}:{:02} ",
        state.url,
        state.protocol.as_deref().unwrap_or(""),
        up / 3600,
        up / 60 % 60,
        up % 60
    )));
    frame.render_widget(
        Paragraph::new(Line::from(spans)).style(theme::status()),
        area,
    );
}
