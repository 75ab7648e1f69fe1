//! The Tickwire feed server: synthesized market data fanned out to many WebSocket clients, with
//! orders answered on the same socket.
//!
//! # Layout
//! - [`config`]: every setting (the `feed-server` command line).
//! - [`server`]: the accept loop with its connection limit and graceful shutdown, and handles to
//!   run a server in-process ([`spawn`], [`ThreadedServer`]).
//! - [`handshake`]: path, Origin, subprotocol and capacity checks on the WebSocket handshake.
//! - [`connection`]: one task per client: reads requests, writes queued frames, heartbeats.
//! - [`hub`]: owns market state and subscriptions; encodes each event once and fans it out.
//! - [`universe`], [`synth`], [`market`]: the instruments, the seeded random walk, per-symbol state.
//! - [`matching`]: the order simulator and per-connection order limits.
//! - [`bitset`]: symbol sets for subscriptions and conflation.
//! - [`shutdown`]: waits for SIGINT or SIGTERM.

pub mod bitset;
pub mod config;
pub mod connection;
pub mod handshake;
pub mod hub;
pub mod market;
pub mod matching;
pub mod server;
pub mod shutdown;
pub mod synth;
pub mod universe;

pub use config::{Config, SymbolChoice};
pub use server::{ServerHandle, ThreadedServer, run, spawn};

/// The name this server gives in `hello`.
pub const SERVER_NAME: &str = "tickwire-feed-server";
