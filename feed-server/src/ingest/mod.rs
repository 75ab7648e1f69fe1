//! Live venues' public feeds as a server's source (`feed-server --ingest SPEC`).
//!
//! At start each venue's instrument metadata gives its symbols' tick and lot sizes and a
//! reference price ([`meta`]); the server's universe is their symbols as `VENUE:SYMBOL`. Then a
//! connection task per venue ([`link`]) keeps its WebSocket up and hands each message to the
//! venue's adapter ([`binance`], [`coinbase`], [`kraken_feed`]), which keeps the venue's books
//! exactly by the venue's own rules ([`book`]) and turns what changed into the same market
//! events a recording holds: quotes from the book's top, trades, level changes. The events go
//! straight to the hub, due when they arrived (no pacing: they are live).

pub mod adapter;
pub mod binance;
pub mod book;
pub mod coinbase;
pub mod grid;
pub mod kraken;
pub mod kraken_feed;
pub(crate) mod link;
pub mod meta;
pub mod rest;
pub mod spec;
pub mod stale;
pub mod tickwire;

use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use protocol::{SourceInfo, Symbol};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::feed::event::Due;
use crate::feed::universe::{Instrument, OPENING_SIZE, Universe};
use crate::metrics::ingest::IngestMetrics;
use adapter::Adapter;
pub use grid::{Grid, Meta};
pub use link::LinkSettings;
pub use spec::{Spec, Venue, VenueUrl};

/// The `--ingest` flags.
#[derive(Debug, Clone, Args)]
pub struct IngestArgs {
    /// Stream a venue's live public feed instead of synthesizing (repeatable):
    /// `binance:BTCUSDT,ETHUSDT` (spot), `coinbase:BTC-USD,ETH-USD` (Exchange),
    /// `kraken:BTC/USD,ETH/USD` (WebSocket v2). Symbols are served as `BINANCE:BTCUSDT`, with
    /// the venue's tick and lot sizes; at most 200 per venue.
    #[arg(
        long = "ingest",
        value_name = "SPEC",
        conflicts_with_all = ["replay", "rate", "seed", "symbols"]
    )]
    pub specs: Vec<Spec>,

    /// A venue's WebSocket base instead of its production one (repeatable), for a testnet, a
    /// proxy or a stand-in: `binance=ws://127.0.0.1:9500`.
    #[arg(long = "ingest-url", value_name = "VENUE=URL", requires = "specs")]
    pub ws_urls: Vec<VenueUrl>,

    /// A venue's REST base instead of its production one (repeatable):
    /// `binance=http://127.0.0.1:9501`.
    #[arg(long = "ingest-rest-url", value_name = "VENUE=URL", requires = "specs")]
    pub rest_urls: Vec<VenueUrl>,

    /// Book levels a side the server keeps of each venue's book (clients subscribe to at most
    /// 50 of them); the venue's deeper levels are followed but not served.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u64).range(1..=1_000))]
    pub ingest_depth: u64,

    /// A venue stream with no message (data, heartbeat or ping) for this long is reconnected,
    /// and shown stale in /healthz.
    #[arg(long, default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(1_000..=3_600_000))]
    pub ingest_silence_ms: u64,

    /// Longest wait between reconnection attempts to a venue (they start at 250 ms and double,
    /// with jitter).
    #[arg(long, default_value_t = 30_000, value_parser = clap::value_parser!(u64).range(250..=3_600_000))]
    pub ingest_backoff_max_ms: u64,

    /// Longest wait for a venue connection (TCP, TLS, WebSocket handshake) or a REST answer.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(100..=600_000))]
    pub ingest_timeout_ms: u64,

    /// Largest message (WebSocket message or REST body) accepted from a venue; a larger one
    /// drops the connection (Coinbase's full-depth snapshots of busy products are megabytes).
    #[arg(long, default_value_t = 16 * 1_048_576, value_parser = clap::value_parser!(u64).range(65_536..=1_073_741_824))]
    pub ingest_max_message_bytes: u64,

    /// How long start-up tries a venue's instrument metadata (tick and lot sizes); a venue
    /// still unreachable then is served on a 10^-8 grid, and its feed is tried on. A relayed
    /// Tickwire upstream is waited for however long it takes: its symbols are its own.
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(0..=600_000))]
    pub ingest_start_timeout_ms: u64,
}

impl Default for IngestArgs {
    fn default() -> Self {
        Self {
            specs: Vec::new(),
            ws_urls: Vec::new(),
            rest_urls: Vec::new(),
            ingest_depth: 50,
            ingest_silence_ms: 30_000,
            ingest_backoff_max_ms: 30_000,
            ingest_timeout_ms: 10_000,
            ingest_max_message_bytes: 16 * 1_048_576,
            ingest_start_timeout_ms: 20_000,
        }
    }
}

impl IngestArgs {
    /// Whether the server ingests instead of synthesizing or replaying.
    pub fn enabled(&self) -> bool {
        !self.specs.is_empty()
    }

    fn ws_url_of(&self, spec: &Spec) -> String {
        spec.url.clone().unwrap_or_else(|| self.ws_url(spec.venue))
    }

    fn ws_url(&self, venue: Venue) -> String {
        self.ws_urls
            .iter()
            .rev()
            .find(|u| u.venue == venue)
            .map_or_else(|| venue.default_ws().to_owned(), |u| u.url.clone())
    }

    fn rest_url(&self, venue: Venue) -> String {
        self.rest_urls
            .iter()
            .rev()
            .find(|u| u.venue == venue)
            .map_or_else(|| venue.default_rest().to_owned(), |u| u.url.clone())
    }

    pub fn link(&self) -> LinkSettings {
        LinkSettings {
            silence: Duration::from_millis(self.ingest_silence_ms),
            backoff_max: Duration::from_millis(self.ingest_backoff_max_ms),
            timeout: Duration::from_millis(self.ingest_timeout_ms),
            max_message_bytes: usize::try_from(self.ingest_max_message_bytes).unwrap_or(usize::MAX),
            ..LinkSettings::default()
        }
    }

    /// The specs with each venue once (later specs of a venue add their symbols).
    fn merged(&self) -> Result<Vec<Spec>, String> {
        let mut merged: Vec<Spec> = Vec::new();
        for spec in &self.specs {
            if spec.venue == Venue::Tickwire && merged.iter().any(|m| m.venue == Venue::Tickwire) {
                return Err("one tickwire: upstream at most".to_owned());
            }
            match merged.iter_mut().find(|m| m.venue == spec.venue) {
                Some(m) => {
                    for s in &spec.symbols {
                        if m.symbols.contains(s) {
                            return Err(format!("{}:{s} is named twice", spec.venue));
                        }
                        m.symbols.push(s.clone());
                    }
                }
                None => merged.push(spec.clone()),
            }
        }
        Ok(merged)
    }
}

/// A server's ingest, ready to run: its universe, what `hello` says, and the venues' adapters.
#[derive(Debug)]
pub(crate) struct Opened {
    pub universe: Universe,
    pub info: SourceInfo,
    pub live: Live,
}

/// The venues' connections, to start once the hub runs.
#[derive(Debug)]
pub(crate) struct Live {
    adapters: Vec<(&'static str, Box<dyn Adapter>, stale::VenueMark)>,
    settings: LinkSettings,
    /// Which symbols' venue stream is down.
    board: Arc<tokio::sync::watch::Sender<crate::bitset::BitSet>>,
}

impl Live {
    /// Watches which symbols' venue stream is down (all of them until their venue connects).
    pub fn stale(&self) -> tokio::sync::watch::Receiver<crate::bitset::BitSet> {
        self.board.subscribe()
    }

    /// Starts a connection task per venue on the current runtime.
    pub fn spawn(
        self,
        events: &mpsc::Sender<Vec<Due>>,
        metrics: &Arc<IngestMetrics>,
        shutdown: &CancellationToken,
    ) -> Vec<tokio::task::JoinHandle<()>> {
        let now_ms = link_now_ms();
        let causes: Vec<&'static str> = adapter::Resync::ALL.iter().map(|c| c.label()).collect();
        metrics.start(
            self.adapters.iter().map(|(v, ..)| *v).collect(),
            &causes,
            now_ms,
            u64::try_from(self.settings.silence.as_millis()).unwrap_or(u64::MAX),
        );
        self.adapters
            .into_iter()
            .map(|(venue, adapter, mark)| {
                tokio::spawn(link::run(
                    venue,
                    adapter,
                    mark,
                    self.settings.clone(),
                    events.clone(),
                    metrics.clone(),
                    shutdown.clone(),
                ))
            })
            .collect()
    }
}

fn link_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Reads each venue's metadata and builds the universe and the adapters. A venue whose
/// metadata cannot be had within `--ingest-start-timeout-ms` is served on [`Grid::fallback`];
/// a relayed upstream is waited for until shutdown (its symbols are unknown until it answers);
/// a symbol the venue says it does not list is an error.
pub(crate) async fn open(
    args: &IngestArgs,
    shutdown: &CancellationToken,
) -> Result<Opened, String> {
    let specs = args.merged()?;
    let settings = args.link();
    let deadline = Duration::from_millis(args.ingest_start_timeout_ms);
    let fetches = specs.iter().map(|spec| {
        let (ws, rest) = (args.ws_url_of(spec), args.rest_url(spec.venue));
        let settings = settings.clone();
        async move { meta::fetch_within(spec, &ws, &rest, &settings, deadline, shutdown).await }
    });
    let found = futures_util::future::join_all(fetches).await;
    let mut instruments = Vec::new();
    let mut per_venue = Vec::new();
    for (spec, found) in specs.iter().zip(found) {
        let listed = match found {
            Ok(listed) => listed,
            Err(meta::MetaError::Unknown(why)) => return Err(why),
            // Only on shutdown: an upstream is waited for.
            Err(meta::MetaError::Unreachable(why)) if spec.venue == Venue::Tickwire => {
                return Err(format!(
                    "the upstream {} never answered ({why})",
                    args.ws_url_of(spec)
                ));
            }
            Err(meta::MetaError::Unreachable(why)) => {
                tracing::warn!(
                    venue = %spec.venue,
                    "no instrument metadata within {} ms ({why}); serving its symbols on a 10^-8 grid and trying its feed on",
                    deadline.as_millis()
                );
                spec.symbols
                    .iter()
                    .map(|s| meta::Listed {
                        venue_symbol: s.clone(),
                        grid: Grid::fallback(),
                        reference: None,
                    })
                    .collect()
            }
        };
        let mut metas = Vec::new();
        for listed in listed {
            let reference_ticks = listed
                .reference
                .and_then(|r| {
                    protocol::grid::units(
                        r.round_dp_with_strategy(
                            listed.grid.tick.scale(),
                            rust_decimal::RoundingStrategy::MidpointNearestEven,
                        ),
                        listed.grid.tick,
                    )
                    .ok()
                })
                .unwrap_or(2);
            let instrument = Instrument {
                symbol: Symbol::from(
                    if spec.venue == Venue::Tickwire {
                        listed.venue_symbol.clone()
                    } else {
                        format!("{}:{}", spec.venue.prefix(), listed.venue_symbol)
                    }
                    .as_str(),
                ),
                tick_size: listed.grid.tick,
                lot_size: listed.grid.lot,
                reference_ticks,
                sigma: 0.0,
            };
            let (bid, ask) = instrument.opening_top();
            metas.push(Meta {
                index: instruments.len(),
                venue_symbol: listed.venue_symbol,
                grid: listed.grid,
                opening: (bid, ask, OPENING_SIZE),
            });
            instruments.push(instrument);
        }
        per_venue.push((spec, metas));
    }
    let universe = Universe::from_instruments(instruments)?;
    let depth = usize::try_from(args.ingest_depth).unwrap_or(50);
    let board = stale::board(universe.len());
    let adapters = per_venue
        .into_iter()
        .map(|(spec, metas)| {
            let venue = spec.venue;
            let mark = stale::mark(&board, metas.iter().map(|m| m.index).collect());
            let (ws, rest) = (args.ws_url_of(spec), args.rest_url(venue));
            let adapter: Box<dyn Adapter> = match venue {
                Venue::Tickwire => Box::new(tickwire::Tickwire::new(&ws, metas, depth)),
                Venue::Binance => Box::new(binance::Binance::new(&ws, &rest, metas, depth)),
                Venue::Coinbase => Box::new(coinbase::Coinbase::new(&ws, metas, depth)),
                Venue::Kraken => Box::new(kraken_feed::Kraken::new(&ws, metas, depth)),
            };
            (venue.key(), adapter, mark)
        })
        .collect();
    let info = SourceInfo {
        kind: "ingest".to_owned(),
        rate: None,
        seed: None,
        file: None,
        speed: None,
        looping: None,
        recording_start_ns: None,
        replay_start_ns: None,
        venues: Some(specs.iter().map(|s| s.venue.prefix().to_owned()).collect()),
    };
    Ok(Opened {
        universe,
        info,
        live: Live {
            adapters,
            settings,
            board,
        },
    })
}
