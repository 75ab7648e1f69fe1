//! The Tickwire terminal: live quotes, order entry and latency percentiles in a TUI.
//!
//! # Layout
//! - [`app`]: the loop over terminal input, network events and the frame tick; the key map.
//! - [`action`]: every user intent.
//! - [`state`]: application state and the pure update functions (`apply`, `handle`), one module
//!   per concept (the overlay that has the keyboard, watchlist, named lists, orders, form,
//!   positions, alerts, status, latency view) and the starting state from the settings.
//! - [`net`]: the network task: connect, reconnect with backoff, decode; [`tls`]: trust for
//!   `wss://` (system roots and `--ca-cert`); [`wire`]: a connection's encoding (`--encoding`).
//! - [`record`]: `terminal record`, a live feed captured into a recording.
//! - [`bench`](mod@bench): `terminal bench`, the latency benchmark: subscribers, open-loop orders, reports.
//! - [`latency`]: session and 10-second latency histograms, message rates.
//! - [`ui`]: one module per pane, drawing from a borrowed state; [`theme`] holds the styles;
//!   [`format`](mod@format) writes numbers and durations for the screen and the bench's report.
//! - [`config`]: the TOML settings file; [`symbols`]: picking symbols from a server's list.

pub mod action;
pub mod app;
pub mod bench;
pub mod channels;
pub mod config;
pub mod format;
pub mod latency;
pub mod net;
pub mod record;
pub mod state;
pub mod symbols;
pub mod theme;
pub mod tls;
pub mod ui;
pub mod wire;
