//! What a venue's adapter is: the venue's protocol without its I/O, so that real captures can
//! be fed through it in tests exactly as the network would.
//!
//! The connection task ([`super::link`]) connects, hands every text message to the adapter
//! with the time it arrived, and does what the adapter asks in return ([`Out`]): send the
//! events to the hub, send messages to the venue (subscriptions, a re-subscribe after a bad
//! checksum), fetch a REST snapshot and hand it back.

use protocol::recording::{Extras, MarketEvent};

/// What a venue adapter does with the messages of one connection.
pub trait Adapter: Send + std::fmt::Debug {
    /// The WebSocket URL to connect to (Binance names its streams in the URL).
    fn url(&self) -> String;

    /// A connection opened: every book must be fetched again; say what to subscribe to.
    fn on_connected(&mut self, out: &mut Out);

    /// One text message from the venue, received at `recv_ns`. An error is a message the
    /// adapter cannot read: it is logged and counted, and the stream goes on.
    fn on_text(&mut self, text: &str, recv_ns: u64, out: &mut Out) -> Result<(), String>;

    /// The answer to a [`Fetch`]: the body, or why there is none.
    fn on_fetched(&mut self, fetch: &Fetch, body: Result<Vec<u8>, String>, out: &mut Out) {
        let _ = (fetch, body, out);
    }
}

/// A REST request an adapter needs answered (Binance's depth snapshot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fetch {
    /// The adapter's own index of the symbol it is for.
    pub symbol: usize,
    pub url: String,
}

/// Why a symbol's book was fetched or subscribed again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Resync {
    /// An update id or sequence number skipped some (Binance's `U` past the last `u` + 1).
    Gap,
    /// The venue's checksum disagreed with the book (Kraken).
    Checksum,
    /// The best bid and ask from the book disagreed with the venue's own at the same update.
    CrossCheck,
    /// The snapshot was older than the first buffered update, or could not be fetched.
    Snapshot,
    /// Too many updates arrived before the snapshot did.
    Overflow,
}

impl Resync {
    pub const ALL: [Resync; 5] = [
        Resync::Gap,
        Resync::Checksum,
        Resync::CrossCheck,
        Resync::Snapshot,
        Resync::Overflow,
    ];

    /// The `cause` label of `/metrics` and `/healthz`.
    pub fn label(self) -> &'static str {
        match self {
            Resync::Gap => "gap",
            Resync::Checksum => "checksum",
            Resync::CrossCheck => "cross_check",
            Resync::Snapshot => "snapshot",
            Resync::Overflow => "overflow",
        }
    }
}

/// What an adapter asks of its connection after a call.
#[derive(Debug, Default)]
pub struct Out {
    /// Events for the hub, in order (their symbols are the universe's indexes).
    pub events: Vec<MarketEvent>,
    /// A venue's fields of some of `events` (trade ids, aggressors), by position in `events`.
    /// Quotes and trades without get the message's `exch_ts_ns`.
    pub extras: Vec<(usize, Extras)>,
    /// Text messages to send to the venue.
    pub send: Vec<String>,
    /// REST requests to make; each answer comes back through [`Adapter::on_fetched`].
    pub fetch: Vec<Fetch>,
    /// Re-syncs started, by cause.
    pub resyncs: Vec<Resync>,
    /// The venue's timestamp of the last message that had one (ns since the Unix epoch).
    pub exch_ts_ns: Option<u64>,
    /// Symbols (universe indexes) that got a whole book since the last call.
    pub synced: Vec<usize>,
}

impl Out {
    /// Adds a trade with the venue's fields.
    pub fn trade(&mut self, event: MarketEvent, extras: Extras) {
        self.extras.push((self.events.len(), extras));
        self.events.push(event);
    }

    pub fn clear(&mut self) {
        self.events.clear();
        self.extras.clear();
        self.send.clear();
        self.fetch.clear();
        self.resyncs.clear();
        self.exch_ts_ns = None;
        self.synced.clear();
    }
}

/// Milliseconds since the Unix epoch as nanoseconds, saturating.
pub fn ms_to_ns(ms: u64) -> u64 {
    ms.saturating_mul(1_000_000)
}

/// A venue's `buy` or `sell`.
pub fn side_of(text: &str) -> Option<protocol::Side> {
    match text {
        "buy" => Some(protocol::Side::Buy),
        "sell" => Some(protocol::Side::Sell),
        _ => None,
    }
}

/// An RFC 3339 time (`2024-08-08T23:40:00.123456Z`) as ns since the Unix epoch.
pub fn rfc3339_ns(text: &str) -> Option<u64> {
    let time = humantime::parse_rfc3339_weak(text.trim_end_matches('Z')).ok()?;
    let since = time.duration_since(std::time::UNIX_EPOCH).ok()?;
    u64::try_from(since.as_nanos()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn venue_times_read_to_the_nanosecond() {
        assert_eq!(
            rfc3339_ns("2021-04-17T17:39:58.271839Z"),
            Some(1_618_681_198_271_839_000)
        );
        assert_eq!(rfc3339_ns("not a time"), None);
        assert_eq!(ms_to_ns(1_633_998_512_068), 1_633_998_512_068_000_000);
    }
}
