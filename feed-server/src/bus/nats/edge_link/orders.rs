//! An edge's orders, cancels and closes on their way to the core: sent by request with a reply
//! subject per tag, tried again when late, answered to the follower.

use std::time::Instant;

use async_nats::Subject;
use bytes::Bytes;
use protocol::{ClientMessage, RejectCode, encode_client, now_ns};

use super::super::{REQUEST_TIMEOUT, REQUEST_TRIES, wire};
use super::{Link, Pending};
use crate::bus::{ToCore, ToEdge};

impl Link {
    /// Sends the core an order, a cancel or a close of one of this edge's connections.
    pub(super) async fn request(&mut self, request: ToCore) {
        let (id, asked) = match request {
            ToCore::Order { id, order, .. } => (id, Some(ClientMessage::Order(order))),
            ToCore::Cancel { id, cancel, .. } => (id, Some(ClientMessage::Cancel(cancel))),
            ToCore::Close { id } => (id, None),
            // The core opens an account with a connection's first order.
            ToCore::Open { .. }
            | ToCore::State { .. }
            | ToCore::Replay { .. }
            | ToCore::Follow { .. }
            | ToCore::Unfollow { .. } => return,
        };
        let tag = self.next_tag;
        self.next_tag = self.next_tag.wrapping_add(1);
        let message = asked.as_ref().map(encode_client).unwrap_or_default();
        let body = Bytes::from(wire::put_request(self.edge, id, tag, message.as_bytes()));
        let now = Instant::now();
        self.pending.insert(
            tag,
            Pending {
                id,
                body,
                tries: 0,
                deadline: now,
                sent: now,
                asked,
            },
        );
        self.try_send(tag).await;
    }

    async fn try_send(&mut self, tag: u64) {
        let Some(pending) = self.pending.get_mut(&tag) else {
            return;
        };
        pending.tries += 1;
        pending.deadline = Instant::now() + REQUEST_TIMEOUT;
        let reply = Subject::from(format!("{}.{tag}", self.replies));
        let _ = self
            .client
            .publish_with_reply(self.settings.subjects.orders(), reply, pending.body.clone())
            .await;
    }

    /// Tries again what the core has not answered in time; past [`REQUEST_TRIES`], an order or
    /// cancel is rejected as `unavailable`.
    pub(super) async fn retry(&mut self) {
        let now = Instant::now();
        let late: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(&tag, _)| tag)
            .collect();
        for tag in late {
            let tries = self.pending.get(&tag).map_or(0, |p| p.tries);
            if tries < REQUEST_TRIES {
                self.try_send(tag).await;
                continue;
            }
            let Some(pending) = self.pending.remove(&tag) else {
                continue;
            };
            let (order_id, sent_ns) = match &pending.asked {
                Some(ClientMessage::Order(o)) => (o.id.clone(), o.sent_ns),
                Some(ClientMessage::Cancel(c)) => (c.id.clone(), c.sent_ns),
                _ => {
                    tracing::warn!(
                        conn = pending.id,
                        "the core did not confirm a connection's close"
                    );
                    continue;
                }
            };
            tracing::warn!(
                conn = pending.id,
                "the core did not answer an order in time"
            );
            let reject = crate::market::reject(
                &order_id,
                RejectCode::Unavailable,
                "the market core did not answer in time; the order may not have reached it"
                    .to_owned(),
                sent_ns,
                now_ns(),
            );
            let _ = self
                .to_follower
                .send(ToEdge::Answers {
                    id: pending.id,
                    tag: 0,
                    answers: vec![reject],
                })
                .await;
        }
    }

    pub(super) async fn on_answer(&mut self, answer: &async_nats::Message) {
        let Some(tag) = answer
            .subject
            .rsplit('.')
            .next()
            .and_then(|t| t.parse::<u64>().ok())
        else {
            return;
        };
        let Some(pending) = self.pending.remove(&tag) else {
            // A retry's second answer.
            return;
        };
        if pending.asked.is_none() {
            return;
        }
        self.metrics
            .bus_round_trip
            .observe(pending.sent.elapsed().as_secs_f64());
        let answers = match self.decoder.server(&answer.payload) {
            Ok(answers) => answers,
            Err(e) => {
                tracing::warn!("the core's answer cannot be read: {e}");
                return;
            }
        };
        let _ = self
            .to_follower
            .send(ToEdge::Answers {
                id: pending.id,
                tag: 0,
                answers,
            })
            .await;
    }

    pub(super) async fn on_fill(&mut self, body: &[u8]) {
        let Ok((conn, message)) = wire::fill(body) else {
            return;
        };
        let Ok(mut fills) = self.decoder.server(message) else {
            return;
        };
        if let Some(fill) = fills.pop() {
            let _ = self
                .to_follower
                .send(ToEdge::Fill {
                    id: conn,
                    fill: Box::new(fill),
                })
                .await;
        }
    }
}
