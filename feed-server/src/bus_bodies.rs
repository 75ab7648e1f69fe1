//! The bus's event body beside the protocol's JSON and binary encodings of the same event, for
//! `examples/bus_bodies` (feature `testing`): what CLUSTER.md's choice of body rests on.

use protocol::ServerMessage;

use crate::bus::nats::wire;
use crate::feed::event::MarketEvent;
use crate::feed::universe::Universe;
use crate::market::{Market, Sequenced};

/// A quote of the default universe's first symbol, as the core would sequence it.
pub fn sample_quote(seq: u64) -> (Sequenced, ServerMessage) {
    let universe = Universe::new(&crate::feed::SymbolChoice::Default, 1);
    let market = Market::new(universe.instruments[0].clone(), 0);
    let event = MarketEvent::Quote {
        symbol: 0,
        bid: 22_987,
        bid_size: 300,
        ask: 22_988,
        ask_size: 500,
    };
    let ts_ns = 1_764_000_000_000_000_000 + seq;
    let message = market.message(&event, seq, ts_ns);
    (
        Sequenced {
            symbol: 0,
            seq,
            ts_ns,
            event,
        },
        message,
    )
}

/// The universe's symbol ids, for the protocol's binary encoding.
pub fn ids() -> protocol::binary::SymbolIds {
    Universe::new(&crate::feed::SymbolChoice::Default, 1)
        .ids()
        .clone()
}

/// The bus's body of `event`.
pub fn encode(event: &Sequenced, out: &mut Vec<u8>) {
    wire::put_event(out, event);
}

/// Reads a body back; `None` if it cannot be read.
pub fn decode(body: &[u8]) -> Option<Sequenced> {
    wire::event(body, 20).ok()
}
