//! The WebSocket handshake rules (RFC 6455 section 4.2): path, method, version, upgrade headers,
//! key, Origin, subprotocol and the connection cap.
//!
//! [`admit`] is a pure decision over the request head, so every refusal is unit-tested; the I/O
//! (parsing HTTP, writing the answer, taking over the socket) lives in [`super::http`].

use protocol::{Encoding, SUBPROTOCOL_BIN, SUBPROTOCOL_JSON};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::http::{
    HeaderMap, HeaderValue, Method, StatusCode, Uri, Version, header,
};

/// The path the feed is served on.
pub const WS_PATH: &str = "/ws";
/// The path of the echo endpoint (`--echo`).
pub const ECHO_PATH: &str = "/echo";

/// Which service a handshake asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// The market-data feed on [`WS_PATH`].
    Feed,
    /// The echo service on [`ECHO_PATH`], when enabled.
    Echo,
}

/// What the edge knows when a handshake arrives.
#[derive(Debug, Clone, Copy)]
pub struct Admission<'a> {
    pub allowed_origins: &'a [String],
    /// Whether `/echo` is served.
    pub echo: bool,
}

/// An accepted handshake: the headers of the 101 answer and where the connection goes.
#[derive(Debug)]
pub struct Accepted {
    pub endpoint: Endpoint,
    /// `Sec-WebSocket-Accept`.
    pub accept_key: HeaderValue,
    /// The subprotocol selected, if the client offered ours.
    pub protocol: Option<&'static str>,
    /// The encoding it stands for (JSON when none was offered).
    pub encoding: Encoding,
}

/// A refused handshake: an HTTP status, a body for people, and extra headers.
#[derive(Debug, PartialEq, Eq)]
pub struct Refusal {
    pub status: StatusCode,
    pub body: String,
    pub headers: Vec<(header::HeaderName, HeaderValue)>,
}

impl Refusal {
    pub fn new(status: StatusCode, body: impl Into<String>) -> Self {
        Self {
            status,
            body: body.into(),
            headers: Vec::new(),
        }
    }
}

/// The request head as the rules see it.
#[derive(Debug, Clone, Copy)]
pub struct Head<'a> {
    pub method: &'a Method,
    pub uri: &'a Uri,
    pub version: Version,
    pub headers: &'a HeaderMap,
}

/// True when a comma-separated header (any occurrence) lists `token`, ignoring case.
fn lists_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// Whether a request asks for a WebSocket at all (`Upgrade: websocket`); a plain GET of the
/// feed's path is answered 426 rather than judged as a broken handshake.
pub fn asks_upgrade(headers: &HeaderMap) -> bool {
    lists_token(headers, header::UPGRADE, "websocket")
}

/// Decides a handshake: accepts it (selecting our subprotocol if offered) or refuses it with an
/// HTTP status and a body that says why. Capacity is checked by the caller after this passes.
pub fn admit(admission: &Admission<'_>, head: &Head<'_>) -> Result<Accepted, Refusal> {
    let path = head.uri.path();
    let endpoint = match path {
        WS_PATH => Endpoint::Feed,
        ECHO_PATH if admission.echo => Endpoint::Echo,
        _ => {
            return Err(Refusal::new(
                StatusCode::NOT_FOUND,
                format!(
                    "nothing at {}; the WebSocket feed is at {WS_PATH}",
                    clip(path)
                ),
            ));
        }
    };
    if head.method != Method::GET {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            format!(
                "a WebSocket handshake is a GET request, not {}",
                clip(head.method.as_str())
            ),
        ));
    }
    if head.version < Version::HTTP_11 {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "a WebSocket handshake needs HTTP/1.1",
        ));
    }
    let headers = head.headers;
    if !lists_token(headers, header::UPGRADE, "websocket")
        || !lists_token(headers, header::CONNECTION, "upgrade")
    {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            format!(
                "not a WebSocket handshake: send `Upgrade: websocket` and `Connection: Upgrade` to {path}"
            ),
        ));
    }
    if headers
        .get(header::SEC_WEBSOCKET_VERSION)
        .is_none_or(|v| v.as_bytes() != b"13")
    {
        let mut refusal = Refusal::new(
            StatusCode::UPGRADE_REQUIRED,
            "unsupported Sec-WebSocket-Version: this server speaks version 13 (RFC 6455)",
        );
        refusal.headers.push((
            header::SEC_WEBSOCKET_VERSION,
            HeaderValue::from_static("13"),
        ));
        return Err(refusal);
    }
    let Some(key) = headers
        .get(header::SEC_WEBSOCKET_KEY)
        .filter(|k| valid_key(k.as_bytes()))
    else {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "missing or malformed Sec-WebSocket-Key (16 random bytes in base64)",
        ));
    };
    if !admission.allowed_origins.is_empty()
        && let Some(origin) = headers.get(header::ORIGIN)
    {
        let origin = origin.to_str().unwrap_or("");
        if !admission.allowed_origins.iter().any(|o| o == origin) {
            return Err(Refusal::new(
                StatusCode::FORBIDDEN,
                format!("origin `{}` is not allowed by --allow-origin", clip(origin)),
            ));
        }
    }
    let offered: Vec<&str> = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .take(32)
        .collect();
    // The first of ours the client lists, in its order of preference.
    let ours = offered.iter().find_map(|p| Encoding::from_subprotocol(p));
    let encoding = match endpoint {
        Endpoint::Echo => None,
        Endpoint::Feed if offered.is_empty() => None,
        Endpoint::Feed if ours.is_some() => ours,
        Endpoint::Feed => {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                format!(
                    "unsupported subprotocol(s) {}; this server speaks {SUBPROTOCOL_JSON} and {SUBPROTOCOL_BIN}",
                    clip(&offered.join(", "))
                ),
            ));
        }
    };
    let protocol = encoding.map(Encoding::subprotocol);
    let encoding = encoding.unwrap_or_default();
    Ok(Accepted {
        endpoint,
        accept_key: HeaderValue::from_str(&derive_accept_key(key.as_bytes()))
            .unwrap_or_else(|_| HeaderValue::from_static("")),
        protocol,
        encoding,
    })
}

/// The refusal for a server at `--max-connections`.
pub fn at_capacity() -> Refusal {
    Refusal::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "the server is at its connection limit (--max-connections); try again later",
    )
}

/// A key is 16 bytes in base64: 22 characters of the alphabet and `==`.
fn valid_key(key: &[u8]) -> bool {
    key.len() == 24
        && key.ends_with(b"==")
        && key[..22]
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

/// Echoed input is cut short so a refusal never grows with what the client sent.
fn clip(text: &str) -> &str {
    match text.char_indices().nth(64) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for &(k, v) in pairs {
            map.append(
                header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        map
    }

    fn good() -> Vec<(&'static str, &'static str)> {
        vec![
            ("upgrade", "websocket"),
            ("connection", "keep-alive, Upgrade"),
            ("sec-websocket-version", "13"),
            ("sec-websocket-key", KEY),
        ]
    }

    fn decide(
        method: &Method,
        path: &str,
        version: Version,
        pairs: &[(&str, &str)],
        echo: bool,
    ) -> Result<Accepted, Refusal> {
        let uri: Uri = path.parse().unwrap();
        let map = headers(pairs);
        let admission = Admission {
            allowed_origins: &[],
            echo,
        };
        admit(
            &admission,
            &Head {
                method,
                uri: &uri,
                version,
                headers: &map,
            },
        )
    }

    fn status(r: Result<Accepted, Refusal>) -> u16 {
        r.map_or_else(|e| e.status.as_u16(), |_| 101)
    }

    #[test]
    fn a_valid_handshake_is_accepted_with_the_rfc_accept_key() {
        let ok = decide(&Method::GET, "/ws", Version::HTTP_11, &good(), false).unwrap();
        // The example from RFC 6455 section 1.3.
        assert_eq!(ok.accept_key, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_eq!((ok.endpoint, ok.protocol), (Endpoint::Feed, None));
    }

    #[test]
    fn each_broken_rule_has_its_status() {
        let v11 = Version::HTTP_11;
        assert_eq!(status(decide(&Method::GET, "/", v11, &good(), false)), 404);
        assert_eq!(
            status(decide(&Method::GET, "/echo", v11, &good(), false)),
            404
        );
        assert_eq!(
            status(decide(&Method::GET, "/echo", v11, &good(), true)),
            101
        );
        assert_eq!(
            status(decide(&Method::POST, "/ws", v11, &good(), false)),
            400
        );
        assert_eq!(
            status(decide(
                &Method::GET,
                "/ws",
                Version::HTTP_10,
                &good(),
                false
            )),
            400
        );
        assert_eq!(status(decide(&Method::GET, "/ws", v11, &[], false)), 400);
        let mut v8 = good();
        v8[2].1 = "8";
        let refusal = decide(&Method::GET, "/ws", v11, &v8, false).unwrap_err();
        assert_eq!(refusal.status, 426);
        assert_eq!(refusal.headers[0].1, "13");
        let no_key = &good()[..3];
        assert_eq!(status(decide(&Method::GET, "/ws", v11, no_key, false)), 400);
        let mut bad_key = good();
        bad_key[3].1 = "short";
        assert_eq!(
            status(decide(&Method::GET, "/ws", v11, &bad_key, false)),
            400
        );
    }

    #[test]
    fn our_subprotocol_is_selected_and_foreign_ones_refused() {
        let mut offer = good();
        offer.push(("sec-websocket-protocol", "other, tickwire.v1.json"));
        let ok = decide(&Method::GET, "/ws", Version::HTTP_11, &offer, false).unwrap();
        assert_eq!(ok.protocol, Some(SUBPROTOCOL_JSON));
        let mut foreign = good();
        foreign.push(("sec-websocket-protocol", "mqtt"));
        let refusal = decide(&Method::GET, "/ws", Version::HTTP_11, &foreign, false).unwrap_err();
        assert_eq!(refusal.status, 400);
        assert!(refusal.body.contains("mqtt"));
    }

    #[test]
    fn the_first_of_our_subprotocols_the_client_lists_wins() {
        for (offered, chosen, encoding) in [
            ("tickwire.v1.bin", SUBPROTOCOL_BIN, Encoding::Bin),
            (
                "tickwire.v1.bin, tickwire.v1.json",
                SUBPROTOCOL_BIN,
                Encoding::Bin,
            ),
            (
                "tickwire.v1.json, tickwire.v1.bin",
                SUBPROTOCOL_JSON,
                Encoding::Json,
            ),
            ("mqtt, tickwire.v1.bin", SUBPROTOCOL_BIN, Encoding::Bin),
        ] {
            let mut offer = good();
            offer.push(("sec-websocket-protocol", offered));
            let ok = decide(&Method::GET, "/ws", Version::HTTP_11, &offer, false).unwrap();
            assert_eq!(
                (ok.protocol, ok.encoding),
                (Some(chosen), encoding),
                "{offered}"
            );
        }
        let none = decide(&Method::GET, "/ws", Version::HTTP_11, &good(), false).unwrap();
        assert_eq!((none.protocol, none.encoding), (None, Encoding::Json));
    }
}
