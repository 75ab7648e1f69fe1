//! The state a session starts from: the settings file, overridden by the command line, checked
//! before anything starts (a bad quantity is an error, not a server started for nothing).

use std::str::FromStr;
use std::time::Instant;

use anyhow::Context;
use protocol::{Decimal, Token};

use super::{Alert, DEFAULT_CONFIRM_NOTIONAL, State};
use crate::config::{FileConfig, Number};

/// Symbols watched when neither flags nor settings name any.
pub const DEFAULT_WATCHLIST: &[&str] = &[
    "AAPL", "MSFT", "NVDA", "AMZN", "GOOGL", "META", "TSLA", "JPM", "V", "KO",
];

/// What the settings and flags ask a session to start with.
#[derive(Debug, Clone)]
pub struct Setup {
    watchlist: Vec<String>,
    /// `--symbols` chose the watchlist: the named lists of the settings are not used (nor
    /// written back).
    from_flag: bool,
    default_qty: Decimal,
    confirm_notional: Decimal,
    bell: bool,
    lists: Vec<(String, Vec<String>)>,
    alerts: Vec<Alert>,
}

impl Setup {
    /// Reads `settings` with the flags over them: `--symbols` (a comma-separated list, or `*`)
    /// and `--qty`.
    pub fn new(
        settings: &FileConfig,
        symbols: Option<&str>,
        qty: Option<&str>,
    ) -> anyhow::Result<Self> {
        let qty_text = qty
            .map(str::to_owned)
            .or(settings.default_qty.as_ref().map(Number::text))
            .unwrap_or_else(|| "100".to_owned());
        let default_qty = Decimal::from_str(&qty_text)
            .ok()
            .filter(|q| *q > Decimal::ZERO)
            .with_context(|| format!("default quantity `{qty_text}` is not a positive number"))?;
        let confirm_notional = match &settings.confirm_notional {
            None => DEFAULT_CONFIRM_NOTIONAL,
            Some(n) => Decimal::from_str(&n.text())
                .ok()
                .filter(|v| *v >= Decimal::ZERO)
                .with_context(|| format!("confirm_notional `{}` is not a number", n.text()))?,
        };
        let watchlist: Vec<String> = match symbols {
            // As typed: the server's list (in `hello`) decides, and `aapl` becomes `AAPL` only if
            // the server has no `aapl`.
            Some(list) => list
                .split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty())
                .collect(),
            None => settings
                .watchlist
                .clone()
                .unwrap_or_else(|| DEFAULT_WATCHLIST.iter().map(|s| (*s).to_owned()).collect()),
        };
        let from_flag = symbols.is_some();
        let lists = if from_flag {
            Vec::new()
        } else {
            settings
                .watchlists
                .clone()
                .unwrap_or_default()
                .into_iter()
                .collect()
        };
        let mut alerts = Vec::new();
        for entry in settings.alerts.iter().flatten() {
            let (level, above) = match (&entry.above, &entry.below) {
                (Some(p), _) => (p, true),
                (None, Some(p)) => (p, false),
                (None, None) => continue,
            };
            if let Ok(price) = Decimal::from_str(&level.text()) {
                alerts.push(Alert {
                    symbol: entry.symbol.as_str().into(),
                    price,
                    above,
                    fired: false,
                });
            }
        }
        Ok(Self {
            watchlist,
            from_flag,
            default_qty,
            confirm_notional,
            bell: settings.bell.unwrap_or(false),
            lists,
            alerts,
        })
    }

    /// Whether `--symbols` chose the watchlist (then the settings keep their lists).
    pub fn watchlist_from_flag(&self) -> bool {
        self.from_flag
    }

    /// The state of a session on `url`, sending `token` on every connection.
    pub fn state(self, url: String, token: Option<Token>, now: Instant) -> State {
        let mut state = State::new(url, &self.watchlist, self.default_qty, now);
        state.confirm_notional = self.confirm_notional;
        state.token = token;
        state.bell = self.bell;
        state.lists.extend(self.lists);
        state.alerts.rows.extend(self.alerts);
        state
    }
}
