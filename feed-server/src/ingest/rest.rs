//! The venues' REST endpoints (instrument metadata, Binance's depth snapshot): one GET over
//! HTTP/1.1, plain or TLS with the system's root certificates, bounded in time and size.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::{Request, StatusCode, Uri, header};
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use tokio::net::TcpStream;

/// The client TLS settings for venues: the system's roots, ring, HTTP/1.1.
pub fn tls_client() -> Result<Arc<ClientConfig>, String> {
    static CONFIG: OnceLock<Result<Arc<ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            let mut roots = rustls::RootCertStore::empty();
            let native = rustls_native_certs::load_native_certs();
            let (_added, _ignored) = roots.add_parsable_certificates(native.certs);
            let mut config = ClientConfig::builder_with_provider(Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup failed: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            Ok(Arc::new(config))
        })
        .clone()
}

/// GETs `url` and returns its body if the answer is 200 OK, within `timeout` and `max_bytes`.
pub async fn get(url: &str, timeout: Duration, max_bytes: usize) -> Result<Vec<u8>, String> {
    tokio::time::timeout(timeout, get_now(url, max_bytes))
        .await
        .map_err(|_| format!("GET {url}: no answer within {} ms", timeout.as_millis()))?
}

async fn get_now(url: &str, max_bytes: usize) -> Result<Vec<u8>, String> {
    let uri: Uri = url.parse().map_err(|e| format!("`{url}`: {e}"))?;
    let tls = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => return Err(format!("`{url}` is not an http:// or https:// URL")),
    };
    let host = uri
        .host()
        .ok_or_else(|| format!("`{url}` names no host"))?
        .to_owned();
    let port = uri.port_u16().unwrap_or(if tls { 443 } else { 80 });
    let tcp = TcpStream::connect((host.trim_matches(['[', ']']), port))
        .await
        .map_err(|e| format!("GET {url}: cannot connect: {e}"))?;
    let _ = tcp.set_nodelay(true);
    let path = uri
        .path_and_query()
        .map_or_else(|| "/".to_owned(), ToString::to_string);
    let request = Request::get(path)
        .header(
            header::HOST,
            uri.authority().map_or(host.as_str(), |a| a.as_str()),
        )
        .header(
            header::USER_AGENT,
            concat!("tickwire-feed-server/", env!("CARGO_PKG_VERSION")),
        )
        .header(header::ACCEPT, "application/json")
        .body(Empty::<Bytes>::new())
        .map_err(|e| format!("GET {url}: {e}"))?;
    let (status, body) = if tls {
        let name =
            rustls::pki_types::ServerName::try_from(host.trim_matches(['[', ']']).to_owned())
                .map_err(|e| format!("`{host}`: {e}"))?;
        let stream = tokio_rustls::TlsConnector::from(tls_client()?)
            .connect(name, tcp)
            .await
            .map_err(|e| format!("GET {url}: TLS failed: {e}"))?;
        exchange(TokioIo::new(stream), request, max_bytes).await
    } else {
        exchange(TokioIo::new(tcp), request, max_bytes).await
    }
    .map_err(|e| format!("GET {url}: {e}"))?;
    if status != StatusCode::OK {
        let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
        return Err(format!("GET {url}: HTTP {status}: {}", text.trim()));
    }
    Ok(body)
}

async fn exchange<T>(
    io: T,
    request: Request<Empty<Bytes>>,
    max_bytes: usize,
) -> Result<(StatusCode, Vec<u8>), String>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| e.to_string())?;
    let driver = tokio::spawn(connection);
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string());
    let result = match response {
        Ok(response) => {
            let status = response.status();
            Limited::new(response.into_body(), max_bytes)
                .collect()
                .await
                .map(|c| (status, c.to_bytes().to_vec()))
                .map_err(|e| format!("the body: {e} (at most {max_bytes} bytes)"))
        }
        Err(e) => Err(e),
    };
    driver.abort();
    result
}
