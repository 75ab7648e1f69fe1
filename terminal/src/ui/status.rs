//! The status bar: connection, key hints, notice, source, URL and uptime. Segments that do not
//! fit are left out whole, least important first, so the bar never shows half a word.

use std::time::Instant;

use ratatui::buffer::Buffer;
use ratatui::layout::Rect;
use ratatui::style::{Color, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Widget};

use crate::state::{Connection, State};
use crate::theme;

/// The status bar. Drawn from a borrowed state; never changes it.
#[derive(Debug, Clone, Copy)]
pub struct StatusBar<'a> {
    pub state: &'a State,
    pub now: Instant,
}

impl Widget for StatusBar<'_> {
    fn render(self, area: Rect, buf: &mut Buffer) {
        let state = self.state;
        let now = self.now;
        // The connection in full, and in short for when the full text does not fit.
        let (text, short, colour) = match &state.connection {
            Connection::Connecting { attempt: 0 } => (
                "connecting".to_owned(),
                "connecting".to_owned(),
                Color::Yellow,
            ),
            Connection::Connecting { attempt } => (
                format!("connecting (try {})", attempt + 1),
                "connecting".to_owned(),
                Color::Yellow,
            ),
            Connection::Connected => ("connected".to_owned(), "connected".to_owned(), Color::Green),
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
                        format!("closed; retry in {secs:.1}s"),
                        Color::Red,
                    )
                } else {
                    (
                        format!("not connected: {reason}; retrying in {secs:.1}s"),
                        format!("not connected; retry in {secs:.1}s"),
                        Color::Red,
                    )
                }
            }
        };
        let up = now.saturating_duration_since(state.started).as_secs();
        let text = if text.chars().count() + 2 <= usize::from(area.width) {
            text
        } else {
            short
        };
        // (priority, span): lower numbers stay longest.
        let mut segments: Vec<(u8, Span)> = vec![
            (
                0,
                Span::styled(
                    format!(" {text} "),
                    Style::new().bg(colour).fg(Color::Black),
                ),
            ),
            (1, Span::raw(" ? help  q quit ")),
        ];
        if let Some(notice) = state.notice_at(now) {
            segments.push((
                2,
                Span::styled(format!(" {notice} "), Style::new().fg(Color::Yellow)),
            ));
        }
        if let Some(source) = state.source_text() {
            segments.push((
                3,
                Span::styled(format!(" {source} "), Style::new().fg(Color::Cyan)),
            ));
        }
        segments.push((4, Span::raw(format!(" {} ", state.url))));
        if let Some(p) = &state.protocol {
            segments.push((6, Span::raw(format!(" {p} "))));
        }
        segments.push((
            5,
            Span::raw(format!(
                " up {}:{:02}:{:02} ",
                up / 3600,
                up / 60 % 60,
                up % 60
            )),
        ));
        let mut order: Vec<usize> = (0..segments.len()).collect();
        order.sort_by_key(|&i| segments[i].0);
        let mut room = usize::from(area.width);
        let mut keep = vec![false; segments.len()];
        for i in order {
            let w = segments[i].1.width();
            if w <= room {
                room -= w;
                keep[i] = true;
            }
        }
        let spans: Vec<Span> = segments
            .into_iter()
            .zip(keep)
            .filter_map(|((_, s), k)| k.then_some(s))
            .collect();
        Widget::render(
            Paragraph::new(Line::from(spans)).style(theme::status()),
            area,
            buf,
        );
    }
}
