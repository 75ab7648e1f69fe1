//! Test support: start a real server on 127.0.0.1:0 and talk to it over real WebSockets.
#![allow(dead_code, clippy::unwrap_used)]

pub mod books;
pub mod captures;
pub mod nats;
pub mod raw;
pub mod realdata;
pub mod trading;
pub mod venue;

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use feed_server::{Config, ServerHandle};
use futures_util::{SinkExt, StreamExt};
use protocol::binary::{self, ServerDecoder, SymbolIds};
use protocol::{ClientMessage, Decoder, Encoding, Sequence, ServerMessage, Step, encode_client};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long any single wait in a test may take before it fails.
pub const WAIT: Duration = Duration::from_secs(10);

/// A config for tests: a free loopback port and otherwise the defaults.
pub fn config() -> Config {
    Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        ..Config::default()
    }
}

/// Starts a server; the one way every test gets one.
pub async fn start(config: Config) -> ServerHandle {
    feed_server::spawn(config).await.expect("server starts")
}

/// What ended a connection, as seen by a client.
#[derive(Debug, PartialEq, Eq)]
pub enum End {
    Closed(u16, String),
    Dropped,
}

pub struct Client {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    decoder: Decoder,
    binary: ServerDecoder,
    /// What this client sends its requests in; it reads whatever frames come.
    pub encoding: Encoding,
    pending: VecDeque<ServerMessage>,
}

/// The encoding behaviour tests speak: `TICKWIRE_TEST_ENCODING=bin` runs every test that uses
/// [`Client`] over `tickwire.v1.bin` (CI runs the suite both ways).
pub fn test_encoding() -> Encoding {
    std::env::var("TICKWIRE_TEST_ENCODING")
        .ok()
        .and_then(|e| e.parse().ok())
        .unwrap_or_default()
}

impl Client {
    pub async fn connect(server: &ServerHandle) -> Self {
        Self::connect_with(server, test_encoding()).await
    }

    /// Connects offering `encoding`'s subprotocol.
    pub async fn connect_with(server: &ServerHandle, encoding: Encoding) -> Self {
        Self::connect_url(&server.url(), encoding).await
    }

    /// Connects to a server at `url` (one this test did not start in-process).
    pub async fn connect_url(url: &str, encoding: Encoding) -> Self {
        let mut request = url.into_client_request().unwrap();
        request.headers_mut().insert(
            "sec-websocket-protocol",
            encoding.subprotocol().parse().unwrap(),
        );
        let (ws, response) = tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(request))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            response
                .headers()
                .get("sec-websocket-protocol")
                .and_then(|v| v.to_str().ok()),
            Some(encoding.subprotocol())
        );
        let mut client = Self::from_ws(ws);
        client.encoding = encoding;
        client
    }

    pub fn from_ws(ws: WebSocketStream<MaybeTlsStream<TcpStream>>) -> Self {
        Self {
            ws,
            decoder: Decoder::new(),
            binary: ServerDecoder::new(),
            encoding: Encoding::Json,
            pending: VecDeque::new(),
        }
    }

    pub async fn send(&mut self, message: &ClientMessage) {
        match self.encoding {
            Encoding::Json => self.raw(&encode_client(message)).await,
            Encoding::Bin => {
                let ids = SymbolIds::new(self.binary.symbols());
                // A symbol the server does not have cannot be named by id: send it in JSON, as
                // a binary client may, and the server answers in binary all the same.
                match binary::encode_client(message, &ids) {
                    Ok(frame) => self.ws.send(Message::binary(frame)).await.unwrap(),
                    Err(_) => self.raw(&encode_client(message)).await,
                }
            }
        }
    }

    pub async fn raw(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.unwrap();
    }

    /// The next server message, failing the test on close, error or timeout.
    pub async fn next(&mut self) -> ServerMessage {
        match self.try_next().await {
            Ok(m) => m,
            Err(end) => panic!("connection ended: {end:?}"),
        }
    }

    /// The next server message, or how the connection ended.
    pub async fn try_next(&mut self) -> Result<ServerMessage, End> {
        loop {
            if let Some(m) = self.pending.pop_front() {
                return Ok(m);
            }
            let frame = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .expect("a message within the wait");
            match frame {
                Some(Ok(Message::Text(t))) => {
                    assert_eq!(
                        self.encoding,
                        Encoding::Json,
                        "a text frame on {:?}",
                        self.encoding
                    );
                    let batch = self
                        .decoder
                        .server(t.as_bytes())
                        .expect("server frames decode");
                    self.pending.extend(batch);
                }
                Some(Ok(Message::Binary(b))) => {
                    assert_eq!(self.encoding, Encoding::Bin, "a binary frame on JSON");
                    let mut batch = Vec::new();
                    self.binary
                        .frame(&b, &mut batch)
                        .expect("binary server frames decode");
                    self.pending.extend(batch);
                }
                Some(Ok(Message::Close(frame))) => {
                    // Complete the close handshake: the reply is queued, a flush sends it.
                    let _ = tokio::time::timeout(WAIT, self.ws.flush()).await;
                    let (code, reason) = frame
                        .map_or((1005, String::new()), |CloseFrame { code, reason }| {
                            (u16::from(code), reason.to_string())
                        });
                    return Err(End::Closed(code, reason));
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return Err(End::Dropped),
            }
        }
    }

    /// Skips messages until one matches.
    pub async fn until<T>(&mut self, mut pick: impl FnMut(ServerMessage) -> Option<T>) -> T {
        loop {
            if let Some(t) = pick(self.next().await) {
                return t;
            }
        }
    }

    /// Reads until the connection ends, returning how, and the messages seen before.
    pub async fn drain(&mut self) -> (End, Vec<ServerMessage>) {
        let mut seen = Vec::new();
        loop {
            match self.try_next().await {
                Ok(m) => seen.push(m),
                Err(end) => return (end, seen),
            }
        }
    }
}

/// Follows `seq` per symbol: a snapshot sets it, each live event must continue from it.
#[derive(Debug, Default)]
pub struct Seqs {
    streams: HashMap<String, Sequence>,
}

impl Seqs {
    /// Records a message and returns how many events of its symbol were skipped before it (0 when
    /// it follows on); `None` for a symbol's first snapshot and for non-market messages. Panics on
    /// a live event for a symbol that had no snapshot.
    pub fn observe(&mut self, message: &ServerMessage) -> Option<u64> {
        let (symbol, seq) = message.market_seq()?;
        let stream = self
            .streams
            .entry(symbol.to_owned())
            .or_insert_with(Sequence::awaiting_snapshot);
        let step = match message {
            ServerMessage::Snapshot(_) => stream.snapshot(seq),
            _ => stream.event(seq),
        };
        match step {
            Step::First => None,
            Step::Next | Step::Stale => Some(0),
            Step::Gap { missed } => Some(missed),
            Step::Unsynced => panic!("live {symbol} event before its snapshot"),
        }
    }
}

/// A well-behaved subscriber to every symbol, reading in its own task: whatever else a test does
/// to the server, it must keep receiving every event without a `seq` gap.
pub struct Witness {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<u64>,
}

impl Witness {
    pub async fn start(server: &ServerHandle) -> Self {
        Self::at(&server.url()).await
    }

    /// A witness on the server at `url`.
    pub async fn at(url: &str) -> Self {
        let mut client = Client::connect_url(url, test_encoding()).await;
        client
            .send(&ClientMessage::Subscribe(protocol::Subscribe::to(vec![
                "*".into(),
            ])))
            .await;
        let (stop, mut stopped) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let mut seqs = Seqs::default();
            let mut events = 0u64;
            let mut stopping = false;
            loop {
                let message = tokio::select! {
                    // A test can be over within a pass of the hub: then wait (boundedly) for
                    // one live event rather than judge the server on none.
                    _ = &mut stopped, if !stopping => {
                        if events > 0 {
                            return events;
                        }
                        stopping = true;
                        continue;
                    }
                    () = tokio::time::sleep(Duration::from_secs(5)), if stopping => return events,
                    m = client.next() => m,
                };
                if let Some(skipped) = seqs.observe(&message) {
                    assert_eq!(skipped, 0, "the witness missed events before {message:?}");
                    events += 1;
                    if stopping {
                        return events;
                    }
                }
            }
        });
        Self {
            stop: Some(stop),
            task,
        }
    }

    /// Stops reading and checks that events kept arriving without a gap.
    pub async fn finish(mut self) -> u64 {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let events = self.task.await.expect("the witness saw no gap");
        assert!(events > 0, "the witness received no events");
        events
    }
}

/// Reads for `period`, checking that every symbol's `seq` increases by exactly one; returns the
/// number of live events seen.
pub async fn read_without_gaps(client: &mut Client, period: Duration) -> u64 {
    let mut seqs = Seqs::default();
    let mut events = 0u64;
    let deadline = tokio::time::Instant::now() + period;
    while tokio::time::Instant::now() < deadline {
        let m = client.next().await;
        if let Some(skipped) = seqs.observe(&m) {
            assert_eq!(skipped, 0, "the fast client missed events before {m:?}");
            events += 1;
        }
    }
    events
}

/// Counts `seq` jumps in what a client received.
pub fn jumps(seen: &[ServerMessage]) -> usize {
    let mut seqs = Seqs::default();
    seen.iter()
        .filter(|m| seqs.observe(m).is_some_and(|skipped| skipped > 0))
        .count()
}

/// A server for [`conflation_drill`]: a fast feed, small queues, a 2 s stall limit. Sized so
/// that 1.5 s of not reading (2.5 MB of events) overflows the 1 MiB queue several times over,
/// while a client that reads would have to stall for 0.4 s to fill it, with the debug build
/// sharing two cores with other tests.
pub fn drill_config() -> Config {
    Config {
        synth: feed_server::SynthArgs {
            rate: 20_000,
            // The drill is about quote streams; no book changes besides the quotes' touches.
            book_rate: 0,
            ..feed_server::SynthArgs::default()
        },
        queue_frames: 256,
        queue_bytes: 1_048_576,
        batch_us: Some(1_000),
        stall_timeout_ms: 2_000,
        ..config()
    }
}

/// The slow-consumer drill, on a [`drill_config`] server. Both clients subscribe to everything.
/// `fast` reads every event for 7 s without a gap. `slow` (give it a small receive buffer) keeps
/// up for 0.1 s, falls behind for 1.5 s (under the stall limit), and catching up shows `seq` jumps
/// and fresh snapshots; then it stops reading for 3.5 s and is closed with 1008 `not reading`.
pub async fn conflation_drill(mut fast: Client, mut slow: Client) {
    let all = ClientMessage::Subscribe(protocol::Subscribe::to(vec!["*".into()]));
    fast.send(&all).await;
    let fast =
        tokio::spawn(async move { read_without_gaps(&mut fast, Duration::from_secs(7)).await });

    slow.send(&all).await;
    let mut seen = Vec::new();
    let phase = |ms| tokio::time::Instant::now() + Duration::from_millis(ms);
    let until = phase(100);
    while tokio::time::Instant::now() < until {
        seen.push(slow.next().await);
    }
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let until = phase(1_500);
    while tokio::time::Instant::now() < until {
        seen.push(slow.next().await);
    }
    assert!(
        jumps(&seen) > 0,
        "falling behind must show as seq jumps ({} messages)",
        seen.len()
    );
    assert!(
        seen.iter()
            .skip(20)
            .any(|m| matches!(m, ServerMessage::Snapshot(_))),
        "catching up comes with fresh snapshots"
    );

    // Now stop reading for longer than the stall limit: the server closes it with 1008.
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    let (end, _) = slow.drain().await;
    assert!(
        matches!(&end, End::Closed(1008, reason) if reason.contains("not reading")),
        "{end:?}"
    );

    let events = fast.await.unwrap();
    assert!(
        events > 50_000,
        "the fast client got only {events} events in 7 s"
    );
}
