//! What `/metrics` and `/healthz` say of each ingested venue: connected, messages, re-syncs by
//! cause, reconnects, the venue-to-ingest lag and the age of the last message. The connection
//! tasks count into these series; `/healthz` reads the same ones, so the two never disagree.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};
use serde::Serialize;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VenueLabel {
    pub venue: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct VenueCause {
    pub venue: &'static str,
    pub cause: &'static str,
}

fn lag_histogram() -> Histogram {
    // 100 us to about 60 s.
    Histogram::new(exponential_buckets(100e-6, 2.5, 15))
}

/// Every venue's series.
#[derive(Debug)]
pub struct IngestMetrics {
    venues: OnceLock<Vec<&'static str>>,
    /// The re-sync causes, as the ingest names them (`gap`, `checksum`, ...).
    causes: OnceLock<Vec<&'static str>>,
    pub connected: Family<VenueLabel, Gauge>,
    pub messages: Family<VenueLabel, Counter>,
    /// Messages the adapter could not read (logged, skipped).
    pub unreadable: Family<VenueLabel, Counter>,
    pub reconnects: Family<VenueLabel, Counter>,
    pub resyncs: Family<VenueCause, Counter>,
    pub lag: Family<VenueLabel, Histogram, fn() -> Histogram>,
    /// When the last message arrived, ms since the Unix epoch.
    pub last_message_ms: Family<VenueLabel, Gauge>,
    /// The last message's lag, for `/healthz`.
    last_lag_us: Family<VenueLabel, Gauge>,
    started_ms: AtomicU64,
    stale_after_ms: AtomicU64,
}

impl Default for IngestMetrics {
    fn default() -> Self {
        Self {
            venues: OnceLock::new(),
            causes: OnceLock::new(),
            connected: Family::default(),
            messages: Family::default(),
            unreadable: Family::default(),
            reconnects: Family::default(),
            resyncs: Family::default(),
            lag: Family::new_with_constructor(lag_histogram),
            last_message_ms: Family::default(),
            last_lag_us: Family::default(),
            started_ms: AtomicU64::new(0),
            stale_after_ms: AtomicU64::new(u64::MAX),
        }
    }
}

/// One venue in `/healthz`.
#[derive(Debug, Serialize)]
pub struct VenueReport {
    pub venue: &'static str,
    pub connected: bool,
    /// No message for longer than the watchdog allows, or none yet.
    pub stale: bool,
    pub messages: u64,
    pub reconnects: u64,
    /// Re-syncs by cause.
    pub resyncs: std::collections::BTreeMap<&'static str, u64>,
    /// From the venue's timestamp of the last message that had one to its arrival here.
    pub lag_ms: f64,
    /// Since the last message arrived (or since start, before the first).
    pub last_message_age_ms: u64,
}

impl IngestMetrics {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "ingest_connected",
            "1 while the venue's WebSocket is connected, 0 while not",
            self.connected.clone(),
        );
        registry.register(
            "ingest_messages",
            "Messages received from the venue",
            self.messages.clone(),
        );
        registry.register(
            "ingest_unreadable",
            "Venue messages that could not be read (logged and skipped)",
            self.unreadable.clone(),
        );
        registry.register(
            "ingest_reconnects",
            "Reconnections to the venue (after a close, an error or a silent stream)",
            self.reconnects.clone(),
        );
        registry.register(
            "ingest_resyncs",
            "Books fetched or subscribed again, by cause (gap, checksum, cross_check, snapshot, overflow)",
            self.resyncs.clone(),
        );
        registry.register_with_unit(
            "ingest_lag",
            "From the venue's timestamp of a message to its arrival at the ingest",
            Unit::Seconds,
            self.lag.clone(),
        );
        registry.register(
            "ingest_last_message_timestamp_ms",
            "When the venue's last message arrived, ms since the Unix epoch",
            self.last_message_ms.clone(),
        );
    }

    /// Names the venues this server ingests (once, at start) and shows their series at zero.
    /// A venue silent for `stale_after_ms` is reported stale.
    pub fn start(
        &self,
        venues: Vec<&'static str>,
        causes: &[&'static str],
        now_ms: u64,
        stale_after_ms: u64,
    ) {
        for &venue in &venues {
            let label = VenueLabel { venue };
            self.connected.get_or_create(&label).set(0);
            let _ = self.messages.get_or_create(&label);
            let _ = self.reconnects.get_or_create(&label);
            for &cause in causes {
                let _ = self.resyncs.get_or_create(&VenueCause { venue, cause });
            }
        }
        self.started_ms.store(now_ms, Ordering::Relaxed);
        self.stale_after_ms.store(stale_after_ms, Ordering::Relaxed);
        let _ = self.venues.set(venues);
        let _ = self.causes.set(causes.to_vec());
    }

    /// Counts a message that arrived at `now_ms`, with its venue lag if it had a timestamp.
    pub fn message(&self, venue: &'static str, now_ms: u64, lag_ns: Option<u64>) {
        let label = VenueLabel { venue };
        self.messages.get_or_create(&label).inc();
        self.last_message_ms
            .get_or_create(&label)
            .set(i64::try_from(now_ms).unwrap_or(i64::MAX));
        if let Some(lag) = lag_ns {
            self.lag.get_or_create(&label).observe(lag as f64 / 1e9);
            self.last_lag_us
                .get_or_create(&label)
                .set(i64::try_from(lag / 1_000).unwrap_or(i64::MAX));
        }
    }

    pub fn resync(&self, venue: &'static str, cause: &'static str) {
        self.resyncs
            .get_or_create(&VenueCause { venue, cause })
            .inc();
    }

    /// Every venue's state for `/healthz`, or `None` when the server ingests nothing.
    pub fn report(&self, now_ms: u64) -> Option<Vec<VenueReport>> {
        let venues = self.venues.get()?;
        let stale_after_ms = self.stale_after_ms.load(Ordering::Relaxed);
        let causes = self.causes.get().map_or(&[][..], Vec::as_slice);
        let started = self.started_ms.load(Ordering::Relaxed);
        Some(
            venues
                .iter()
                .map(|&venue| {
                    let label = VenueLabel { venue };
                    let last = self.last_message_ms.get_or_create(&label).get();
                    let since = u64::try_from(last)
                        .ok()
                        .filter(|&l| l > 0)
                        .unwrap_or(started);
                    let age = now_ms.saturating_sub(since);
                    let connected = self.connected.get_or_create(&label).get() > 0;
                    VenueReport {
                        venue,
                        connected,
                        stale: !connected || last <= 0 || age > stale_after_ms,
                        messages: self.messages.get_or_create(&label).get(),
                        reconnects: self.reconnects.get_or_create(&label).get(),
                        resyncs: causes
                            .iter()
                            .map(|&cause| {
                                let n = self
                                    .resyncs
                                    .get_or_create(&VenueCause { venue, cause })
                                    .get();
                                (cause, n)
                            })
                            .collect(),
                        lag_ms: self.last_lag_us.get_or_create(&label).get() as f64 / 1e3,
                        last_message_age_ms: age,
                    }
                })
                .collect(),
        )
    }
}
