//! The Tickwire feed server: synthesized or replayed market data fanned out to many WebSocket
//! clients, with orders answered on the same socket.
//!
//! # Layout
//! ARCHITECTURE.md at the repository's root is the map; in short:
//! - `feed`: where events come from and when they are due: the sources (synthesizer, replay),
//!   the pacer thread, the universe of instruments.
//! - `market`: the core: per-symbol state and `seq`, the matching engine and its order ledger.
//! - `edge`: everything about clients: accept loop, HTTP and the page, RFC 6455, connection
//!   tasks, the message handler, outboxes, the fan-out pass.
//! - `hub`: the task that routes between them: events from the feed through the core to the
//!   fan-out, requests from connections to the fan-out and the core.
//! - `server`: assembles and supervises a server ([`run`], [`spawn`], [`ThreadedServer`]);
//!   [`config`] holds every flag and gives each part its settings; `metrics` the series
//!   `/metrics` shows; [`shutdown`] the signal and the stopping state.
//! - [`generate`] and [`import`]: the tools that write recordings.
//! - `drill` (feature `testing`): the hub under arbitrary client scripts, for the fuzz target.
//! - `bus_bodies` (feature `testing`): the NATS bus's event bodies, for `examples/bus_bodies`.
//!
//! Dependencies point one way: `feed` depends on none of the others, `market` on `feed`, `edge`
//! on `market` and `feed`, and only `hub`, `server` and `config` see all three.

pub(crate) mod bus;
#[cfg(feature = "testing")]
pub mod bus_bodies;
pub mod config;
#[cfg(any(test, feature = "testing"))]
pub mod drill;
pub(crate) mod edge;
pub(crate) mod feed;
pub mod generate;
pub(crate) mod hub;
pub mod import;
pub mod ingest;
pub(crate) mod market;
pub(crate) mod metrics;
pub(crate) mod recorder;
pub(crate) mod server;
pub mod shutdown;

pub(crate) mod bitset;
pub(crate) mod rate;

pub use bus::nats::{BusSettings, Subjects};
pub use config::Config;
pub use edge::handler::SERVER_NAME;
pub use edge::sockets::AcceptMode;
#[doc(hidden)]
pub use edge::tls::write_test_identity;
pub use edge::tls::{Identity, Tls};
pub use feed::{SymbolChoice, SynthArgs};
pub use server::cluster::{listen_edge, run_core, run_edge};
pub use server::{ServerError, ServerHandle, ThreadedServer, listen, run, run_with, spawn};
