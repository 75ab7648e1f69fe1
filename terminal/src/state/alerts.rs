//! Price alerts: a level above or below the last trade, fired once when a trade reaches it.

use protocol::{Decimal, Symbol};

/// One alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Alert {
    pub symbol: Symbol,
    pub price: Decimal,
    /// Fires when a trade is at or above `price` (else at or below).
    pub above: bool,
    pub fired: bool,
}

impl Alert {
    /// `≥230.00` or `≤200.00`, for the watchlist.
    pub fn label(&self) -> String {
        format!("{}{}", if self.above { "≥" } else { "≤" }, self.price)
    }
}

/// Every alert, at most one per symbol.
#[derive(Debug, Default)]
pub struct Alerts {
    pub rows: Vec<Alert>,
}

impl Alerts {
    /// Sets (or replaces) the alert of `symbol` at `price`, above or below `last`.
    pub fn set(&mut self, symbol: Symbol, price: Decimal, last: Decimal) -> &Alert {
        self.rows.retain(|a| a.symbol != symbol);
        self.rows.push(Alert {
            symbol,
            price,
            above: price > last,
            fired: false,
        });
        let n = self.rows.len() - 1;
        &self.rows[n]
    }

    pub fn remove(&mut self, symbol: &str) -> bool {
        let before = self.rows.len();
        self.rows.retain(|a| a.symbol != symbol);
        self.rows.len() != before
    }

    pub fn get(&self, symbol: &str) -> Option<&Alert> {
        self.rows.iter().find(|a| a.symbol == symbol)
    }

    /// A trade of `symbol` at `price`: the alerts it fires (each fires once).
    pub fn trade(&mut self, symbol: &str, price: Decimal) -> Vec<Alert> {
        let mut fired = Vec::new();
        for a in &mut self.rows {
            let reached = if a.above {
                price >= a.price
            } else {
                price <= a.price
            };
            if a.symbol == symbol && !a.fired && reached {
                a.fired = true;
                fired.push(a.clone());
            }
        }
        fired
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_alert_fires_once_when_a_trade_reaches_its_level() {
        let mut a = Alerts::default();
        let level = Decimal::new(23_000, 2);
        assert!(a.set("AAPL".into(), level, Decimal::new(22_990, 2)).above);
        assert!(a.trade("AAPL", Decimal::new(22_999, 2)).is_empty());
        assert!(a.trade("MSFT", Decimal::new(50_000, 2)).is_empty());
        assert_eq!(a.trade("AAPL", level).len(), 1);
        assert!(a.trade("AAPL", Decimal::new(23_100, 2)).is_empty(), "once");
        assert!(!a.set("AAPL".into(), Decimal::new(22_000, 2), level).above);
        assert_eq!(a.rows.len(), 1, "one alert per symbol");
        assert_eq!(a.trade("AAPL", Decimal::new(21_999, 2)).len(), 1);
        assert!(a.remove("AAPL") && a.rows.is_empty());
    }
}
