//! The session's orders: sent from the form, then acked, filled, rejected, canceled or lost.

use std::time::Duration;

use protocol::{Ack, Decimal, Fill, Reject, RejectCode, Side, Symbol};

/// Lifecycle of an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderStatus {
    Sent,
    Acked,
    PartiallyFilled,
    Filled,
    Rejected(String),
    Canceled,
    /// Open when the connection closed: the server drops a connection's resting orders with it,
    /// so after a reconnect it no longer holds them.
    Lost,
}

impl OrderStatus {
    pub fn is_open(&self) -> bool {
        matches!(self, Self::Sent | Self::Acked | Self::PartiallyFilled)
    }
}

/// One order of this session.
#[derive(Debug, Clone)]
pub struct OrderRow {
    pub id: String,
    pub symbol: Symbol,
    pub side: Side,
    pub qty: Decimal,
    pub price: Option<Decimal>,
    pub status: OrderStatus,
    pub filled: Decimal,
    notional: Decimal,
    pub sent_ns: u64,
    /// Send to ack (or reject).
    pub rtt: Option<Duration>,
}

impl OrderRow {
    pub fn avg_price(&self) -> Option<Decimal> {
        if self.filled.is_zero() {
            return None;
        }
        self.notional
            .checked_div(self.filled)
            .map(|p| p.round_dp(4).normalize())
    }
}

/// A reject for people: the code in words, then the server's own explanation, in full.
pub fn reason(r: &Reject) -> String {
    let code = match r.code {
        RejectCode::UnknownSymbol => "unknown symbol",
        RejectCode::BadQuantity => "bad quantity",
        RejectCode::BadPrice => "bad price",
        RejectCode::DuplicateId => "duplicate id",
        RejectCode::TooManyOpenOrders => "too many open orders",
        RejectCode::RateLimited => "rate limited",
        RejectCode::UnknownOrder => "unknown order",
        RejectCode::NoLiquidity => "no liquidity",
        RejectCode::BadId => "bad id",
        RejectCode::Unauthorized => "unauthorized (start the terminal with --token)",
        RejectCode::Unavailable => "market unavailable (try again)",
        RejectCode::Other => "rejected",
    };
    if r.reason.is_empty() {
        code.to_owned()
    } else {
        format!("{code}: {}", r.reason)
    }
}

/// Every order of the session and the selection.
#[derive(Debug, Default)]
pub struct Orders {
    pub rows: Vec<OrderRow>,
    pub selected: usize,
    next: u64,
}

impl Orders {
    /// Records a new order as sent; returns its id.
    pub fn add(
        &mut self,
        symbol: Symbol,
        side: Side,
        qty: Decimal,
        price: Option<Decimal>,
        sent_ns: u64,
    ) -> String {
        self.next += 1;
        let id = format!("t-{}", self.next);
        self.rows.push(OrderRow {
            id: id.clone(),
            symbol,
            side,
            qty,
            price,
            status: OrderStatus::Sent,
            filled: Decimal::ZERO,
            notional: Decimal::ZERO,
            sent_ns,
            rtt: None,
        });
        self.selected = self.rows.len() - 1;
        id
    }

    pub fn get_mut(&mut self, id: &str) -> Option<&mut OrderRow> {
        self.rows.iter_mut().rev().find(|o| o.id == id)
    }

    pub fn selected_row(&self) -> Option<&OrderRow> {
        self.rows.get(self.selected)
    }

    /// An ack: returns the round trip (ns) to record, if the order is ours.
    pub fn ack(&mut self, a: &Ack, received_ns: u64) -> Option<u64> {
        let o = self.get_mut(&a.id)?;
        o.status = OrderStatus::Acked;
        let rtt = received_ns.saturating_sub(o.sent_ns);
        o.rtt = Some(Duration::from_nanos(rtt));
        Some(rtt)
    }

    /// A reject: returns the round trip (ns) to record, if it answers an order of ours.
    pub fn reject(&mut self, r: &Reject, received_ns: u64) -> Option<u64> {
        let o = self.get_mut(&r.id)?;
        if o.status != OrderStatus::Sent {
            return None;
        }
        o.status = OrderStatus::Rejected(reason(r));
        let rtt = received_ns.saturating_sub(r.sent_ns.unwrap_or(o.sent_ns));
        o.rtt = Some(Duration::from_nanos(rtt));
        Some(rtt)
    }

    pub fn fill(&mut self, f: &Fill) {
        if let Some(o) = self.get_mut(&f.id) {
            o.filled = o.filled.saturating_add(f.qty);
            o.notional = f
                .qty
                .checked_mul(f.price)
                .and_then(|n| o.notional.checked_add(n))
                .unwrap_or(Decimal::MAX);
            o.status = if f.leaves.is_zero() {
                OrderStatus::Filled
            } else {
                OrderStatus::PartiallyFilled
            };
        }
    }

    pub fn canceled(&mut self, id: &str) {
        if let Some(o) = self.get_mut(id) {
            o.status = OrderStatus::Canceled;
        }
    }

    /// The connection closed: the server drops this connection's orders with it.
    pub fn connection_lost(&mut self) {
        for order in &mut self.rows {
            match order.status {
                OrderStatus::Sent => {
                    order.status = OrderStatus::Rejected("connection lost before the ack".into());
                }
                OrderStatus::Acked | OrderStatus::PartiallyFilled => {
                    order.status = OrderStatus::Lost;
                }
                _ => {}
            }
        }
    }

    pub fn not_sent(&mut self, id: &str) {
        if let Some(order) = self.get_mut(id) {
            order.status = OrderStatus::Rejected("not connected".into());
        }
    }

    /// Moves the selection `by` rows down (negative: up), within bounds.
    pub fn move_selection(&mut self, by: isize) {
        let last = self.rows.len().saturating_sub(1);
        self.selected = self.selected.saturating_add_signed(by).min(last);
    }
}
