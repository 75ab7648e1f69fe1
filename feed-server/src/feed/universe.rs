//! The instruments a server streams: their symbols, tick sizes, starting prices and volatility.

use protocol::binary::SymbolIds;
use std::collections::HashMap;

use protocol::{ALL_SYMBOLS, Decimal, Symbol};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use super::args::SymbolChoice;
use crate::bitset::BitSet;

/// One tradable instrument and how its synthetic price behaves.
#[derive(Debug, Clone)]
pub struct Instrument {
    pub symbol: Symbol,
    /// The price grid; quotes, trades and order prices are multiples of it.
    pub tick_size: Decimal,
    /// The size grid; sizes and order quantities are multiples of it (1 for shares).
    pub lot_size: Decimal,
    /// Previous close, in ticks: where the walk starts and what it reverts to.
    pub reference_ticks: i64,
    /// Standard deviation of the log mid price per quote event.
    pub sigma: f64,
}

/// Lots on each side of a market's touch before its first event.
pub const OPENING_SIZE: i64 = 100;

impl Instrument {
    /// The best bid and ask before any event, in ticks: one tick apart at the reference price.
    pub fn opening_top(&self) -> (i64, i64) {
        let ask = self.reference_ticks.max(2);
        (ask - 1, ask)
    }
}

/// The 20 default tickers with typical prices in cents (US equities trade on a one-cent grid).
const DEFAULT_UNIVERSE: &[(&str, i64)] = &[
    ("AAPL", 22987),
    ("MSFT", 41700),
    ("NVDA", 14195),
    ("AMZN", 19712),
    ("GOOGL", 16476),
    ("META", 55914),
    ("TSLA", 33964),
    ("BRK.B", 47293),
    ("JPM", 24855),
    ("V", 31097),
    ("UNH", 59809),
    ("XOM", 12176),
    ("JNJ", 15543),
    ("WMT", 8949),
    ("MA", 52031),
    ("PG", 17638),
    ("HD", 41871),
    ("KO", 6372),
    ("AMD", 13820),
    ("NFLX", 89779),
];

/// What a subscribe or unsubscribe names: the served symbols, and the names that are not served.
#[derive(Debug)]
pub struct Selection {
    /// Each served symbol once, however often it was named; every symbol for `*`.
    pub known: BitSet,
    /// The first distinct names not served, at most as many as asked for.
    pub unknown: Vec<Symbol>,
    /// How many names were not served in all.
    pub unknown_count: usize,
}

/// All instruments of a server, with a symbol index for lookups.
#[derive(Debug)]
pub struct Universe {
    pub instruments: Vec<Instrument>,
    index: HashMap<Symbol, usize>,
    /// The symbols in order: a symbol's binary id is its position (`hello` lists them so).
    names: Vec<Symbol>,
    ids: SymbolIds,
}

impl Universe {
    /// Builds the universe for a symbol choice; generated prices depend only on `seed`.
    pub fn new(choice: &SymbolChoice, seed: u64) -> Self {
        let mut rng = SmallRng::seed_from_u64(seed ^ 0x5eed_u64);
        let cent = Decimal::new(1, 2);
        let mut make = |symbol: &str, known_cents: Option<i64>| Instrument {
            symbol: Symbol::from(symbol),
            tick_size: cent,
            lot_size: Decimal::ONE,
            reference_ticks: known_cents.unwrap_or_else(|| rng.random_range(1_000..=60_000)),
            sigma: rng.random_range(0.00008..0.00025),
        };
        let instruments: Vec<Instrument> = match choice {
            SymbolChoice::Default => DEFAULT_UNIVERSE
                .iter()
                .map(|&(s, cents)| make(s, Some(cents)))
                .collect(),
            SymbolChoice::List(list) => list
                .iter()
                .map(|s| {
                    make(
                        s,
                        DEFAULT_UNIVERSE
                            .iter()
                            .find(|(d, _)| d == s)
                            .map(|&(_, cents)| cents),
                    )
                })
                .collect(),
            SymbolChoice::Generated(n) => {
                (1..=*n).map(|i| make(&format!("S{i:04}"), None)).collect()
            }
        };
        let index = instruments
            .iter()
            .enumerate()
            .map(|(i, inst)| (inst.symbol.clone(), i))
            .collect();
        Self::assemble(instruments, index)
    }

    fn assemble(instruments: Vec<Instrument>, index: HashMap<Symbol, usize>) -> Self {
        let names: Vec<Symbol> = instruments.iter().map(|i| i.symbol.clone()).collect();
        let ids = SymbolIds::new(&names);
        Self {
            instruments,
            index,
            names,
            ids,
        }
    }

    /// The symbols by binary id.
    pub fn names(&self) -> &[Symbol] {
        &self.names
    }

    /// The binary ids by symbol.
    pub fn ids(&self) -> &SymbolIds {
        &self.ids
    }

    /// A universe of given instruments, such as a recording's; a symbol listed twice is an error.
    pub fn from_instruments(instruments: Vec<Instrument>) -> Result<Self, String> {
        let mut index = HashMap::with_capacity(instruments.len());
        for (i, inst) in instruments.iter().enumerate() {
            if index.insert(inst.symbol.clone(), i).is_some() {
                return Err(format!("symbol `{}` is listed twice", inst.symbol));
            }
        }
        Ok(Self::assemble(instruments, index))
    }

    pub fn len(&self) -> usize {
        self.instruments.len()
    }

    /// The index of a symbol, if served.
    pub fn find(&self, symbol: &str) -> Option<usize> {
        self.index.get(symbol).copied()
    }

    /// The symbols `names` selects; `*` selects every one. Keeps at most `max_unknown` of the names
    /// not served, so a reply naming them stays bounded whatever the request holds.
    pub fn select(&self, names: &[Symbol], max_unknown: usize) -> Selection {
        let mut selection = Selection {
            known: BitSet::new(self.len()),
            unknown: Vec::new(),
            unknown_count: 0,
        };
        if names.iter().any(|s| s == ALL_SYMBOLS) {
            selection.known.insert_all();
            return selection;
        }
        for name in names {
            if let Some(i) = self.find(name) {
                selection.known.insert(i);
            } else {
                selection.unknown_count += 1;
                if selection.unknown.len() < max_unknown && !selection.unknown.contains(name) {
                    selection.unknown.push(name.clone());
                }
            }
        }
        selection
    }

    pub fn symbols(&self) -> impl Iterator<Item = &Symbol> {
        self.instruments.iter().map(|i| &i.symbol)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_universe_has_twenty_known_tickers_on_a_cent_grid() {
        let u = Universe::new(&SymbolChoice::Default, 1);
        assert_eq!(u.len(), 20);
        assert_eq!(u.find("AAPL"), Some(0));
        assert_eq!(u.instruments[0].reference_ticks, 22_987);
        assert!(
            u.instruments
                .iter()
                .all(|i| i.tick_size == Decimal::new(1, 2))
        );
    }

    #[test]
    fn a_selection_counts_each_symbol_once_and_bounds_the_unknown_names() {
        let u = Universe::new(&SymbolChoice::Default, 1);
        let names: Vec<Symbol> = ["AAPL", "AAPL", "ZZ1", "ZZ2", "ZZ2", "ZZ3", "MSFT"]
            .into_iter()
            .map(Symbol::from)
            .collect();
        let s = u.select(&names, 2);
        assert_eq!(s.known.iter().collect::<Vec<_>>(), [0, 1]);
        assert_eq!(
            (s.unknown, s.unknown_count),
            (vec!["ZZ1".into(), "ZZ2".into()], 4)
        );
        let all = u.select(&["*".into(), "NOPE".into()], 2);
        assert_eq!((all.known.len(), all.unknown_count), (20, 0));
    }

    #[test]
    fn generated_symbols_are_numbered_and_seeded() {
        let a = Universe::new(&SymbolChoice::Generated(3), 9);
        let b = Universe::new(&SymbolChoice::Generated(3), 9);
        assert_eq!(
            a.symbols().cloned().collect::<Vec<_>>(),
            ["S0001", "S0002", "S0003"]
        );
        assert_eq!(
            a.instruments[2].reference_ticks,
            b.instruments[2].reference_ticks
        );
    }
}
