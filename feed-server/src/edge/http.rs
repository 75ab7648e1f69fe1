//! The HTTP exchange of one accepted socket (plain TCP or TLS): parses the request with hyper,
//! serves the page, `/healthz` and `/metrics` ([`super::page`]), answers refusals with an HTTP
//! status and a body, and hands an accepted WebSocket upgrade over as a raw TCP stream (with its
//! TLS session).
//!
//! hyper answers what is not HTTP at all (garbage, oversized heads, too many headers) with 400 or
//! 431 by itself; [`super::handshake::admit`] decides the rest. Every answer but 101 says
//! `Connection: close` and closes the socket. A connection slot is taken only once the handshake
//! is otherwise valid, so sockets that idle in their handshake cannot lock real clients out; those
//! are bounded by `--max-handshakes` and `--handshake-timeout-ms` instead.

use std::convert::Infallible;
use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::upgrade::OnUpgrade;
use hyper::{Request, Response, StatusCode, header};
use hyper_util::rt::TokioIo;
use rustls::ServerConnection;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::Role;

use super::handshake::{self, Admission, Endpoint, Head, Refusal};
use super::outbox::Outbox;
use super::outbox::wire::Wire;
use super::{Edge, page};

/// A WebSocket over a client's outbox: what a connection task serves.
pub type Ws = WebSocketStream<Wire>;

/// An upgraded connection with the slot it holds.
#[derive(Debug)]
pub struct Upgraded {
    pub ws: Ws,
    pub endpoint: Endpoint,
    pub protocol: Option<&'static str>,
    pub encoding: protocol::Encoding,
    /// Held for the connection's life: it is one of `--max-connections`.
    pub slot: OwnedSemaphorePermit,
    /// The client sent frames along with its request, which the HTTP layer read with the head:
    /// they are in the WebSocket reader already, and no socket readiness will announce them.
    pub early_frames: bool,
}

/// A stream the edge can serve HTTP on and then take apart for the outbox.
pub trait Transport: AsyncRead + AsyncWrite + Unpin + Send + 'static {
    /// The TCP socket, and the TLS session if there is one.
    fn into_parts(self) -> (TcpStream, Option<ServerConnection>);
}

impl Transport for TcpStream {
    fn into_parts(self) -> (TcpStream, Option<ServerConnection>) {
        (self, None)
    }
}

impl Transport for tokio_rustls::server::TlsStream<TcpStream> {
    fn into_parts(self) -> (TcpStream, Option<ServerConnection>) {
        let (tcp, tls) = self.into_inner();
        (tcp, Some(tls))
    }
}

/// How an exchange that gave no WebSocket ended, for the log.
#[derive(Debug)]
pub enum NoUpgrade {
    /// A page, `/healthz` or `/metrics` was served.
    Served(String),
    /// A handshake was refused with an HTTP status, or the exchange failed.
    Refused(String),
}

impl std::fmt::Display for NoUpgrade {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Served(what) | Self::Refused(what) => f.write_str(what),
        }
    }
}

/// What the request handler leaves for the socket's task after it answered 101.
struct Pending {
    upgrade: OnUpgrade,
    endpoint: Endpoint,
    protocol: Option<&'static str>,
    encoding: protocol::Encoding,
    slot: OwnedSemaphorePermit,
}

/// Runs the HTTP exchange on `stream`. Returns the WebSocket if the handshake was accepted, or
/// `Err` with what happened for the log (the refusal has already been answered).
pub async fn exchange<S: Transport>(stream: S, edge: &Arc<Edge>) -> Result<Upgraded, NoUpgrade> {
    // What the request handler decided: the pending upgrade, or what it answered instead.
    let verdict: Arc<Mutex<Option<Result<Pending, NoUpgrade>>>> = Arc::new(Mutex::new(None));
    let service = {
        let (verdict, edge) = (verdict.clone(), edge.clone());
        service_fn(move |mut request: Request<Incoming>| {
            let path = request.uri().path().chars().take(64).collect::<String>();
            let (mut response, decided) = if let Some(page) = answer_page(&edge, &request) {
                let what = format!("{} {path}: {}", request.method(), page.status().as_u16());
                (page, Err(NoUpgrade::Served(what)))
            } else {
                match decide(&edge, &mut request) {
                    Ok((accepted, pending)) => (switching(&accepted), Ok(pending)),
                    Err(refusal) => {
                        edge.metrics.refused(refusal_reason(refusal.status));
                        let why = format!(
                            "refused {} {path}: {} {}",
                            request.method(),
                            refusal.status.as_u16(),
                            refusal.body
                        );
                        (refused(refusal), Err(NoUpgrade::Refused(why)))
                    }
                }
            };
            if decided.is_err() {
                page::set(&mut response, &[(header::CONNECTION, "close")]);
            }
            *verdict.lock().unwrap_or_else(PoisonError::into_inner) = Some(decided);
            async move { Ok::<_, Infallible>(response) }
        })
    };
    let settings = &edge.settings;
    let mut http = http1::Builder::new();
    http.keep_alive(true)
        .max_buf_size(settings.max_header_bytes)
        .max_headers(settings.max_headers)
        .header_read_timeout(None);
    let served = http
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades()
        .await;
    let decided = verdict
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    let pending = match (decided, served) {
        (Some(Ok(pending)), _) => pending,
        (Some(Err(why)), _) => return Err(why),
        (None, Err(e)) => {
            edge.metrics.refused("bad_http");
            return Err(NoUpgrade::Refused(format!("not a valid HTTP request: {e}")));
        }
        (None, Ok(())) => {
            return Err(NoUpgrade::Refused(
                "closed before a request arrived".to_owned(),
            ));
        }
    };
    let upgraded = pending
        .upgrade
        .await
        .map_err(|e| NoUpgrade::Refused(format!("upgrade failed: {e}")))?;
    let parts = upgraded
        .downcast::<TokioIo<S>>()
        .map_err(|_| NoUpgrade::Refused("upgrade lost its stream".to_owned()))?;
    let (tcp, tls) = parts.io.into_inner().into_parts();
    // Over TLS the session may hold decrypted bytes that no socket readiness will announce.
    let early_frames = !parts.read_buf.is_empty() || tls.is_some();
    let ws = WebSocketStream::from_partially_read(
        Wire::new(Outbox::with_tls(
            tcp,
            tls,
            settings.outbox,
            pending.encoding,
            edge.pool.clone(),
        )),
        parts.read_buf.to_vec(),
        Role::Server,
        Some(edge.ws_config),
    )
    .await;
    Ok(Upgraded {
        ws,
        endpoint: pending.endpoint,
        protocol: pending.protocol,
        encoding: pending.encoding,
        slot: pending.slot,
        early_frames,
    })
}

/// The answer to a request that is not for a WebSocket endpoint, or a plain GET of one (426).
fn answer_page(edge: &Edge, request: &Request<Incoming>) -> Option<Response<Full<Bytes>>> {
    let path = request.uri().path();
    let websocket =
        path == handshake::WS_PATH || (edge.settings.echo && path == handshake::ECHO_PATH);
    if !websocket {
        return Some(
            page::answer(edge, request.method(), path, request.headers()).unwrap_or_else(|| {
                page::text(
                    StatusCode::NOT_FOUND,
                    &format!(
                        "nothing at {}; the page is at /, the WebSocket feed at {}",
                        path.chars().take(64).collect::<String>(),
                        handshake::WS_PATH
                    ),
                )
            }),
        );
    }
    if handshake::asks_upgrade(request.headers()) {
        return None;
    }
    edge.metrics.refused("not_websocket");
    let mut response = page::text(
        StatusCode::UPGRADE_REQUIRED,
        &format!(
            "{path} is a WebSocket endpoint: connect with a WebSocket client (Upgrade: websocket); the page is at /"
        ),
    );
    page::set(
        &mut response,
        &[
            (header::UPGRADE, "websocket"),
            (header::SEC_WEBSOCKET_VERSION, "13"),
        ],
    );
    Some(response)
}

/// A fixed word for each refusal status, for `tickwire_connections_refused_total{reason}`.
fn refusal_reason(status: StatusCode) -> &'static str {
    match status.as_u16() {
        403 => "origin",
        404 => "not_found",
        426 => "version",
        503 => "capacity",
        431 => "headers_too_large",
        _ => "bad_handshake",
    }
}

/// Applies the handshake rules, then takes a connection slot.
fn decide(
    edge: &Edge,
    request: &mut Request<Incoming>,
) -> Result<(handshake::Accepted, Pending), Refusal> {
    let admission = Admission {
        allowed_origins: &edge.settings.allow_origin,
        echo: edge.settings.echo,
    };
    let head = Head {
        method: request.method(),
        uri: request.uri(),
        version: request.version(),
        headers: request.headers(),
    };
    if edge.shutdown.is_stopping() {
        return Err(Refusal::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is shutting down",
        ));
    }
    let accepted = handshake::admit(&admission, &head)?;
    let slot = edge
        .slots
        .clone()
        .try_acquire_owned()
        .map_err(|_| handshake::at_capacity())?;
    let pending = Pending {
        upgrade: hyper::upgrade::on(request),
        endpoint: accepted.endpoint,
        protocol: accepted.protocol,
        encoding: accepted.encoding,
        slot,
    };
    Ok((accepted, pending))
}

fn switching(accepted: &handshake::Accepted) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    page::set(
        &mut response,
        &[
            (header::UPGRADE, "websocket"),
            (header::CONNECTION, "Upgrade"),
        ],
    );
    let headers = response.headers_mut();
    headers.insert(header::SEC_WEBSOCKET_ACCEPT, accepted.accept_key.clone());
    if let Some(protocol) = accepted.protocol {
        headers.insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            header::HeaderValue::from_static(protocol),
        );
    }
    response
}

fn refused(refusal: Refusal) -> Response<Full<Bytes>> {
    let mut response = page::text(refusal.status, &refusal.body);
    page::set(&mut response, &[(header::CONNECTION, "close")]);
    for (name, value) in refusal.headers {
        response.headers_mut().insert(name, value);
    }
    response
}
