//! A stand-in venue on loopback: a WebSocket that plays scripted messages to each connection in
//! turn, with faults (a dropped connection, a close, silence), and an HTTP server that answers
//! REST paths with scripted bodies (late ones too). It serves the paths the real venue does, so
//! `--ingest-url` and `--ingest-rest-url` point the feed server at it. Tests use it, and so
//! does `examples/stand_in_venue.rs`.
#![allow(dead_code, clippy::unwrap_used)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

/// One step of a connection's script.
#[derive(Debug, Clone)]
pub enum Step {
    /// Send a text message.
    Send(String),
    /// Pause.
    Wait(Duration),
    /// Wait until the client has sent this many messages on this connection (its subscribes).
    AwaitClient(usize),
    /// Close with a Close frame (1001, as a venue going away), then end the connection.
    Close,
    /// Drop the TCP connection without a Close frame.
    Drop,
}

/// A REST answer: its body, after a delay.
#[derive(Debug, Clone)]
pub struct Answer {
    pub body: String,
    pub delay: Duration,
}

/// The stand-in's script: one list of steps per connection, in the order they connect (a
/// connection past the last list gets none and stays open), and REST answers by path prefix
/// (each path's answers in turn; the last repeats).
#[derive(Debug, Default)]
pub struct Script {
    pub sessions: Vec<Vec<Step>>,
    pub rest: Vec<(String, Vec<Answer>)>,
}

#[derive(Default)]
struct Shared {
    sessions: Mutex<VecDeque<Vec<Step>>>,
    rest: Mutex<Vec<(String, VecDeque<Answer>)>>,
    received: Mutex<Vec<String>>,
    paths: Mutex<Vec<String>>,
    connections: AtomicUsize,
}

/// A running stand-in.
pub struct Venue {
    pub ws: SocketAddr,
    pub rest: SocketAddr,
    shared: Arc<Shared>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Venue {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Venue {
    pub async fn start(script: Script) -> Self {
        let any = "127.0.0.1:0".parse().unwrap();
        Self::start_on(script, any, any).await
    }

    /// Starts on these addresses (port 0 picks one).
    pub async fn start_on(script: Script, ws: SocketAddr, rest: SocketAddr) -> Self {
        let shared = Arc::new(Shared {
            sessions: Mutex::new(script.sessions.into()),
            rest: Mutex::new(
                script
                    .rest
                    .into_iter()
                    .map(|(p, a)| (p, a.into()))
                    .collect(),
            ),
            ..Shared::default()
        });
        let ws = TcpListener::bind(ws).await.unwrap();
        let rest = TcpListener::bind(rest).await.unwrap();
        let (ws_addr, rest_addr) = (ws.local_addr().unwrap(), rest.local_addr().unwrap());
        let s = shared.clone();
        let ws_task = tokio::spawn(async move {
            while let Ok((tcp, _)) = ws.accept().await {
                let s = s.clone();
                tokio::spawn(async move { serve_ws(tcp, s).await });
            }
        });
        let s = shared.clone();
        let rest_task = tokio::spawn(async move {
            while let Ok((tcp, _)) = rest.accept().await {
                let s = s.clone();
                tokio::spawn(async move { serve_rest(tcp, s).await });
            }
        });
        Self {
            ws: ws_addr,
            rest: rest_addr,
            shared,
            tasks: vec![ws_task, rest_task],
        }
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}", self.ws)
    }

    pub fn rest_url(&self) -> String {
        format!("http://{}", self.rest)
    }

    /// Every text message clients sent, in order.
    pub fn received(&self) -> Vec<String> {
        self.shared.received.lock().unwrap().clone()
    }

    /// Every REST path asked for, in order.
    pub fn paths(&self) -> Vec<String> {
        self.shared.paths.lock().unwrap().clone()
    }

    /// WebSocket connections accepted so far.
    pub fn connections(&self) -> usize {
        self.shared.connections.load(Ordering::SeqCst)
    }
}

async fn serve_ws(tcp: tokio::net::TcpStream, shared: Arc<Shared>) {
    let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
        return;
    };
    shared.connections.fetch_add(1, Ordering::SeqCst);
    let steps = shared
        .sessions
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or_default();
    let mut heard = 0;
    for step in steps {
        match step {
            Step::Send(text) => {
                if ws.send(Message::text(text)).await.is_err() {
                    return;
                }
            }
            Step::Wait(pause) => {
                // Keep reading meanwhile, so pings are answered and subscribes recorded.
                let until = tokio::time::Instant::now() + pause;
                while let Ok(Some(Ok(message))) = tokio::time::timeout_at(until, ws.next()).await {
                    if let Message::Text(text) = message {
                        heard += 1;
                        shared.received.lock().unwrap().push(text.to_string());
                    }
                }
            }
            Step::AwaitClient(n) => {
                while heard < n {
                    match ws.next().await {
                        Some(Ok(Message::Text(text))) => {
                            heard += 1;
                            shared.received.lock().unwrap().push(text.to_string());
                        }
                        Some(Ok(_)) => {}
                        _ => return,
                    }
                }
            }
            Step::Close => {
                let _ = ws
                    .close(Some(tokio_tungstenite::tungstenite::protocol::CloseFrame {
                        code: 1001.into(),
                        reason: "going away".into(),
                    }))
                    .await;
                while let Some(Ok(_)) = ws.next().await {}
                return;
            }
            Step::Drop => return,
        }
    }
    // The script is over: stay connected, silent, until the client goes.
    while let Some(Ok(message)) = ws.next().await {
        if let Message::Text(text) = message {
            shared.received.lock().unwrap().push(text.to_string());
        }
    }
}

async fn serve_rest(mut tcp: tokio::net::TcpStream, shared: Arc<Shared>) {
    let mut head = Vec::new();
    let mut buf = [0_u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match tcp.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&head);
    let path = text.split_whitespace().nth(1).unwrap_or("/").to_owned();
    shared.paths.lock().unwrap().push(path.clone());
    let answer = {
        let mut rest = shared.rest.lock().unwrap();
        rest.iter_mut()
            .find(|(prefix, _)| path.starts_with(prefix.as_str()))
            .and_then(|(_, answers)| {
                if answers.len() > 1 {
                    answers.pop_front()
                } else {
                    answers.front().cloned()
                }
            })
    };
    let (status, body) = match answer {
        Some(answer) => {
            tokio::time::sleep(answer.delay).await;
            ("200 OK", answer.body)
        }
        None => (
            "400 Bad Request",
            r#"{"code":-1121,"msg":"Invalid symbol."}"#.to_owned(),
        ),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tcp.write_all(response.as_bytes()).await;
    let _ = tcp.shutdown().await;
}

/// REST answers that never change, by path prefix.
pub fn fixed(routes: &[(&str, String)]) -> Vec<(String, Vec<Answer>)> {
    routes
        .iter()
        .map(|(p, b)| {
            (
                (*p).to_owned(),
                vec![Answer {
                    body: b.clone(),
                    delay: Duration::ZERO,
                }],
            )
        })
        .collect()
}
