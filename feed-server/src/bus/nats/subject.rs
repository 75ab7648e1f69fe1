//! The bus's subjects. Symbols may hold `.`, NATS's token separator: in a subject it is written
//! `%2E` (a `%` cannot be in a symbol, so the mapping is one to one); `/`, `:`, `-` and `_` are
//! kept as they are.

/// Every subject of one cluster, under one prefix (`--bus-prefix`, default `tickwire`), so
/// several clusters can share a NATS server.
#[derive(Debug, Clone)]
pub struct Subjects {
    prefix: String,
}

impl Subjects {
    pub fn new(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_owned(),
        }
    }

    /// The events of one symbol.
    pub fn events(&self, symbol: &str) -> String {
        format!("{}.ev.{}", self.prefix, token(symbol))
    }

    /// The book events of one symbol: a subject of their own, so an edge takes them only while
    /// a client of it streams that book.
    pub fn books(&self, symbol: &str) -> String {
        format!("{}.book.{}", self.prefix, token(symbol))
    }

    /// The core's hello: its epoch, source and universe (request).
    pub fn hello(&self) -> String {
        format!("{}.core.hello", self.prefix)
    }

    /// A page of market states (request).
    pub fn state(&self) -> String {
        format!("{}.core.state", self.prefix)
    }

    /// Events from the core's history (request).
    pub fn replay(&self) -> String {
        format!("{}.core.replay", self.prefix)
    }

    /// Orders, cancels and connection closes (request).
    pub fn orders(&self) -> String {
        format!("{}.core.orders", self.prefix)
    }

    /// The core's heartbeat, with its epoch.
    pub fn core_heartbeat(&self) -> String {
        format!("{}.core.hb", self.prefix)
    }

    /// Which symbols' source is stale (a live venue's stream that is down).
    pub fn status(&self) -> String {
        format!("{}.core.status", self.prefix)
    }

    /// Every edge's heartbeat.
    pub fn edge_heartbeat(&self) -> String {
        format!("{}.edge.hb", self.prefix)
    }

    /// Fills of resting orders of one edge's connections.
    pub fn fills(&self, edge: u64) -> String {
        format!("{}.edge.{edge:016x}.fill", self.prefix)
    }
}

/// A symbol as one subject token.
fn token(symbol: &str) -> String {
    symbol.replace('.', "%2E")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols_with_dots_slashes_and_colons_are_one_token_each() {
        let s = Subjects::new("tickwire");
        assert_eq!(s.events("AAPL"), "tickwire.ev.AAPL");
        assert_eq!(s.events("BRK.B"), "tickwire.ev.BRK%2EB");
        assert_eq!(s.events("KRAKEN:BTC/USD"), "tickwire.ev.KRAKEN:BTC/USD");
        // Distinct symbols stay distinct subjects.
        assert_ne!(
            s.events("A.B"),
            s.events("A%2EB".replace("%2E", "_").as_str())
        );
        for symbol in ["BRK.B", "X.Y.Z", "BINANCE:BTC.USDT"] {
            assert_eq!(s.events(symbol).matches('.').count(), 2, "{symbol}");
        }
        assert_eq!(s.fills(255), "tickwire.edge.00000000000000ff.fill");
    }
}
