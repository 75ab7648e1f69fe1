//! The order simulator: the order ledger (every connection's [`Account`] and the resting orders of
//! every symbol), validation against per-connection limits, and fills against the synthetic
//! book. Every answer it makes is addressed to a connection and counted where it is made.
//!
//! Orders match against the symbol's order book as the market holds it: a market order takes
//! level after level from the touch, one `fill` per level at that level's price, and what the
//! whole book cannot fill is canceled with a reason; a limit order that crosses fills the same way
//! up to its limit and rests with the remainder; a resting order fills in full at its limit price
//! once the market touches it or trades through it. Orders do not change the public book: every
//! client trades against the same simulated market, which moves only with its source.

use std::collections::HashMap;
use std::sync::Arc;

use protocol::grid::{self, OffGrid};
use protocol::{
    Ack, Cancel, Canceled, Decimal, Fill, Order, OrderId, Reject, RejectCode, ServerMessage, Side,
};

use super::account::{Account, ConnId, Limits};
use super::state::Market;
use crate::metrics::Metrics;

#[derive(Debug, Clone)]
struct Resting {
    conn: ConnId,
    id: OrderId,
    order_id: String,
    side: Side,
    limit: i64,
    leaves: i64,
}

/// The order ledger and the server's order id counter.
#[derive(Debug)]
pub struct Matching {
    accounts: HashMap<ConnId, Account>,
    books: Vec<Vec<Resting>>,
    /// Each symbol's lot size: quantities are whole lots inside, decimals on the wire.
    lots: Vec<Decimal>,
    next_order_id: u64,
    limits: Limits,
    metrics: Arc<Metrics>,
}

/// A `reject` of an order or cancel: the one way every part of the server builds one.
pub fn reject(
    order_id: &OrderId,
    code: RejectCode,
    reason: String,
    sent_ns: Option<u64>,
    now: u64,
) -> ServerMessage {
    ServerMessage::Reject(Reject {
        id: order_id.clone(),
        code,
        reason,
        sent_ns,
        ts_ns: now,
    })
}

impl Matching {
    /// A simulator for symbols with these lot sizes (one per symbol, in universe order).
    pub fn new(lots: Vec<Decimal>, limits: Limits, metrics: Arc<Metrics>) -> Self {
        Self {
            accounts: HashMap::new(),
            books: vec![Vec::new(); lots.len()],
            lots,
            next_order_id: 0,
            limits,
            metrics,
        }
    }

    /// Opens an account for a new connection (a fresh one if the id was in use).
    pub fn open(&mut self, conn: ConnId, now: u64) {
        self.close(conn);
        self.accounts.insert(conn, Account::new(self.limits, now));
    }

    /// Closes a connection's account: its resting orders are gone with it.
    pub fn close(&mut self, conn: ConnId) {
        if let Some(account) = self.accounts.remove(&conn) {
            for &symbol in account.open.values() {
                self.books[symbol].retain(|r| r.conn != conn);
            }
        }
    }

    /// Resting orders of a connection.
    #[cfg(test)]
    pub fn open_orders(&self, conn: ConnId) -> usize {
        self.accounts.get(&conn).map_or(0, |a| a.open.len())
    }

    /// Handles a new order; the first message returned is always its `ack` or `reject`. Nothing
    /// for a connection without an account.
    pub fn submit(
        &mut self,
        conn: ConnId,
        symbol: Option<usize>,
        markets: &[Market],
        order: &Order,
        now: u64,
    ) -> Vec<ServerMessage> {
        let out = self.place(conn, symbol, markets, order, now);
        for message in &out {
            self.metrics.answered(message);
        }
        out
    }

    fn place(
        &mut self,
        conn: ConnId,
        symbol: Option<usize>,
        markets: &[Market],
        order: &Order,
        now: u64,
    ) -> Vec<ServerMessage> {
        let Some(account) = self.accounts.get_mut(&conn) else {
            return Vec::new();
        };
        let r = |code, reason: String| vec![reject(&order.id, code, reason, order.sent_ns, now)];
        if !account.take_token(now) {
            return r(
                RejectCode::RateLimited,
                format!("more than {} orders per second", self.limits.max_rate),
            );
        }
        let Some(symbol) = symbol else {
            return r(
                RejectCode::UnknownSymbol,
                format!("unknown symbol `{}`", order.symbol),
            );
        };
        let market = &markets[symbol];
        let qty = match whole_lots(order.qty, market.instrument.lot_size, self.limits.max_qty) {
            Ok(q) => q,
            Err(why) => return r(RejectCode::BadQuantity, why),
        };
        let limit = match order.price {
            None => None,
            Some(price) => match on_grid(price, market.instrument.tick_size) {
                Ok(ticks) => Some(ticks),
                Err(why) => return r(RejectCode::BadPrice, why),
            },
        };
        if account.open.contains_key(&order.id) || account.recent_set.contains(&order.id) {
            return r(
                RejectCode::DuplicateId,
                format!(
                    "order id `{}` was already used on this connection",
                    order.id
                ),
            );
        }
        let opposite = order.side.opposite();
        if limit.is_none() && market.book.len(opposite) == 0 {
            return r(
                RejectCode::NoLiquidity,
                format!(
                    "{}'s book has no {} to trade against",
                    order.symbol,
                    if opposite == Side::Sell {
                        "asks"
                    } else {
                        "bids"
                    }
                ),
            );
        }
        if limit.is_some() && account.open.len() >= self.limits.max_open {
            return r(
                RejectCode::TooManyOpenOrders,
                format!(
                    "{} orders already open (the limit per connection)",
                    account.open.len()
                ),
            );
        }
        account.remember(&order.id);
        self.next_order_id += 1;
        let order_id = format!("o-{}", self.next_order_id);
        let mut out = vec![ServerMessage::Ack(Ack {
            id: order.id.clone(),
            order_id: order_id.clone(),
            sent_ns: order.sent_ns,
            ts_ns: now,
        })];
        let mut leaves = qty;
        sweep(
            market,
            order.side,
            limit,
            &mut leaves,
            |price, filled, leaves| {
                out.push(ServerMessage::Fill(Fill {
                    id: order.id.clone(),
                    order_id: order_id.clone(),
                    price: market.price(price),
                    qty: market.size(filled),
                    leaves: market.size(leaves),
                    ts_ns: now,
                }));
            },
        );
        if leaves > 0 {
            match limit {
                Some(limit) => {
                    account.open.insert(order.id.clone(), symbol);
                    self.books[symbol].push(Resting {
                        conn,
                        id: order.id.clone(),
                        order_id,
                        side: order.side,
                        limit,
                        leaves,
                    });
                }
                // A market order that walked the whole book: the rest is canceled.
                None => out.push(ServerMessage::Canceled(Canceled {
                    id: order.id.clone(),
                    order_id,
                    leaves: market.size(leaves),
                    ts_ns: now,
                    reason: Some(format!(
                        "the book held {} at {} levels; the rest is canceled",
                        market.size(qty.saturating_sub(leaves)),
                        market.book.len(opposite)
                    )),
                })),
            }
        }
        out
    }

    /// Cancels a resting order of this connection; `None` for a connection without an account.
    pub fn cancel(&mut self, conn: ConnId, cancel: &Cancel, now: u64) -> Option<ServerMessage> {
        let answer = self.take_back(conn, cancel, now)?;
        self.metrics.answered(&answer);
        Some(answer)
    }

    fn take_back(&mut self, conn: ConnId, cancel: &Cancel, now: u64) -> Option<ServerMessage> {
        let account = self.accounts.get_mut(&conn)?;
        if !account.take_token(now) {
            return Some(reject(
                &cancel.id,
                RejectCode::RateLimited,
                format!("more than {} orders per second", self.limits.max_rate),
                cancel.sent_ns,
                now,
            ));
        }
        let Some(symbol) = account.open.remove(&cancel.id) else {
            return Some(reject(
                &cancel.id,
                RejectCode::UnknownOrder,
                format!(
                    "no open order `{}` (never sent, filled or canceled)",
                    cancel.id
                ),
                cancel.sent_ns,
                now,
            ));
        };
        let book = &mut self.books[symbol];
        Some(
            match book
                .iter()
                .position(|r| r.conn == conn && r.id == cancel.id)
            {
                Some(i) => {
                    let r = book.swap_remove(i);
                    ServerMessage::Canceled(Canceled {
                        id: r.id,
                        order_id: r.order_id,
                        leaves: Decimal::from(r.leaves)
                            .checked_mul(self.lots[symbol])
                            .unwrap_or(Decimal::MAX),
                        ts_ns: now,
                        reason: None,
                    })
                }
                None => reject(
                    &cancel.id,
                    RejectCode::UnknownOrder,
                    format!("no open order `{}`", cancel.id),
                    cancel.sent_ns,
                    now,
                ),
            },
        )
    }

    /// Fills resting orders that the market has reached after an event on `symbol`: each fill
    /// leaves its owner's account and goes to `fill`, addressed to the owner's connection.
    pub fn on_market(
        &mut self,
        symbol: usize,
        market: &Market,
        traded: Option<i64>,
        now: u64,
        mut fill: impl FnMut(ConnId, ServerMessage),
    ) {
        let Some(book) = self.books.get_mut(symbol) else {
            return;
        };
        if book.is_empty() {
            return;
        }
        let (accounts, metrics) = (&mut self.accounts, &self.metrics);
        book.retain(|r| {
            let touched = match r.side {
                Side::Buy => market.ask <= r.limit || traded.is_some_and(|p| p <= r.limit),
                Side::Sell => market.bid >= r.limit || traded.is_some_and(|p| p >= r.limit),
            };
            if touched {
                let message = ServerMessage::Fill(Fill {
                    id: r.id.clone(),
                    order_id: r.order_id.clone(),
                    price: market.price(r.limit),
                    qty: market.size(r.leaves),
                    leaves: Decimal::ZERO,
                    ts_ns: now,
                });
                if let Some(account) = accounts.get_mut(&r.conn) {
                    account.open.remove(&r.id);
                }
                metrics.answered(&message);
                fill(r.conn, message);
            }
            !touched
        });
    }
}

/// Walks the book's levels on the side opposite `side` from the touch, as far as `limit` allows,
/// calling `on_fill(price, qty, leaves)` per level.
fn sweep(
    market: &Market,
    side: Side,
    limit: Option<i64>,
    leaves: &mut i64,
    mut on_fill: impl FnMut(i64, i64, i64),
) {
    for (price, size) in market.book.side(side.opposite()) {
        if *leaves == 0 {
            break;
        }
        let within = match (side, limit) {
            (_, None) => price > 0,
            (Side::Buy, Some(l)) => price <= l,
            (Side::Sell, Some(l)) => price >= l && price > 0,
        };
        if !within {
            break;
        }
        let filled = size.min(*leaves);
        *leaves -= filled;
        on_fill(price, filled, *leaves);
    }
}

/// A client quantity as a whole number of lots (shares, for equities). `max` is in the
/// instrument's units (shares, coins), whatever its lot: 1.5 BTC on a 10^-8 lot is 1.5.
fn whole_lots(qty: Decimal, lot: Decimal, max: i64) -> Result<i64, String> {
    if qty <= Decimal::ZERO {
        return Err(format!("quantity {qty} must be positive"));
    }
    if qty > Decimal::from(max) {
        return Err(format!("quantity {qty} is over the limit of {max}"));
    }
    match grid::units(qty, lot) {
        Ok(q) => Ok(q),
        Err(OffGrid::NotMultiple) if lot == Decimal::ONE => {
            Err(format!("quantity {qty} must be a whole number of shares"))
        }
        Err(OffGrid::NotMultiple) => Err(format!(
            "quantity {qty} is not a multiple of the lot size {lot}"
        )),
        _ => Err(format!("quantity {qty} is over the limit of {max}")),
    }
}

/// A client price as a whole number of ticks, at most [`grid::MAX_UNITS`]: far above any real
/// price, and small enough that every sum the simulator makes with it stays exact.
fn on_grid(price: Decimal, tick: Decimal) -> Result<i64, String> {
    if price <= Decimal::ZERO {
        return Err(format!("price {price} must be positive"));
    }
    match grid::units(price, tick) {
        Ok(ticks) => Ok(ticks),
        Err(OffGrid::NotMultiple) => Err(format!(
            "price {price} is not a multiple of the tick size {tick}"
        )),
        Err(_) => Err(format!("price {price} is out of range")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feed::SymbolChoice;
    use crate::feed::universe::Universe;
    use std::str::FromStr;

    const LIMITS: Limits = Limits {
        max_qty: 10_000,
        max_open: 2,
        max_rate: 5,
    };

    fn setup() -> (Matching, Vec<Market>) {
        let u = Universe::new(&SymbolChoice::Default, 1);
        let mut m = Market::new(u.instruments[0].clone(), 0);
        (m.bid, m.ask) = (10_000, 10_001);
        m.bid_size = 100;
        m.ask_size = 200;
        // That touch and levels behind it, three a side.
        m.book = crate::market::book::Ladder::default();
        for (side, price, size) in [
            (Side::Buy, 10_000, 100),
            (Side::Buy, 9_999, 300),
            (Side::Buy, 9_997, 500),
            (Side::Sell, 10_001, 200),
            (Side::Sell, 10_002, 300),
            (Side::Sell, 10_004, 400),
        ] {
            m.book.set(side, price, size);
        }
        let mut x = Matching::new(vec![Decimal::ONE], LIMITS, Arc::default());
        x.open(1, 0);
        (x, vec![m])
    }

    fn order(id: &str, side: Side, qty: &str, price: Option<&str>) -> Order {
        Order {
            id: id.into(),
            symbol: "AAPL".into(),
            side,
            qty: Decimal::from_str(qty).unwrap(),
            price: price.map(|p| Decimal::from_str(p).unwrap()),
            sent_ns: Some(42),
        }
    }

    fn code(m: &ServerMessage) -> Option<RejectCode> {
        if let ServerMessage::Reject(r) = m {
            Some(r.code)
        } else {
            None
        }
    }

    #[test]
    fn absurd_prices_are_rejected_not_panicked_on() {
        let (mut x, m) = setup();
        for (i, price) in [
            "79228162514264337593543950335",
            "-79228162514264337593543950335",
            "0.0000000000000000000000000001",
            "10000000000000000",
        ]
        .into_iter()
        .enumerate()
        {
            let out = x.submit(
                1,
                Some(0),
                &m,
                &order(&format!("p{i}"), Side::Buy, "1", Some(price)),
                1,
            );
            assert_eq!(code(&out[0]), Some(RejectCode::BadPrice), "{price}");
        }
    }

    #[test]
    fn a_market_buy_walks_the_book_level_by_level() {
        let (mut x, m) = setup();
        let out = x.submit(1, Some(0), &m, &order("c1", Side::Buy, "500", None), 1);
        assert!(matches!(&out[0], ServerMessage::Ack(ack) if ack.sent_ns == Some(42)));
        let fills: Vec<(String, String, String)> = out[1..]
            .iter()
            .map(|f| match f {
                ServerMessage::Fill(f) => {
                    (f.price.to_string(), f.qty.to_string(), f.leaves.to_string())
                }
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            fills,
            [
                ("100.01".into(), "200".into(), "300".into()),
                ("100.02".into(), "300".into(), "0".into())
            ]
        );
    }

    /// A fill as (price, qty, leaves), in text.
    type FillText = (String, String, String);

    /// The fills of an answer, and what was canceled, with why.
    fn answers(out: &[ServerMessage]) -> (Vec<FillText>, Option<(String, String)>) {
        let mut fills = Vec::new();
        let mut canceled = None;
        for m in out {
            match m {
                ServerMessage::Fill(f) => {
                    fills.push((f.price.to_string(), f.qty.to_string(), f.leaves.to_string()));
                }
                ServerMessage::Canceled(c) => {
                    canceled = Some((c.leaves.to_string(), c.reason.clone().unwrap_or_default()));
                }
                _ => {}
            }
        }
        (fills, canceled)
    }

    #[test]
    fn an_order_larger_than_the_book_fills_what_is_there_and_the_rest_is_canceled() {
        let (mut x, m) = setup();
        let out = x.submit(1, Some(0), &m, &order("c1", Side::Buy, "2000", None), 1);
        let (fills, canceled) = answers(&out);
        assert_eq!(
            fills,
            [
                ("100.01".into(), "200".into(), "1800".into()),
                ("100.02".into(), "300".into(), "1500".into()),
                ("100.04".into(), "400".into(), "1100".into()),
            ]
        );
        let (leaves, reason) = canceled.unwrap();
        assert_eq!(leaves, "1100");
        assert!(
            reason.contains("900") && reason.contains("3 levels"),
            "{reason}"
        );
        // The fills add up to the book's own notional: 90,024 for 900, an average of 100.0267.
        let notional: Decimal = [("100.01", 200), ("100.02", 300), ("100.04", 400)]
            .iter()
            .map(|(p, q)| Decimal::from_str(p).unwrap() * Decimal::from(*q))
            .sum();
        assert_eq!(notional, Decimal::from(90_024));
    }

    #[test]
    fn a_crossing_limit_fills_up_to_its_price_and_rests_the_rest() {
        let (mut x, m) = setup();
        let out = x.submit(
            1,
            Some(0),
            &m,
            &order("c1", Side::Buy, "600", Some("100.02")),
            1,
        );
        let (fills, canceled) = answers(&out);
        assert_eq!(
            fills,
            [
                ("100.01".into(), "200".into(), "400".into()),
                ("100.02".into(), "300".into(), "100".into()),
            ]
        );
        assert_eq!(canceled, None);
        assert_eq!(x.open_orders(1), 1, "100 rests at 100.02");
        // A sell walks the bids, skipping the empty 99.98.
        let out = x.submit(1, Some(0), &m, &order("c2", Side::Sell, "700", None), 1);
        let (fills, _) = answers(&out);
        assert_eq!(
            fills,
            [
                ("100.00".into(), "100".into(), "600".into()),
                ("99.99".into(), "300".into(), "300".into()),
                ("99.97".into(), "300".into(), "0".into()),
            ]
        );
    }

    #[test]
    fn a_market_order_against_an_empty_side_is_refused() {
        let (mut x, mut m) = setup();
        m[0].book = crate::market::book::Ladder::default();
        let out = x.submit(1, Some(0), &m, &order("c1", Side::Buy, "10", None), 1);
        assert_eq!(code(&out[0]), Some(RejectCode::NoLiquidity));
    }

    #[test]
    fn a_passive_limit_rests_then_fills_at_its_price_when_touched() {
        let (mut x, mut m) = setup();
        let out = x.submit(
            1,
            Some(0),
            &m,
            &order("c1", Side::Buy, "100", Some("99.50")),
            1,
        );
        assert_eq!(out.len(), 1);
        assert_eq!(x.open_orders(1), 1);
        let mut fills = Vec::new();
        x.on_market(0, &m[0], None, 2, |c, f| fills.push((c, f)));
        assert!(fills.is_empty());
        m[0].ask = 9_950;
        x.on_market(0, &m[0], None, 3, |c, f| fills.push((c, f)));
        assert_eq!(fills.len(), 1);
        let ServerMessage::Fill(f) = &fills[0].1 else {
            panic!()
        };
        assert_eq!(
            (f.price.to_string(), f.leaves),
            ("99.50".to_string(), Decimal::ZERO)
        );
    }

    #[test]
    fn cancel_removes_a_resting_order_once() {
        let (mut x, m) = setup();
        x.submit(
            1,
            Some(0),
            &m,
            &order("c1", Side::Sell, "100", Some("101.00")),
            1,
        );
        let c = Cancel {
            id: "c1".into(),
            sent_ns: None,
        };
        assert!(
            matches!(x.cancel(1, &c, 2), Some(ServerMessage::Canceled(c)) if c.leaves == Decimal::from(100))
        );
        assert_eq!(
            code(&x.cancel(1, &c, 3).unwrap()),
            Some(RejectCode::UnknownOrder)
        );
    }

    #[test]
    fn every_rule_has_its_reject() {
        let (mut x, m) = setup();
        let mut go = |o: Order, sym: Option<usize>| code(&x.submit(1, sym, &m, &o, 1)[0]);
        assert_eq!(
            go(order("a", Side::Buy, "1", None), None),
            Some(RejectCode::UnknownSymbol)
        );
        assert_eq!(
            go(order("b", Side::Buy, "0", None), Some(0)),
            Some(RejectCode::BadQuantity)
        );
        assert_eq!(
            go(order("c", Side::Buy, "1.5", None), Some(0)),
            Some(RejectCode::BadQuantity)
        );
        assert_eq!(
            go(order("d", Side::Buy, "10001", None), Some(0)),
            Some(RejectCode::BadQuantity)
        );
        assert_eq!(
            go(order("e", Side::Buy, "1", Some("99.995")), Some(0)),
            Some(RejectCode::BadPrice)
        );
        assert_eq!(
            go(order("f", Side::Buy, "1", None), Some(0)),
            Some(RejectCode::RateLimited)
        );
        let (mut x, m) = setup();
        let mut go = |o: Order| code(&x.submit(1, Some(0), &m, &o, 1)[0]);
        assert_eq!(
            go(order("e", Side::Buy, "1", Some("99.995"))),
            Some(RejectCode::BadPrice)
        );
        assert_eq!(
            go(order("f", Side::Buy, "1", Some("-1"))),
            Some(RejectCode::BadPrice)
        );
        assert_eq!(go(order("g", Side::Buy, "1", Some("90.00"))), None);
        assert_eq!(
            go(order("g", Side::Buy, "1", Some("90.00"))),
            Some(RejectCode::DuplicateId)
        );
        assert_eq!(go(order("h", Side::Buy, "1", Some("90.00"))), None);
        let (mut x, m) = setup();
        for id in ["1", "2"] {
            x.submit(1, Some(0), &m, &order(id, Side::Buy, "1", Some("90.00")), 1);
        }
        assert_eq!(
            code(
                &x.submit(
                    1,
                    Some(0),
                    &m,
                    &order("3", Side::Buy, "1", Some("90.00")),
                    1
                )[0]
            ),
            Some(RejectCode::TooManyOpenOrders)
        );
    }
}
