//! What a source of market events is: a stream of events timed on its own clock.

use protocol::recording::{Extras, MarketEvent};

/// One step of a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// An event at `at_ns` on the source's clock (never earlier than the previous one's, except
    /// where a recording itself goes back in time).
    Event {
        at_ns: u64,
        event: MarketEvent,
        /// A recorded live venue's fields of a quote or trade.
        extras: Extras,
    },
    /// A looping replay finished a pass over its file and starts the next.
    Looped,
}

/// A stream of market events.
pub trait Source: Send + std::fmt::Debug {
    /// The next step, `Ok(None)` when the source has nothing more, or why it cannot go on
    /// (`FILE:LINE: what is wrong`).
    fn next_step(&mut self) -> Result<Option<Step>, String>;

    /// Whether falling far behind schedule may skip events rather than send them late: true for
    /// synthesis, where no one is owed a particular event, false for a replay.
    fn skippable(&self) -> bool;
}
