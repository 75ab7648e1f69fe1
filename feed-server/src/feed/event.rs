//! A market event as the hub consumes it, whatever its source: prices in ticks, sizes in lots
//! ([`MarketEvent`], the recording format's), with the time it is due.

pub use protocol::recording::{Extras, MarketEvent};

/// An event with the wall-clock time it is due (ns since the Unix epoch): its `ts_ns` on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(clippy::struct_field_names)] // `due_ns` is what the field is called everywhere
pub struct Due {
    pub due_ns: u64,
    pub event: MarketEvent,
    /// A live venue's fields of a quote or trade (none from synthesis).
    pub extras: Extras,
}
