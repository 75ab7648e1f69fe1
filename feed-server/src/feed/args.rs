//! The synthesizer's flags (`--symbols`, `--rate`, `--seed`), shared by the server and
//! `feed-server generate`, which writes what a server with the same flags streams.

use std::str::FromStr;

use clap::Args;

/// Which symbols to serve: a list of tickers, or a count of generated ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SymbolChoice {
    /// The 20 default US large caps.
    Default,
    /// These tickers; well-known ones get their usual price, others a generated one.
    List(Vec<String>),
    /// N generated symbols (`S0001`, `S0002`, ...).
    Generated(usize),
}

impl FromStr for SymbolChoice {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if let Ok(n) = s.parse::<usize>() {
            return if (1..=100_000).contains(&n) {
                Ok(Self::Generated(n))
            } else {
                Err(format!("symbol count {n} is out of range 1..=100000"))
            };
        }
        let list: Vec<String> = s
            .split(',')
            .map(|t| t.trim().to_ascii_uppercase())
            .filter(|t| !t.is_empty())
            .collect();
        if list.is_empty() {
            return Err("give a comma-separated list of symbols or a count".to_owned());
        }
        if let Some(why) = list.iter().find_map(|t| protocol::check_symbol(t).err()) {
            return Err(why);
        }
        let mut seen = std::collections::HashSet::new();
        if let Some(dup) = list.iter().find(|t| !seen.insert(t.as_str())) {
            return Err(format!("`{dup}` is listed twice"));
        }
        Ok(Self::List(list))
    }
}

/// What a synthesized feed plays: which symbols, how fast, from which seed.
#[derive(Debug, Clone, PartialEq, Eq, Args)]
pub struct SynthArgs {
    /// Symbols to serve: a list (`AAPL,MSFT`) or a count of generated symbols (`500`).
    /// Default: 20 well-known US tickers.
    #[arg(long, default_value = "default", value_parser = parse_symbols)]
    pub symbols: SymbolChoice,

    /// Events (quotes and trades) per second, all symbols together, spread evenly in time.
    #[arg(long, default_value_t = 2_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub rate: u64,

    /// Order-book changes per second, all symbols together, besides `--rate`: levels behind
    /// the touch that appear, grow, shrink and vanish (each a `book_update` to the book's
    /// subscribers); trades also take their size from the touch. 0 keeps only the touch that
    /// quotes set. Each symbol's book opens 50 levels
    /// deep a side (for up to 2,000 symbols).
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(0..=10_000_000))]
    pub book_rate: u64,

    /// Random seed: the same seed gives the same sequence of events.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

impl Default for SynthArgs {
    fn default() -> Self {
        Self {
            symbols: SymbolChoice::Default,
            rate: 2_000,
            book_rate: 1_000,
            seed: 1,
        }
    }
}

fn parse_symbols(s: &str) -> Result<SymbolChoice, String> {
    if s == "default" {
        Ok(SymbolChoice::Default)
    } else {
        s.parse()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symbols_parse_as_a_list_or_a_count() {
        assert_eq!(
            "aapl, MSFT".parse(),
            Ok(SymbolChoice::List(vec!["AAPL".into(), "MSFT".into()]))
        );
        assert_eq!("50".parse(), Ok(SymbolChoice::Generated(50)));
        assert!("0".parse::<SymbolChoice>().is_err());
        assert!("A,A".parse::<SymbolChoice>().is_err());
        assert!("A B".parse::<SymbolChoice>().is_err());
        assert!(",".parse::<SymbolChoice>().is_err());
    }
}
