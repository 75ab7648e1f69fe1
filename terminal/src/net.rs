//! The network task: connects, reconnects with backoff and jitter, sends what the app asks and
//! turns frames into [`NetEvent`]s for the app. Subscriptions belong to the app's state, which
//! subscribes again on every `hello`; this task keeps none.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use protocol::{ClientMessage, Encoding, ServerMessage, close_code, now_ns};
use rand::Rng;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};

use crate::wire::Codec;

/// What the network task reports.
#[derive(Debug, Clone)]
pub enum NetEvent {
    Connecting {
        attempt: u32,
    },
    Connected {
        protocol: String,
        /// Which of the URLs answered.
        url: String,
    },
    Disconnected {
        code: Option<u16>,
        reason: String,
        retry_in: Duration,
    },
    /// The messages of one frame and when it arrived (ns since the epoch).
    Frame {
        messages: Vec<ServerMessage>,
        received_ns: u64,
    },
    /// A message could not be sent (not connected).
    NotSent(ClientMessage),
}

/// First retry delay and the cap of the exponential backoff.
const BACKOFF_START: Duration = Duration::from_millis(250);
const BACKOFF_CAP: Duration = Duration::from_secs(10);

/// The delay before reconnect attempt `attempt` (0-based): doubling, capped, with up to 50% jitter
/// taken off so that many clients do not reconnect in step.
pub fn backoff(attempt: u32, jitter: f64) -> Duration {
    let base = BACKOFF_START
        .saturating_mul(1u32 << attempt.min(16))
        .min(BACKOFF_CAP);
    base.mul_f64(1.0 - 0.5 * jitter.clamp(0.0, 1.0))
}

/// Runs until `commands` closes (the app quit) or `events` closes. With several URLs (servers or
/// edges of one cluster), each reconnect tries the next one.
pub async fn run(
    urls: Vec<String>,
    encoding: Encoding,
    mut commands: mpsc::Receiver<ClientMessage>,
    events: mpsc::Sender<NetEvent>,
) {
    let mut attempt = 0u32;
    let mut urls = Failover::new(urls);
    loop {
        if events.send(NetEvent::Connecting { attempt }).await.is_err() {
            return;
        }
        let url = urls.current().to_owned();
        let (code, reason) = match connect(&url, encoding).await {
            Err(e) => (None, e),
            Ok(mut ws) => {
                attempt = 0;
                // A new codec per connection: binary symbol ids come from this server's hello.
                let mut codec = Codec::new(encoding);
                let _ = events
                    .send(NetEvent::Connected {
                        protocol: encoding.subprotocol().to_owned(),
                        url: url.clone(),
                    })
                    .await;
                loop {
                    tokio::select! {
                        frame = ws.next() => match frame {
                            Some(Ok(data @ (Message::Text(_) | Message::Binary(_)))) => {
                                let received_ns = now_ns();
                                let mut messages = Vec::new();
                                match codec.decode(&data, &mut messages) {
                                    Ok(()) => {
                                        if events.send(NetEvent::Frame { messages, received_ns }).await.is_err() {
                                            return;
                                        }
                                    }
                                    Err(e) => tracing::warn!("undecodable frame: {e}"),
                                }
                            }
                            Some(Ok(Message::Close(frame))) => {
                                // Complete the close handshake: the reply is queued, a flush sends it.
                                let _ = tokio::time::timeout(CLOSE_TIMEOUT, ws.flush()).await;
                                break frame.map_or((Some(close_code::NO_STATUS), "closed without a reason".to_owned()), |f| (Some(u16::from(f.code)), f.reason.to_string()));
                            }
                            Some(Ok(_)) => {}
                            Some(Err(e)) => break (None, format!("connection lost: {e}")),
                            None => break (None, "connection lost".to_owned()),
                        },
                        command = commands.recv() => match command {
                            None => {
                                close(&mut ws, "terminal quit").await;
                                return;
                            }
                            Some(message) => {
                                if let Err(e) = ws.send(codec.encode(&message)).await {
                                    let _ = events.send(NetEvent::NotSent(message)).await;
                                    break (None, format!("send failed: {e}"));
                                }
                            }
                        },
                    }
                }
            }
        };
        let retry_in = backoff(attempt, rand::rng().random::<f64>());
        attempt = attempt.saturating_add(1);
        urls.advance();
        tracing::info!(?code, %reason, retry_in_ms = retry_in.as_millis(), "disconnected");
        if events
            .send(NetEvent::Disconnected {
                code,
                reason,
                retry_in,
            })
            .await
            .is_err()
        {
            return;
        }
        // Wait out the backoff; orders and cancels meanwhile are reported unsent (subscriptions
        // are sent again by the app on the next hello).
        let wake = tokio::time::Instant::now() + retry_in;
        loop {
            tokio::select! {
                () = tokio::time::sleep_until(wake) => break,
                command = commands.recv() => match command {
                    None => return,
                    Some(message) => {
                        if matches!(message, ClientMessage::Order(_) | ClientMessage::Cancel(_)) {
                            let _ = events.send(NetEvent::NotSent(message)).await;
                        }
                    }
                },
            }
        }
    }
}

/// How long either side's close handshake may take.
pub(crate) const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// A normal close (1000) saying `reason`.
pub(crate) fn close_message(reason: &str) -> Message {
    Message::Close(Some(CloseFrame {
        code: close_code::NORMAL.into(),
        reason: reason.into(),
    }))
}

/// Closes with 1000 and `reason`, then reads (and drops) what is still in flight until the
/// server's answering Close, for at most [`CLOSE_TIMEOUT`]: both sides complete the handshake.
pub(crate) async fn close(ws: &mut Ws, reason: &str) {
    let _ = tokio::time::timeout(CLOSE_TIMEOUT, async {
        if ws.send(close_message(reason)).await.is_ok() {
            while let Some(Ok(m)) = ws.next().await {
                if m.is_close() {
                    break;
                }
            }
        }
    })
    .await;
}

pub(crate) type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The URLs a client may connect to, tried in turn: a reconnect goes to the next one.
#[derive(Debug, Clone)]
pub struct Failover {
    urls: Vec<String>,
    at: usize,
}

impl Failover {
    /// At least one URL (an empty list gets an empty one, which fails to connect with a clear
    /// error).
    pub fn new(urls: Vec<String>) -> Self {
        let urls = if urls.is_empty() {
            vec![String::new()]
        } else {
            urls
        };
        Self { urls, at: 0 }
    }

    /// Starts at the `n`th URL (round-robin), for many connections spread over the list.
    #[must_use]
    pub fn starting_at(mut self, n: usize) -> Self {
        self.at = n % self.urls.len();
        self
    }

    pub fn current(&self) -> &str {
        self.urls.get(self.at).map_or("", String::as_str)
    }

    /// Moves to the next URL.
    pub fn advance(&mut self) {
        self.at = (self.at + 1) % self.urls.len();
    }

    pub fn all(&self) -> &[String] {
        &self.urls
    }
}

/// Parses `--url`: one WebSocket URL or several, comma-separated; each is checked.
pub fn parse_urls(list: &str) -> Result<Vec<String>, String> {
    let urls: Vec<String> = list
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(str::to_owned)
        .collect();
    if urls.is_empty() {
        return Err("--url names no server; expected ws://HOST:PORT/ws[,ws://…]".to_owned());
    }
    for url in &urls {
        check_url(url)?;
    }
    Ok(urls)
}

/// Refuses, at startup, a URL that could never connect: unparseable, or not `ws://`/`wss://`.
pub fn check_url(url: &str) -> Result<(), String> {
    let request = url
        .into_client_request()
        .map_err(|e| format!("`{url}` is not a WebSocket URL ({e}); expected ws://HOST:PORT/ws"))?;
    match request.uri().scheme_str() {
        Some("ws" | "wss") => Ok(()),
        _ => Err(format!(
            "`{url}` is not a WebSocket URL; expected ws://HOST:PORT/ws"
        )),
    }
}

pub(crate) async fn connect(url: &str, encoding: Encoding) -> Result<Ws, String> {
    connect_with(url, None, encoding).await
}

/// Connects offering `encoding`'s subprotocol, with Nagle off; `config` sets tungstenite's
/// buffers.
pub(crate) async fn connect_with(
    url: &str,
    config: Option<WebSocketConfig>,
    encoding: Encoding,
) -> Result<Ws, String> {
    let mut request = url
        .into_client_request()
        .map_err(|e| format!("bad URL {url}: {e}"))?;
    request.headers_mut().insert(
        "sec-websocket-protocol",
        HeaderValue::from_static(encoding.subprotocol()),
    );
    let connector = if request.uri().scheme_str() == Some("wss") {
        Some(tokio_tungstenite::Connector::Rustls(crate::tls::client()?))
    } else {
        None
    };
    let connecting =
        tokio_tungstenite::connect_async_tls_with_config(request, config, true, connector);
    match tokio::time::timeout(Duration::from_secs(5), connecting).await {
        Err(_) => Err("connect timed out after 5 s".to_owned()),
        Ok(Err(e)) => Err(crate::tls::describe(url, &e)),
        Ok(Ok((ws, _))) => Ok(ws),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_websocket_urls_pass() {
        assert!(check_url("ws://127.0.0.1:9001/ws").is_ok());
        assert!(check_url("wss://feed.example/ws").is_ok());
        for bad in ["garbage", "http://127.0.0.1/ws", "", "ws://"] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn backoff_doubles_up_to_a_cap_and_jitter_only_shortens_it() {
        assert_eq!(backoff(0, 0.0), Duration::from_millis(250));
        assert_eq!(backoff(3, 0.0), Duration::from_secs(2));
        assert_eq!(backoff(30, 0.0), BACKOFF_CAP);
        assert_eq!(backoff(30, 1.0), BACKOFF_CAP / 2);
        assert!(backoff(2, 0.3) < backoff(2, 0.0));
    }
}
