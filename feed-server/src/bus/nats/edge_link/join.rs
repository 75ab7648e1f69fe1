//! Joining the core: its hello and every symbol's state, and the requests that wait longer than
//! orders do.

use std::time::Duration;

use async_nats::Client;
use bytes::Bytes;
use tokio_util::sync::CancellationToken;

use super::super::hello::Hello;
use super::super::{BusSettings, SYNC_TIMEOUT, wire};
use crate::feed::universe::Universe;
use crate::market::MarketState;

/// Why joining the core failed.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    #[error("the bus: {0}")]
    Bus(String),
    #[error("the core's answer: {0}")]
    Answer(String),
}

/// What an edge learned from the core when it joined.
pub struct Joined {
    pub hello: Hello,
    pub universe: Option<Universe>,
    pub states: Vec<MarketState>,
}

/// Joins the core: its hello, then every symbol's state. Asks again until the core answers or
/// `shutdown`.
pub async fn join(
    client: &Client,
    settings: &BusSettings,
    shutdown: &CancellationToken,
) -> Result<Option<Joined>, JoinError> {
    let subjects = &settings.subjects;
    let hello = loop {
        let asked = tokio::time::timeout(
            SYNC_TIMEOUT,
            sync_request(client, subjects.hello(), Bytes::new()),
        );
        tokio::select! {
            () = shutdown.cancelled() => return Ok(None),
            answer = asked => {
                if let Ok(Ok(message)) = answer {
                    break serde_json::from_slice::<Hello>(&message.payload)
                        .map_err(|e| JoinError::Answer(format!("hello: {e}")))?;
                }
                tracing::info!("waiting for the market core on the bus");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    };
    let universe = hello.universe().map_err(JoinError::Answer)?;
    let states = states(client, settings, universe.len(), 0, usize::MAX).await?;
    Ok(Some(Joined {
        hello,
        universe: Some(universe),
        states,
    }))
}

/// A request for the core's hello, states or history: these wait [`SYNC_TIMEOUT`], not the
/// short timeout of orders.
pub(super) async fn sync_request(
    client: &Client,
    subject: String,
    body: Bytes,
) -> Result<async_nats::Message, async_nats::RequestError> {
    let request = async_nats::Request::new()
        .payload(body)
        .timeout(Some(SYNC_TIMEOUT));
    client.send_request(subject, request).await
}

/// The states of symbols `first..` (at most `count`), page by page.
pub(super) async fn states(
    client: &Client,
    settings: &BusSettings,
    total: usize,
    first: usize,
    count: usize,
) -> Result<Vec<MarketState>, JoinError> {
    let mut out = Vec::new();
    let mut next = first;
    while next < total && out.len() < count {
        let body = Bytes::copy_from_slice(&u32::try_from(next).unwrap_or(0).to_le_bytes());
        let answer = tokio::time::timeout(
            SYNC_TIMEOUT,
            sync_request(client, settings.subjects.state(), body),
        )
        .await
        .map_err(|_| JoinError::Bus("no state from the core in time".to_owned()))?
        .map_err(|e| JoinError::Bus(e.to_string()))?;
        let page = wire::states(&answer.payload).map_err(|e| JoinError::Answer(e.to_string()))?;
        if page.total != total || page.first != next || page.page.is_empty() {
            return Err(JoinError::Answer(format!(
                "a page of states for {} symbols from {} (asked for {total} from {next})",
                page.total, page.first
            )));
        }
        next = next.saturating_add(page.page.len());
        out.extend(page.page);
    }
    out.truncate(count);
    Ok(out)
}
