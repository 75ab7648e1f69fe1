//! What `/metrics` exposes, in the Prometheus text format.
//!
//! The hub counts a pass's deliveries, frames and bytes in plain integers and adds them to the
//! shared counters once per pass ([`Tally`]), so the fan-out pays for no atomic per client. Label
//! values come from fixed sets (close reasons, refusal reasons, reject codes), never from what a
//! client sends, so the number of series is bounded.

pub mod ingest;

use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

/// A label set of one fixed word.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Reason {
    pub reason: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Code {
    pub code: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Kind {
    pub kind: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct How {
    pub how: &'static str,
}

/// An edge of the server by its number (0 to `--edges` - 1).
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EdgeLabel {
    pub edge: u64,
}

/// Every series the server keeps, registered once.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    started: Instant,
    pub connections: Gauge,
    /// Connections open now, by edge.
    pub edge_connections: Family<EdgeLabel, Gauge>,
    pub connections_total: Counter,
    pub refused: Family<Reason, Counter>,
    pub closed: Family<Reason, Counter>,
    pub deliveries: Counter,
    frames: Family<Kind, Counter>,
    bytes: Family<Kind, Counter>,
    /// The `data` and `reply` series of `frames` and `bytes`, held so that counting takes no
    /// look-up in the families.
    data: Sent,
    reply: Sent,
    pub conflations: Counter,
    pub orders: Counter,
    pub cancels: Counter,
    pub acks: Counter,
    pub fills: Counter,
    pub canceled: Counter,
    pub rejects: Family<Code, Counter>,
    pub auth_failures: Counter,
    pub pass_seconds: Histogram,
    pub lateness_seconds: Histogram,
    /// Bytes the history holds (`--history-bytes`).
    pub history_bytes: Gauge,
    /// Bytes waiting in every client's outbox (`--max-buffered-bytes`).
    pub buffered_bytes: Gauge,
    pub resumes: Counter,
    /// Symbols of resuming subscribes: `recovered` from history, or given a `snapshot`.
    pub resumed_symbols: Family<How, Counter>,
    /// Events sent again from history.
    pub replayed: Counter,
    /// Messages published on or taken from the NATS bus (events, by the core; events, by an edge).
    pub bus_messages: Counter,
    /// Events the core did not publish while the bus was away.
    pub bus_dropped: Counter,
    /// `seq` gaps an edge found on the bus: `repaired` from the core's history, or `restored`
    /// from its state (subscribers got a snapshot).
    pub bus_gaps: Family<How, Counter>,
    /// Order and cancel round trips from an edge to the core over the bus.
    pub bus_round_trip: Histogram,
    /// 1 while the edge is connected to the bus, 0 while not.
    pub bus_connected: Gauge,
    /// What `/healthz` says of the bus, on an edge that follows a core over NATS.
    pub bus: BusHealth,
    /// Each ingested venue's series (`--ingest`).
    pub ingest: std::sync::Arc<ingest::IngestMetrics>,
}

/// An edge's bus as `/healthz` reports it.
#[derive(Debug, Default)]
pub struct BusHealth {
    /// This edge follows a core over the bus.
    pub enabled: std::sync::atomic::AtomicBool,
    pub connected: std::sync::atomic::AtomicBool,
    /// The core's heartbeat arrived within the last few beats.
    pub core_alive: std::sync::atomic::AtomicBool,
    /// From an event's `ts_ns` to its arrival at this edge, for the last event.
    pub lag_ns: std::sync::atomic::AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("tickwire");
        let metrics = Self {
            registry: Registry::default(),
            started: Instant::now(),
            connections: Gauge::default(),
            edge_connections: Family::default(),
            connections_total: Counter::default(),
            refused: Family::default(),
            closed: Family::default(),
            deliveries: Counter::default(),
            frames: Family::default(),
            bytes: Family::default(),
            data: Sent::default(),
            reply: Sent::default(),
            conflations: Counter::default(),
            orders: Counter::default(),
            cancels: Counter::default(),
            acks: Counter::default(),
            fills: Counter::default(),
            canceled: Counter::default(),
            rejects: Family::default(),
            auth_failures: Counter::default(),
            // 10 us to about 5 s.
            pass_seconds: Histogram::new(exponential_buckets(10e-6, 2.5, 15)),
            lateness_seconds: Histogram::new(exponential_buckets(1e-6, 2.5, 18)),
            history_bytes: Gauge::default(),
            buffered_bytes: Gauge::default(),
            resumes: Counter::default(),
            resumed_symbols: Family::default(),
            replayed: Counter::default(),
            bus_messages: Counter::default(),
            bus_dropped: Counter::default(),
            bus_gaps: Family::default(),
            // 20 us to about 2.5 s.
            bus_round_trip: Histogram::new(exponential_buckets(20e-6, 2.5, 14)),
            bus_connected: Gauge::default(),
            bus: BusHealth::default(),
            ingest: std::sync::Arc::default(),
        };
        metrics.ingest.register(&mut registry);
        registry.register(
            "connections",
            "WebSocket connections open now",
            metrics.connections.clone(),
        );
        registry.register(
            "edge_connections",
            "WebSocket connections open now, by edge (--edges)",
            metrics.edge_connections.clone(),
        );
        registry.register(
            "bus_messages",
            "Events published on the NATS bus (core) or taken from it (edge)",
            metrics.bus_messages.clone(),
        );
        registry.register(
            "bus_dropped",
            "Events the core did not publish while the bus was away",
            metrics.bus_dropped.clone(),
        );
        registry.register(
            "bus_gaps",
            "seq gaps an edge found on the bus, by how they were mended (repaired from history, restored from state)",
            metrics.bus_gaps.clone(),
        );
        registry.register_with_unit(
            "bus_order_round_trip",
            "Order and cancel round trips from an edge to the core over the bus",
            Unit::Seconds,
            metrics.bus_round_trip.clone(),
        );
        registry.register(
            "bus_connected",
            "1 while connected to the NATS bus",
            metrics.bus_connected.clone(),
        );
        registry.register(
            "connections_accepted",
            "WebSocket handshakes accepted",
            metrics.connections_total.clone(),
        );
        registry.register(
            "connections_refused",
            "Connections refused before or during the handshake, by reason",
            metrics.refused.clone(),
        );
        registry.register(
            "clients_closed",
            "WebSocket connections ended, by reason",
            metrics.closed.clone(),
        );
        registry.register(
            "deliveries",
            "Quotes and trades delivered, counted once per client",
            metrics.deliveries.clone(),
        );
        registry.register(
            "frames_sent",
            "Frames the hub sent: market data (events and snapshots) or order replies",
            metrics.frames.clone(),
        );
        registry.register_with_unit(
            "sent",
            "Payload bytes of the frames the hub sent",
            Unit::Bytes,
            metrics.bytes.clone(),
        );
        registry.register(
            "conflation_episodes",
            "Times a client fell behind and was switched to conflation",
            metrics.conflations.clone(),
        );
        registry.register(
            "orders",
            "Orders received from clients",
            metrics.orders.clone(),
        );
        registry.register(
            "cancels",
            "Cancels received from clients",
            metrics.cancels.clone(),
        );
        registry.register("acks", "Orders acknowledged", metrics.acks.clone());
        registry.register("fills", "Fills sent", metrics.fills.clone());
        registry.register(
            "canceled",
            "Resting orders canceled at a client's request",
            metrics.canceled.clone(),
        );
        registry.register(
            "rejects",
            "Orders and cancels rejected, by code",
            metrics.rejects.clone(),
        );
        registry.register(
            "auth_failures",
            "auth messages with a wrong token",
            metrics.auth_failures.clone(),
        );
        registry.register_with_unit(
            "hub_pass_duration",
            "How long the hub took to deliver one pass to every client",
            Unit::Seconds,
            metrics.pass_seconds.clone(),
        );
        registry.register_with_unit(
            "pacing_lateness",
            "How late events left the pacer against their due time",
            Unit::Seconds,
            metrics.lateness_seconds.clone(),
        );
        registry.register_with_unit(
            "history",
            "Bytes of recent events held for clients that resume (--history-bytes)",
            Unit::Bytes,
            metrics.history_bytes.clone(),
        );
        registry.register_with_unit(
            "buffered",
            "Bytes waiting to be sent to clients, all outboxes together (--max-buffered-bytes)",
            Unit::Bytes,
            metrics.buffered_bytes.clone(),
        );
        registry.register(
            "resumes",
            "Subscribes that asked to resume",
            metrics.resumes.clone(),
        );
        registry.register(
            "resumed_symbols",
            "Symbols of resuming subscribes, recovered from history or given a snapshot; books recovered (book_recovered) or sent whole (book_snapshot)",
            metrics.resumed_symbols.clone(),
        );
        registry.register(
            "replayed_events",
            "Events sent again from history to resuming clients",
            metrics.replayed.clone(),
        );
        // Both kinds show from the start, at zero, rather than appearing with the first frame.
        let sent = |kind| Sent {
            frames: metrics.frames.get_or_create_owned(&Kind { kind }),
            bytes: metrics.bytes.get_or_create_owned(&Kind { kind }),
        };
        let (data, reply) = (sent("data"), sent("reply"));
        Self {
            registry,
            data,
            reply,
            ..metrics
        }
    }

    /// The uptime of this server.
    pub fn uptime(&self) -> Duration {
        self.started.elapsed()
    }

    /// The text exposition of every series.
    pub fn encode(&self) -> String {
        let mut text = String::with_capacity(8 * 1024);
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }

    /// Adds what one pass counted.
    pub fn add(&self, tally: &Tally) {
        if tally.deliveries > 0 {
            self.deliveries.inc_by(tally.deliveries);
        }
        if tally.data_frames > 0 {
            self.data.frames.inc_by(tally.data_frames);
            self.data.bytes.inc_by(tally.data_bytes);
        }
        if tally.conflations > 0 {
            self.conflations.inc_by(tally.conflations);
        }
        if tally.replayed > 0 {
            self.replayed.inc_by(tally.replayed);
        }
    }

    /// An order reply of `bytes` went out.
    pub fn replied(&self, bytes: usize) {
        self.reply.frames.inc();
        self.reply.bytes.inc_by(bytes as u64);
    }

    pub fn refused(&self, reason: &'static str) {
        self.refused.get_or_create(&Reason { reason }).inc();
    }

    pub fn closed(&self, reason: &'static str) {
        self.closed.get_or_create(&Reason { reason }).inc();
    }

    pub fn rejected(&self, code: protocol::RejectCode) {
        self.rejects
            .get_or_create(&Code {
                code: code.as_str(),
            })
            .inc();
    }

    /// Counts an answer to an order or a cancel by what it says, where it is made.
    pub fn answered(&self, message: &protocol::ServerMessage) {
        use protocol::ServerMessage;
        match message {
            ServerMessage::Ack(_) => {
                self.acks.inc();
            }
            ServerMessage::Fill(_) => {
                self.fills.inc();
            }
            ServerMessage::Canceled(_) => {
                self.canceled.inc();
            }
            ServerMessage::Reject(r) => self.rejected(r.code),
            _ => {}
        }
    }
}

/// A frame counter and a byte counter of one kind.
#[derive(Debug, Default)]
struct Sent {
    frames: Counter,
    bytes: Counter,
}

/// What the hub sent in one pass, added to [`Metrics`] at its end.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    pub deliveries: u64,
    pub data_frames: u64,
    pub data_bytes: u64,
    pub conflations: u64,
    pub replayed: u64,
}

impl Tally {
    pub fn data(&mut self, events: usize, bytes: usize) {
        self.deliveries += events as u64;
        self.data_frames += 1;
        self.data_bytes += bytes as u64;
    }

    /// A frame of `events` sent again from history.
    pub fn replayed(&mut self, events: usize, bytes: usize) {
        self.data(events, bytes);
        self.replayed += events as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_carries_every_family_with_its_labels() {
        let metrics = Metrics::new();
        let mut tally = Tally::default();
        tally.data(3, 120);
        metrics.add(&tally);
        metrics.replied(40);
        metrics.closed("policy");
        metrics.rejected(protocol::RejectCode::Unauthorized);
        metrics.pass_seconds.observe(0.000_2);
        let text = metrics.encode();
        for line in [
            "tickwire_deliveries_total 3",
            "tickwire_frames_sent_total{kind=\"data\"} 1",
            "tickwire_sent_bytes_total{kind=\"reply\"} 40",
            "tickwire_clients_closed_total{reason=\"policy\"} 1",
            "tickwire_rejects_total{code=\"unauthorized\"} 1",
            "tickwire_hub_pass_duration_seconds_count 1",
            "# TYPE tickwire_pacing_lateness_seconds histogram",
            "# EOF",
        ] {
            assert!(text.lines().any(|l| l == line), "no `{line}` in\n{text}");
        }
    }
}
