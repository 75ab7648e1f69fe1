//! The WebSocket handshake rules: path, Origin, subprotocol and the connection cap.

use protocol::SUBPROTOCOL_JSON;
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode, header};

/// The path the feed is served on.
pub const WS_PATH: &str = "/ws";

/// What the accept loop knows when a handshake arrives.
#[derive(Debug, Clone, Copy)]
pub struct Admission<'a> {
    pub allowed_origins: &'a [String],
    /// False when the server is at `--max-connections`.
    pub has_capacity: bool,
}

fn refuse(status: StatusCode, why: &str) -> ErrorResponse {
    let mut response = ErrorResponse::new(Some(format!("{why}\n")));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Decides a handshake: accepts it (selecting our subprotocol if offered) or refuses it with an
/// HTTP status and a body that says why.
pub fn admit(
    admission: &Admission<'_>,
    request: &Request,
    mut response: Response,
) -> Result<Response, ErrorResponse> {
    if request.uri().path() != WS_PATH {
        return Err(refuse(
            StatusCode::NOT_FOUND,
            &format!(
                "no WebSocket endpoint at {}; connect to {WS_PATH}",
                request.uri().path()
            ),
        ));
    }
    if !admission.allowed_origins.is_empty()
        && let Some(origin) = request.headers().get(header::ORIGIN)
    {
        let origin = origin.to_str().unwrap_or("");
        if !admission.allowed_origins.iter().any(|o| o == origin) {
            return Err(refuse(
                StatusCode::FORBIDDEN,
                &format!("origin `{origin}` is not allowed by --allow-origin"),
            ));
        }
    }
    let offered: Vec<&str> = request
        .headers()
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    if !offered.is_empty() {
        if !offered.contains(&SUBPROTOCOL_JSON) {
            return Err(refuse(
                StatusCode::BAD_REQUEST,
                &format!(
                    "unsupported subprotocol(s) {}; this server speaks {SUBPROTOCOL_JSON}",
                    offered.join(", ")
                ),
            ));
        }
        response.headers_mut().insert(
            header::SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static(SUBPROTOCOL_JSON),
        );
    }
    if !admission.has_capacity {
        return Err(refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "the server is at its connection limit (--max-connections); try again later",
        ));
    }
    Ok(response)
}
