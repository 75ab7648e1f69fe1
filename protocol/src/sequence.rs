//! The `seq` rule as a client follows one symbol's stream: each quote or trade carries the last
//! `seq` plus one; a jump means events never arrived (the server conflated a slow client, or the
//! connection was lost), and a snapshot, which carries the `seq` of the last event it includes,
//! brings the client back in step.
//!
//! Every client in this workspace (the terminal's watchlist, `terminal record`, the bench's
//! subscribers, the hub's fuzz driver and the server's tests) follows streams with [`Sequence`],
//! so the rule is written once.

/// What one message's `seq` says about its stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The first `seq` seen on the stream: there is nothing to compare it with.
    First,
    /// It follows on: an event one past the last, or a snapshot of the last event seen.
    Next,
    /// `missed` events never arrived before this one: for an event, those between it and the
    /// last; for a snapshot, those it includes that were not seen.
    Gap { missed: u64 },
    /// Not past the last `seq` seen: a duplicate, or an event a snapshot already included.
    /// Skip it; the stream is unchanged.
    Stale,
    /// The stream waits for a snapshot (a new connection, or after [`Sequence::resync`]): skip
    /// events until one arrives.
    Unsynced,
}

/// One stream's position: the last `seq` seen, and whether it waits for a snapshot or for a
/// resumed connection to continue it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sequence {
    last: Option<u64>,
    waiting: bool,
    /// A new connection resumes the stream: the next event must follow `last` exactly, and any
    /// snapshot (whatever its `seq`) starts the stream afresh.
    resuming: bool,
}

impl Sequence {
    /// A stream that takes its first event or snapshot as where it starts.
    pub const fn new() -> Self {
        Self {
            last: None,
            waiting: false,
            resuming: false,
        }
    }

    /// A stream that skips events until a snapshot arrives: what a client that just subscribed
    /// follows, since the server sends the snapshot first.
    pub const fn awaiting_snapshot() -> Self {
        Self {
            last: None,
            waiting: true,
            resuming: false,
        }
    }

    /// The `seq` of the last event (or snapshot) applied, if any.
    pub fn last(&self) -> Option<u64> {
        self.last
    }

    /// The `seq` the next event should carry, once one has been seen.
    pub fn expected(&self) -> Option<u64> {
        self.last.map(|last| last.saturating_add(1))
    }

    /// Whether events apply (no snapshot is awaited, and no resumed connection has yet to show
    /// where it continues).
    pub fn is_synced(&self) -> bool {
        !self.waiting && !self.resuming
    }

    /// A new connection that asked to resume this stream (`subscribe` with `resume`): the server
    /// either continues it from `last + 1` or sends a snapshot, which is taken whatever its `seq`
    /// (the server may be behind what this client saw). Without a `last` there is nothing to
    /// resume, and the stream waits for a snapshot.
    pub fn resume(&mut self) {
        self.resuming = self.last.is_some();
        self.waiting = self.last.is_none();
    }

    /// Skips events from now until the next snapshot: after a gap, once a fresh snapshot has been
    /// asked for.
    pub fn resync(&mut self) {
        self.waiting = true;
    }

    /// A quote's or trade's `seq`. Moves the stream to it unless it is [`Step::Stale`] or the
    /// stream is [`Step::Unsynced`].
    pub fn event(&mut self, seq: u64) -> Step {
        if self.waiting {
            return Step::Unsynced;
        }
        if self.resuming {
            return match self.last {
                Some(last) if seq <= last => Step::Stale,
                Some(last) if seq == last.saturating_add(1) => {
                    self.last = Some(seq);
                    self.resuming = false;
                    Step::Next
                }
                _ => Step::Unsynced,
            };
        }
        let Some(last) = self.last else {
            self.last = Some(seq);
            return Step::First;
        };
        if seq <= last {
            return Step::Stale;
        }
        self.last = Some(seq);
        match seq - last - 1 {
            0 => Step::Next,
            missed => Step::Gap { missed },
        }
    }

    /// A snapshot's `seq`: the stream is in step from it on, unless it is older than what was
    /// already seen ([`Step::Stale`], which changes nothing).
    pub fn snapshot(&mut self, seq: u64) -> Step {
        let resuming = std::mem::take(&mut self.resuming);
        let step = match self.last {
            Some(last) if resuming && seq < last => Step::First,
            None => Step::First,
            Some(last) if seq < last => return Step::Stale,
            Some(last) if seq == last => Step::Next,
            Some(last) => Step::Gap { missed: seq - last },
        };
        self.last = Some(seq);
        self.waiting = false;
        step
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_follow_on_by_one_and_a_jump_counts_what_never_arrived() {
        let mut s = Sequence::new();
        assert_eq!(s.event(5), Step::First);
        assert_eq!(s.event(6), Step::Next);
        assert_eq!(s.event(9), Step::Gap { missed: 2 });
        assert_eq!(s.expected(), Some(10));
        assert_eq!(s.event(9), Step::Stale);
        assert_eq!(s.event(3), Step::Stale);
        assert_eq!(s.last(), Some(9));
    }

    #[test]
    fn a_resync_skips_events_until_a_snapshot_and_the_snapshot_counts_its_gap() {
        let mut s = Sequence::awaiting_snapshot();
        assert_eq!(s.event(1), Step::Unsynced);
        assert_eq!(s.snapshot(10), Step::First);
        assert_eq!(s.event(11), Step::Next);
        s.resync();
        assert!(!s.is_synced());
        assert_eq!(s.event(15), Step::Unsynced);
        assert_eq!(s.snapshot(11), Step::Next);
        assert_eq!(s.snapshot(14), Step::Gap { missed: 3 });
        assert_eq!(s.snapshot(2), Step::Stale);
        assert_eq!((s.last(), s.is_synced()), (Some(14), true));
        assert_eq!(s.event(15), Step::Next);
    }

    #[test]
    fn a_resumed_stream_continues_exactly_or_starts_again_from_any_snapshot() {
        let mut s = Sequence::new();
        s.snapshot(10);
        s.resume();
        assert!(!s.is_synced());
        assert_eq!(s.event(10), Step::Stale, "a duplicate of what was held");
        assert_eq!(s.event(12), Step::Unsynced, "not where it left off: wait");
        assert_eq!(s.event(11), Step::Next);
        assert!(s.is_synced());
        s.resume();
        assert_eq!(
            s.snapshot(5),
            Step::First,
            "a server behind this client starts afresh"
        );
        assert_eq!(s.event(6), Step::Next);
        s.resume();
        assert_eq!(s.snapshot(9), Step::Gap { missed: 3 });
        let mut fresh = Sequence::new();
        fresh.resume();
        assert_eq!(
            fresh.event(1),
            Step::Unsynced,
            "nothing to resume: wait for a snapshot"
        );
        assert_eq!(fresh.snapshot(3), Step::First);
    }

    #[test]
    fn the_largest_seq_does_not_overflow() {
        let mut s = Sequence::new();
        assert_eq!(s.event(u64::MAX), Step::First);
        assert_eq!(s.expected(), Some(u64::MAX));
        assert_eq!(s.event(u64::MAX), Step::Stale);
        assert_eq!(s.event(0), Step::Stale);
    }
}
