//! The application loop: terminal input, network events and a capped frame rate.

use std::time::{Duration, Instant};

use crossterm::event::{Event, EventStream, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use futures_util::StreamExt;
use protocol::{ClientMessage, Side};
use ratatui::DefaultTerminal;
use tokio::sync::mpsc;

use crate::action::Action;
use crate::net::NetEvent;
use crate::state::{Now, State};

/// Frames per second at most.
pub const FPS: u32 = 30;
/// Network events applied per turn at most, so input is never starved.
const EVENTS_PER_TURN: usize = 4_096;

/// Maps a key to an action; forms and prompts take text.
#[allow(clippy::match_same_arms)] // Arrows and vim keys agree, but letters are text in forms.
pub fn keymap(key: KeyEvent, state: &State) -> Option<Action> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    if key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c') {
        return Some(Action::ForceQuit);
    }
    let typing = state.overlay.is_typing();
    Some(match key.code {
        KeyCode::Esc => Action::Escape,
        KeyCode::Enter => Action::Submit,
        KeyCode::Tab | KeyCode::BackTab => {
            if typing {
                Action::NextField
            } else {
                Action::SwitchFocus
            }
        }
        KeyCode::Backspace => Action::Backspace,
        KeyCode::Up => Action::Up,
        KeyCode::Down => Action::Down,
        KeyCode::PageUp => Action::PageUp,
        KeyCode::PageDown => Action::PageDown,
        KeyCode::Home => Action::First,
        KeyCode::End => Action::Last,
        KeyCode::Char(c) if typing => Action::Input(c),
        KeyCode::Char('q') => Action::Quit,
        KeyCode::Char('?') => Action::ToggleHelp,
        KeyCode::Char('k') => Action::Up,
        KeyCode::Char('j') => Action::Down,
        KeyCode::Char('g') => Action::First,
        KeyCode::Char('G') => Action::Last,
        KeyCode::Char('o') => Action::NextSort,
        KeyCode::Char('O') => Action::ReverseSort,
        KeyCode::Char('b') => Action::OpenOrder(Side::Buy),
        KeyCode::Char('s') => Action::OpenOrder(Side::Sell),
        KeyCode::Char('c') => Action::CancelOrder,
        KeyCode::Char('a') => Action::AddSymbol,
        KeyCode::Char('d') => Action::RemoveSymbol,
        KeyCode::Char('p') => Action::TogglePositions,
        KeyCode::Char('l') => Action::ToggleDepth,
        KeyCode::Char('A') => Action::SetAlert,
        KeyCode::Char(c @ '1'..='9') => Action::SwitchList(usize::from(c as u8 - b'1')),
        _ => return None,
    })
}

fn send(commands: &mpsc::Sender<ClientMessage>, messages: Vec<ClientMessage>) {
    for m in messages {
        if commands.try_send(m).is_err() {
            tracing::warn!("network command queue full; message dropped");
        }
    }
}

/// Where changes to the watchlists and alerts are written.
#[derive(Debug, Clone)]
pub struct Persist {
    pub path: std::path::PathBuf,
    /// Whether the watchlists are written too (not when `--symbols` chose them).
    pub lists: bool,
}

/// Does what an update asked of the outside world: the bell, and the settings file.
fn effects(state: &mut State, persist: Option<&Persist>) {
    if std::mem::take(&mut state.ring) {
        use std::io::Write;
        let mut out = std::io::stdout();
        let _ = out.write_all(b"\x07").and_then(|()| out.flush());
    }
    if std::mem::take(&mut state.settings_dirty)
        && let Some(p) = persist
    {
        let mut saved = state.saved();
        if !p.lists {
            saved.lists.clear();
        }
        if let Err(e) = crate::config::save(&p.path, &saved) {
            tracing::warn!("cannot save the settings: {e:#}");
            state.notice = Some((format!("settings not saved: {e:#}"), Instant::now()));
        }
    }
}

/// Runs until the user quits.
pub async fn run(
    terminal: &mut DefaultTerminal,
    mut state: State,
    commands: mpsc::Sender<ClientMessage>,
    mut events: mpsc::Receiver<NetEvent>,
    persist: Option<Persist>,
) -> anyhow::Result<()> {
    let mut input = EventStream::new();
    let mut frame_tick = tokio::time::interval(Duration::from_secs(1) / FPS);
    frame_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut dirty = true;
    while !state.quit {
        tokio::select! {
            biased;
            key = input.next() => match key {
                Some(Ok(Event::Key(key))) => {
                    if let Some(action) = keymap(key, &state) {
                        let out = state.handle(action, Now::read());
                        send(&commands, out);
                        effects(&mut state, persist.as_ref());
                        dirty = true;
                    }
                }
                Some(Ok(Event::Resize(..))) => dirty = true,
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.into()),
                None => break,
            },
            _ = frame_tick.tick() => {
                let now = Instant::now();
                dirty |= state.refresh(now);
                if dirty {
                    terminal.draw(|frame| crate::ui::draw(frame, &state, now))?;
                    dirty = false;
                }
                // Status countdowns and flashes move without events.
                let now = Instant::now();
                dirty |= !matches!(state.connection, crate::state::Connection::Connected)
                    || state.watchlist.rows.iter().any(|r| r.flashing(now));
            }
            event = events.recv() => match event {
                Some(event) => {
                    let out = state.apply(event, Now::read());
                    send(&commands, out);
                    // Apply everything pending before the next frame.
                    let mut n = 0;
                    while n < EVENTS_PER_TURN {
                        let Ok(event) = events.try_recv() else { break };
                        let out = state.apply(event, Now::read());
                        send(&commands, out);
                        n += 1;
                    }
                    effects(&mut state, persist.as_ref());
                    dirty = true;
                }
                None => break,
            },
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ctrl_c_is_always_force_quit_and_q_is_a_letter_while_typing() {
        let mut s = State::new(
            "ws://x/ws".into(),
            &["AAPL".into()],
            protocol::Decimal::ONE,
            Instant::now(),
        );
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        let q = KeyEvent::new(KeyCode::Char('q'), KeyModifiers::NONE);
        assert_eq!(keymap(ctrl_c, &s), Some(Action::ForceQuit));
        assert_eq!(keymap(q, &s), Some(Action::Quit));
        s.overlay = crate::state::Overlay::AddSymbol(String::new());
        assert_eq!(keymap(ctrl_c, &s), Some(Action::ForceQuit));
        assert_eq!(keymap(q, &s), Some(Action::Input('q')));
    }
}
