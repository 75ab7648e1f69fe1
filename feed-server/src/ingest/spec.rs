//! `--ingest SPEC` and the venue URL flags: which venues, which of their symbols, where.

use std::fmt;
use std::str::FromStr;

/// A venue Tickwire can ingest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Venue {
    Binance,
    Coinbase,
    Kraken,
    /// Another Tickwire server.
    Tickwire,
}

impl Venue {
    pub const ALL: [Venue; 4] = [
        Venue::Binance,
        Venue::Coinbase,
        Venue::Kraken,
        Venue::Tickwire,
    ];

    /// The name in `--ingest`, `--ingest-url` and the `venue` label of `/metrics`.
    pub fn key(self) -> &'static str {
        match self {
            Venue::Binance => "binance",
            Venue::Coinbase => "coinbase",
            Venue::Kraken => "kraken",
            Venue::Tickwire => "tickwire",
        }
    }

    /// The prefix of the served symbols (`BINANCE:BTCUSDT`) and the name in `hello.source`.
    pub fn prefix(self) -> &'static str {
        match self {
            Venue::Binance => "BINANCE",
            Venue::Coinbase => "COINBASE",
            Venue::Kraken => "KRAKEN",
            Venue::Tickwire => "TICKWIRE",
        }
    }

    /// The production WebSocket base.
    pub fn default_ws(self) -> &'static str {
        match self {
            Venue::Binance => "wss://stream.binance.com:9443",
            Venue::Coinbase => "wss://ws-feed.exchange.coinbase.com",
            Venue::Kraken => "wss://ws.kraken.com/v2",
            // A relay's upstream is its spec's URL.
            Venue::Tickwire => "",
        }
    }

    /// The production REST base.
    pub fn default_rest(self) -> &'static str {
        match self {
            Venue::Binance => "https://api.binance.com",
            Venue::Coinbase => "https://api.exchange.coinbase.com",
            Venue::Kraken => "https://api.kraken.com",
            Venue::Tickwire => "",
        }
    }
}

impl fmt::Display for Venue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

impl FromStr for Venue {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Venue::ALL
            .into_iter()
            .find(|v| v.key().eq_ignore_ascii_case(s.trim()))
            .ok_or_else(|| format!("unknown venue `{s}`: binance, coinbase, kraken or tickwire"))
    }
}

/// Most symbols one `--ingest` may name.
pub const MAX_SYMBOLS_PER_VENUE: usize = 200;

/// One `--ingest VENUE:SYM1,SYM2`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    pub venue: Venue,
    /// The venue's own names, as given (Binance's upper-cased); none for `tickwire`, which
    /// relays every symbol its upstream serves.
    pub symbols: Vec<String>,
    /// `tickwire`: the upstream's WebSocket URL.
    pub url: Option<String>,
}

impl FromStr for Spec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (venue, list) = s
            .split_once(':')
            .ok_or_else(|| format!("`{s}`: give VENUE:SYMBOL,SYMBOL (binance:BTCUSDT)"))?;
        let venue: Venue = venue.parse()?;
        if venue == Venue::Tickwire {
            let url = list.trim();
            if !(url.starts_with("ws://") || url.starts_with("wss://")) {
                return Err(format!("`{s}`: give tickwire:ws://HOST:PORT/ws"));
            }
            return Ok(Self {
                venue,
                symbols: Vec::new(),
                url: Some(url.to_owned()),
            });
        }
        let symbols: Vec<String> = list
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(|t| match venue {
                Venue::Binance => t.to_ascii_uppercase(),
                Venue::Coinbase | Venue::Kraken | Venue::Tickwire => t.to_owned(),
            })
            .collect();
        if symbols.is_empty() {
            return Err(format!("`{s}` names no symbol"));
        }
        if symbols.len() > MAX_SYMBOLS_PER_VENUE {
            return Err(format!(
                "`{venue}` names {} symbols; at most {MAX_SYMBOLS_PER_VENUE}",
                symbols.len()
            ));
        }
        for symbol in &symbols {
            protocol::check_symbol(&format!("{}:{symbol}", venue.prefix()))?;
        }
        let mut seen = std::collections::HashSet::new();
        if let Some(dup) = symbols.iter().find(|t| !seen.insert(t.as_str())) {
            return Err(format!("`{dup}` is listed twice"));
        }
        Ok(Self {
            venue,
            symbols,
            url: None,
        })
    }
}

/// One `--ingest-url VENUE=URL` or `--ingest-rest-url VENUE=URL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VenueUrl {
    pub venue: Venue,
    pub url: String,
}

impl FromStr for VenueUrl {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (venue, url) = s
            .split_once('=')
            .ok_or_else(|| format!("`{s}`: give VENUE=URL (binance=ws://127.0.0.1:9500)"))?;
        let url = url.trim();
        if !["ws://", "wss://", "http://", "https://"]
            .iter()
            .any(|p| url.starts_with(p))
        {
            return Err(format!(
                "`{url}` is not a ws://, wss://, http:// or https:// URL"
            ));
        }
        Ok(Self {
            venue: venue.parse()?,
            url: url.trim_end_matches('/').to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_name_a_venue_and_its_symbols() {
        let spec: Spec = "binance:btcusdt, ETHUSDT"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(spec.venue, Venue::Binance);
        assert_eq!(spec.symbols, ["BTCUSDT", "ETHUSDT"]);
        let spec: Spec = "kraken:BTC/USD".parse().unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(spec.symbols, ["BTC/USD"]);
        for bad in [
            "nasdaq:AAPL",
            "binance",
            "binance:",
            "kraken:BTC/USD,BTC/USD",
            "coinbase:BTC USD",
        ] {
            assert!(bad.parse::<Spec>().is_err(), "{bad}");
        }
        let url: VenueUrl = "binance=ws://127.0.0.1:9500/"
            .parse()
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(url.url, "ws://127.0.0.1:9500");
        assert!("binance=127.0.0.1:9500".parse::<VenueUrl>().is_err());
    }
}
