//! A symbol's grid (tick and lot sizes) and what an adapter knows of each of its symbols.

use protocol::Decimal;

/// A symbol's grid: its tick and lot sizes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grid {
    pub tick: Decimal,
    pub lot: Decimal,
}

impl Grid {
    /// The finest grid any of the three venues uses, for a venue whose metadata is unknown.
    pub fn fallback() -> Self {
        Self {
            tick: Decimal::new(1, 8),
            lot: Decimal::new(1, 8),
        }
    }

    /// A price from the venue's text, in ticks.
    pub fn price(&self, text: &str) -> Result<i64, BadLevel> {
        let value = decimal(text)?;
        protocol::grid::units(value, self.tick).map_err(|e| {
            BadLevel(format!(
                "price `{text}` is not on the tick {} ({e:?})",
                self.tick
            ))
        })
    }

    /// An exact price in ticks.
    pub fn in_ticks(&self, price: Decimal) -> Result<i64, String> {
        protocol::grid::units(price, self.tick)
            .map_err(|e| format!("price {price} is not on the tick {} ({e:?})", self.tick))
    }

    /// An exact size in lots.
    pub fn in_lots(&self, size: Decimal) -> Result<i64, String> {
        protocol::grid::units(size, self.lot)
            .map_err(|e| format!("size {size} is not on the lot {} ({e:?})", self.lot))
    }

    /// A size from the venue's text, in lots.
    pub fn size(&self, text: &str) -> Result<i64, BadLevel> {
        let value = decimal(text)?;
        protocol::grid::units(value, self.lot).map_err(|e| {
            BadLevel(format!(
                "size `{text}` is not on the lot {} ({e:?})",
                self.lot
            ))
        })
    }
}

/// What an adapter knows of one of its symbols.
#[derive(Debug, Clone)]
pub struct Meta {
    /// The symbol's index in the server's universe.
    pub index: usize,
    /// The venue's name for it (`BTCUSDT`, `BTC-USD`, `BTC/USD`).
    pub venue_symbol: String,
    pub grid: Grid,
    /// The market's opening touch as the core makes it: bid, ask, size (the first book
    /// replaces it).
    pub opening: (i64, i64, i64),
}

impl Meta {
    pub fn opening(&self) -> (i64, i64, i64) {
        self.opening
    }
}

/// A level the venue sent that is not on the symbol's grid, or not a number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadLevel(pub String);

/// A decimal read from a venue's text, exactly.
pub fn decimal(text: &str) -> Result<Decimal, BadLevel> {
    let text = text.trim().trim_matches('"');
    protocol::decimal::parse(text)
        .or_else(|_| text.parse::<Decimal>().map_err(|e| e.to_string()))
        .or_else(|_| Decimal::from_scientific(text).map_err(|e| e.to_string()))
        .map_err(|e| BadLevel(format!("`{text}`: {e}")))
}
