//! What the status bar says: the connection, where events come from, and the last notice.

use std::time::{Duration, Instant};

use super::State;

/// The connection as the status bar shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connection {
    Connecting {
        attempt: u32,
    },
    Connected,
    /// Not connected; the next attempt is `at`.
    Reconnecting {
        at: Instant,
        code: Option<u16>,
        reason: String,
        /// Whether the connection that ended had opened (else it never did).
        opened: bool,
        /// Since when prices are stale (ns since the epoch): the last moment they were live.
        stale_since_ns: u64,
    },
}

/// How long a notice stays on the status bar.
pub const NOTICE_TTL: Duration = Duration::from_secs(6);

impl State {
    /// What the server streams, for the status bar: `synthetic 2000/s`, `ingest BINANCE,
    /// KRAKEN`, or for a replay its file, speed and the recording's clock at the latest event
    /// (UTC).
    pub fn source_text(&self) -> Option<String> {
        let source = self.source.as_ref()?;
        if let Some(venues) = source.venues.as_ref().filter(|_| source.kind == "ingest") {
            let venues = venues.join(", ");
            return Some(match self.stale_sources.len() {
                0 => format!("ingest {venues}"),
                n => format!("ingest {venues} · {n} stale"),
            });
        }
        if source.kind != "replay" {
            return Some(match source.rate {
                Some(rate) => format!("{} {rate}/s", source.kind),
                None => source.kind.clone(),
            });
        }
        let file = source.file.as_deref().unwrap_or("recording");
        let speed = source.speed.as_deref().unwrap_or("1");
        let mut text = format!("replay {file} {speed}x");
        if let (Ok(factor), Some(recorded), Some(replayed)) = (
            speed.parse::<f64>(),
            source.recording_start_ns,
            source.replay_start_ns,
        ) && self.last_event_ns >= replayed
        {
            let into = (self.last_event_ns - replayed) as f64 * factor;
            let at = recorded.saturating_add(into as u64);
            let clock =
                humantime::format_rfc3339_millis(std::time::UNIX_EPOCH + Duration::from_nanos(at))
                    .to_string();
            // `2026-01-02T14:30:05.123Z` -> `14:30:05.123`
            if let Some(time) = clock.get(11..23) {
                text.push_str(" @ ");
                text.push_str(time);
            }
        }
        Some(text)
    }

    pub(super) fn notify(&mut self, text: String, now: Instant) {
        self.notice = Some((text, now));
    }

    /// The notice to show at `now`, if it has not expired.
    pub fn notice_at(&self, now: Instant) -> Option<&str> {
        self.notice
            .as_ref()
            .filter(|(_, at)| now.saturating_duration_since(*at) < NOTICE_TTL)
            .map(|(text, _)| text.as_str())
    }
}
