//! What the core tells an edge that joins: its epoch, its source and its instruments, as JSON
//! (once per join, so the bus's binary layouts are not needed for it).

use serde::{Deserialize, Serialize};

use crate::feed::universe::{Instrument, Universe};

/// What the core says to an edge that joins: enough to serve `hello` and build its view.
#[derive(Debug, Serialize, Deserialize)]
pub struct Hello {
    pub epoch: String,
    pub source: protocol::SourceInfo,
    pub instruments: Vec<InstrumentInfo>,
}

/// One instrument as edges need it.
#[derive(Debug, Serialize, Deserialize)]
pub struct InstrumentInfo {
    pub symbol: protocol::Symbol,
    #[serde(with = "protocol::decimal")]
    pub tick_size: protocol::Decimal,
    #[serde(with = "protocol::decimal")]
    pub lot_size: protocol::Decimal,
    pub reference_ticks: i64,
}

impl Hello {
    pub fn new(epoch: &str, source: &protocol::SourceInfo, universe: &Universe) -> Self {
        Self {
            epoch: epoch.to_owned(),
            source: source.clone(),
            instruments: universe
                .instruments
                .iter()
                .map(|i| InstrumentInfo {
                    symbol: i.symbol.clone(),
                    tick_size: i.tick_size,
                    lot_size: i.lot_size,
                    reference_ticks: i.reference_ticks,
                })
                .collect(),
        }
    }

    /// The universe the core serves.
    pub fn universe(&self) -> Result<Universe, String> {
        Universe::from_instruments(
            self.instruments
                .iter()
                .map(|i| Instrument {
                    symbol: i.symbol.clone(),
                    tick_size: i.tick_size,
                    lot_size: i.lot_size,
                    reference_ticks: i.reference_ticks,
                    sigma: 0.0,
                })
                .collect(),
        )
    }
}
