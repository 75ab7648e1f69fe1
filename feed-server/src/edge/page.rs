//! Plain HTTP on the feed port: the browser client, `/healthz` and `/metrics`.
//!
//! The client's files are compiled into the binary, so the server needs no files at run time and
//! always serves the page that matches its own protocol. Each answer carries an ETag and
//! `Cache-Control: no-cache`: a browser keeps its copy and revalidates it with one small request,
//! which a new server version answers with the new file.

use std::sync::OnceLock;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{HeaderMap, Method, Response, StatusCode, header};
use serde::Serialize;

use super::Edge;

/// One embedded file.
struct Asset {
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

/// An embedded file of `feed-server/web/`, served at `/NAME`.
macro_rules! asset {
    ($name:literal, $content_type:literal) => {
        Asset {
            path: concat!("/", $name),
            content_type: $content_type,
            body: include_bytes!(concat!("../../web/", $name)),
        }
    };
}

/// The browser client. `/` is `index.html`.
const ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("app.js", "text/javascript; charset=utf-8"),
    asset!("feed.js", "text/javascript; charset=utf-8"),
    asset!("binary.js", "text/javascript; charset=utf-8"),
    asset!("chart.js", "text/javascript; charset=utf-8"),
    asset!("depth.js", "text/javascript; charset=utf-8"),
    asset!("favicon.svg", "image/svg+xml"),
];

/// The page may talk to its own server and, through the URL field, to any other WebSocket feed.
const CSP: &str = "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; \
                   style-src 'self'; script-src 'self'; base-uri 'none'; frame-ancestors 'none'";

pub type Answer = Response<Full<Bytes>>;

/// The answer to a request for something other than a WebSocket, or `None` for a path that
/// is not served here.
pub fn answer(edge: &Edge, method: &Method, path: &str, headers: &HeaderMap) -> Option<Answer> {
    let known =
        matches!(path, "/" | "/healthz" | "/metrics") || ASSETS.iter().any(|a| a.path == path);
    if !known {
        return None;
    }
    if method != Method::GET && method != Method::HEAD {
        let mut response = text(
            StatusCode::METHOD_NOT_ALLOWED,
            &format!("{path} answers GET and HEAD only"),
        );
        set(&mut response, &[(header::ALLOW, "GET, HEAD")]);
        return Some(response);
    }
    let response = match path {
        "/healthz" => health(edge),
        "/metrics" => metrics(edge),
        "/" => asset(&ASSETS[0], 0, headers),
        _ => ASSETS
            .iter()
            .enumerate()
            .find(|(_, a)| a.path == path)
            .map(|(i, a)| asset(a, i, headers))?,
    };
    Some(if method == Method::HEAD {
        let (parts, _) = response.into_parts();
        Response::from_parts(parts, Full::new(Bytes::new()))
    } else {
        response
    })
}

/// A plain-text answer.
pub fn text(status: StatusCode, body: &str) -> Answer {
    let mut response = Response::new(Full::new(Bytes::from(format!("{body}\n"))));
    *response.status_mut() = status;
    set(
        &mut response,
        &[(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
    );
    response
}

/// Sets headers with fixed values.
pub fn set(response: &mut Answer, fixed: &[(header::HeaderName, &'static str)]) {
    let headers = response.headers_mut();
    for (name, value) in fixed {
        headers.insert(name.clone(), header::HeaderValue::from_static(value));
    }
}

/// What `/healthz` says.
#[derive(Debug, Serialize)]
struct Health<'a> {
    /// `ok`, `shutting_down` or `failed`.
    status: &'static str,
    uptime_s: f64,
    source: &'a protocol::SourceInfo,
    connections: usize,
    max_connections: usize,
    /// On an edge that follows a core over NATS: the bus as the edge sees it.
    #[serde(skip_serializing_if = "Option::is_none")]
    bus: Option<BusReport>,
    /// With `--ingest`: each venue's connection, messages, re-syncs, lag and staleness.
    #[serde(skip_serializing_if = "Option::is_none")]
    ingest: Option<Vec<crate::metrics::ingest::VenueReport>>,
}

/// `/healthz`'s `bus`: whether the bus and the core are there, and how far behind events arrive.
#[derive(Debug, Serialize)]
struct BusReport {
    connected: bool,
    core_alive: bool,
    /// While the bus or the core is away, what clients see is not moving: stale.
    source_stale: bool,
    /// From the last event's `ts_ns` to its arrival here.
    lag_ms: f64,
}

fn bus_report(bus: &crate::metrics::BusHealth) -> Option<BusReport> {
    use std::sync::atomic::Ordering::Relaxed;
    if !bus.enabled.load(Relaxed) {
        return None;
    }
    let (connected, core_alive) = (bus.connected.load(Relaxed), bus.core_alive.load(Relaxed));
    Some(BusReport {
        connected,
        core_alive,
        source_stale: !(connected && core_alive),
        lag_ms: (bus.lag_ns.load(Relaxed) as f64 / 1e4).round() / 100.0,
    })
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// 200 while the hub runs, 503 once the server is stopping or has failed, so a load balancer
/// stops sending clients to it.
fn health(edge: &Edge) -> Answer {
    let status = if edge.failed() {
        "failed"
    } else if edge.shutdown.is_stopping() {
        "shutting_down"
    } else {
        "ok"
    };
    let body = Health {
        status,
        uptime_s: (edge.metrics.uptime().as_secs_f64() * 1e3).round() / 1e3,
        source: &edge.context.source,
        connections: edge.connections(),
        max_connections: edge.settings.max_connections,
        bus: bus_report(&edge.metrics.bus),
        ingest: edge.metrics.ingest.report(now_ms()),
    };
    let json = serde_json::to_string(&body).unwrap_or_default();
    let mut response = Response::new(Full::new(Bytes::from(json + "\n")));
    if status != "ok" {
        *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    }
    set(
        &mut response,
        &[
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
    );
    response
}

fn metrics(edge: &Edge) -> Answer {
    let mut response = Response::new(Full::new(Bytes::from(edge.metrics.encode())));
    set(
        &mut response,
        &[
            (
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            ),
            (header::CACHE_CONTROL, "no-store"),
        ],
    );
    response
}

/// The ETag of each asset, from its bytes (FNV-1a: a cache key, not a security measure).
fn etag(index: usize) -> &'static str {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    let tags = TAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| {
                let hash = a.body.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, &b| {
                    (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
                });
                format!("\"{hash:016x}\"")
            })
            .collect()
    });
    tags.get(index).map_or("\"\"", String::as_str)
}

fn asset(asset: &Asset, index: usize, request: &HeaderMap) -> Answer {
    let tag = etag(index);
    let fresh = request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim() == tag || t.trim() == "*");
    let mut response = if fresh {
        let mut response = Response::new(Full::new(Bytes::new()));
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        response
    } else {
        Response::new(Full::new(Bytes::from_static(asset.body)))
    };
    set(
        &mut response,
        &[
            (header::CONTENT_TYPE, asset.content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::ETAG, tag),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CONTENT_SECURITY_POLICY, CSP),
        ],
    );
    response
}
