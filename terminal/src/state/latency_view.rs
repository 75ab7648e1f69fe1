//! The latency panel's figures, recomputed at most every [`VIEW_REFRESH`].

use std::time::{Duration, Instant};

use super::State;
use crate::latency::Summary;

/// What the latency panel shows, computed at most every [`VIEW_REFRESH`] by [`State::refresh`]
/// so that drawing a frame reads numbers instead of scanning histograms.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LatencyView {
    pub rtt: Summary,
    pub rtt_recent: Summary,
    pub tick: Summary,
    pub tick_recent: Summary,
    pub messages_per_s: u64,
}

/// How often the latency figures on screen are recomputed.
pub const VIEW_REFRESH: Duration = Duration::from_millis(250);

impl State {
    /// Recomputes the latency panel's figures if they are older than [`VIEW_REFRESH`]; returns
    /// whether they changed.
    pub fn refresh(&mut self, now: Instant) -> bool {
        if self
            .view_at
            .is_some_and(|t| now.saturating_duration_since(t) < VIEW_REFRESH)
        {
            return false;
        }
        self.view_at = Some(now);
        let now_s = self.seconds(now);
        self.rtt.advance(now_s);
        self.tick_latency.advance(now_s);
        let view = LatencyView {
            rtt: self.rtt.session(),
            rtt_recent: self.rtt.recent(),
            tick: self.tick_latency.session(),
            tick_recent: self.tick_latency.recent(),
            messages_per_s: self.messages.per_second(now_s),
        };
        let changed = view != self.view;
        self.view = view;
        changed
    }
}
