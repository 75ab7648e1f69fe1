//! The Tickwire feed server: synthesized market data fanned out to many WebSocket clients, with
//! orders answered on the same socket.
//!
//! # Layout
//! - [`config`]: every setting (the `feed-server` command line).
//! - [`server`]: the accept loop with its connection limit and graceful shutdown, and handles to
//!   run a server in-process ([`spawn`], [`ThreadedServer`]).
//! - [`edge`]: the HTTP exchange of an accepted socket (hyper, over TCP or TLS): refusals with a
//!   status and a body, upgrades handed over as raw TCP with their TLS session; [`web`] answers
//!   the rest of the port: the browser client at `/`, `/healthz`, `/metrics`.
//! - [`tls`]: `--tls-cert`/`--tls-key` and `--tls-self-signed` (rustls, rcgen).
//! - [`auth`]: the order-entry token (`--order-token`), compared in constant time.
//! - [`metrics`]: the series `/metrics` exposes, counted per hub pass.
//! - [`handshake`]: the RFC 6455 handshake rules: path, method, version, key, Origin, subprotocol.
//! - [`connection`]: one task per client: reads its messages, finishes writes the socket could not
//!   take at once, watches for stalls, heartbeats, and completes the close handshake.
//! - [`outbox`]: a client socket's write side (and TLS session), shared by the hub (which writes
//!   to it directly) and the connection's task.
//! - [`session`]: what a connection does with each message: decode, rate-limit, answer or forward
//!   to the hub (or echo it, on `/echo`); [`rate`] is the token bucket behind the limits.
//! - [`hub`]: owns market state and subscriptions; encodes each event once per encoding in use
//!   and writes it to every subscriber; [`frames`] makes JSON or binary frame payloads.
//! - [`universe`], [`synth`], [`market`]: the instruments, the seeded random walk, per-symbol state.
//! - [`matching`]: the order simulator and per-connection order limits.
//! - [`bitset`]: symbol sets for subscriptions and conflation.
//! - [`shutdown`]: waits for SIGINT or SIGTERM.
//! - `drill`: the hub under arbitrary client scripts, for the fuzz target and a seeded test.

pub mod bitset;
pub mod config;
pub mod connection;
#[doc(hidden)]
pub mod drill;
pub mod edge;
pub mod event;
pub mod frames;
pub mod generate;
pub mod handshake;
pub mod hub;
pub mod import;
pub mod market;
pub mod matching;
pub mod metrics;
pub mod outbox;
pub mod pacer;
pub mod rate;
pub mod server;
pub mod session;
pub mod shutdown;
pub mod source;
pub mod synth;
pub mod tls;
pub mod universe;
pub mod web;

pub use config::{Config, SymbolChoice};
pub use server::{ServerError, ServerHandle, ThreadedServer, run, run_with, spawn};

/// The name this server gives in `hello`.
pub const SERVER_NAME: &str = "tickwire-feed-server";
