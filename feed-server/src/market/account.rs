//! One connection's trading state: its open orders, the ids it used, its order rate.

use std::collections::{HashMap, HashSet, VecDeque};

use protocol::OrderId;

use crate::rate::TokenBucket;

/// Identifies a connection to the market: accounts are kept, and answers and fills addressed,
/// by it. The edge that owns the connection gives it its number.
pub type ConnId = u64;

/// How many past order ids per connection are remembered to refuse duplicates.
const REMEMBERED_IDS: usize = 10_000;

/// Per-connection limits (`--max-order-qty`, `--max-open-orders`, `--max-order-rate`).
#[derive(Debug, Clone, Copy)]
#[allow(clippy::struct_field_names)] // each is a maximum, named as its flag
pub struct Limits {
    pub max_qty: i64,
    pub max_open: usize,
    pub max_rate: u32,
}

/// A connection's trading state: its open orders, recent ids and rate budget.
#[derive(Debug)]
pub struct Account {
    /// Resting orders by client id, with their symbol.
    pub(super) open: HashMap<OrderId, usize>,
    recent: VecDeque<OrderId>,
    pub(super) recent_set: HashSet<OrderId>,
    /// `--max-order-rate`: orders and cancels per second.
    rate: TokenBucket,
}

impl Account {
    pub fn new(limits: Limits, now_ns: u64) -> Self {
        Self {
            open: HashMap::new(),
            recent: VecDeque::new(),
            recent_set: HashSet::new(),
            rate: TokenBucket::new(limits.max_rate, now_ns),
        }
    }

    pub(super) fn take_token(&mut self, now_ns: u64) -> bool {
        self.rate.take(now_ns)
    }

    pub(super) fn remember(&mut self, id: &OrderId) {
        if self.recent_set.insert(id.clone()) {
            self.recent.push_back(id.clone());
            if self.recent.len() > REMEMBERED_IDS
                && let Some(old) = self.recent.pop_front()
            {
                self.recent_set.remove(&old);
            }
        }
    }
}
