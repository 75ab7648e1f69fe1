//! `terminal bench`: a latency benchmark for market data over WebSocket.
//!
//! Subscribers (`--clients`) receive the feed and record tick latency per event; orders go out
//! open loop at `--order-rate` on their own connections and thread, and their round trips are
//! measured from the scheduled send time. The feed comes from an in-process server (synthesizing
//! or replaying a recording, on its own runtime and threads) or from any server at `--url`.
//!
//! # Layout
//! - [`args`]: the flags; [`run`](mod@run): one run, from starting the server to what it measured;
//!   `assemble` turns that into the report; [`output`] writes it.
//! - `subscribers`: the subscriber connections and their tallies; `scan` reads frames cheaply.
//! - `orders`: the open-loop order schedule and its round trips.
//! - [`stats`]: percentiles and `.hgrm` files; [`plot`]: the latency-by-percentile picture.
//! - [`report`]: the report, its table, the verdict on what limited the run, and `--compare`.
//! - [`system`]: CPU per thread, memory, the fd limit and pinning, from the OS.

pub mod args;
mod assemble;
mod orders;
pub mod output;
pub mod plot;
pub mod report;
pub mod run;
mod scan;
pub mod stats;
mod subscribers;
pub mod system;

pub use args::BenchArgs;
pub use output::{compare, write_outputs};
pub use run::{Outcome, Phase, Progress, run};

/// The reason every bench connection closes with.
const DONE: &str = "benchmark done";

/// The tally behind `m`, even if a thread panicked holding it: counts are still counts.
fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}
