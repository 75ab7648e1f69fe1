//! Application state and the pure functions that change it.
//!
//! [`State::apply`] takes a network event and [`State::handle`] a user action; both change state
//! and return the client messages to send, doing no I/O themselves, so they are unit-tested with
//! plain values. Rendering (in `ui`) only borrows the state.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use protocol::{
    Cancel, ClientMessage, Decimal, Order, ServerMessage, Side, Subscribe, Symbol, Unsubscribe,
    now_ns,
};

use crate::action::Action;
use rust_decimal::prelude::ToPrimitive;

use crate::latency::{LatencyStats, RateMeter, Summary};

/// Prices kept per symbol for the chart.
pub const HISTORY: usize = 600;
/// How long a changed value stays highlighted.
pub const FLASH: Duration = Duration::from_millis(400);

/// What the network task reports.
#[derive(Debug, Clone)]
pub enum NetEvent {
    Connecting {
        attempt: u32,
    },
    Connected {
        protocol: String,
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

/// The connection as the status bar shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connection {
    Connecting {
        attempt: u32,
    },
    Connected,
    Reconnecting {
        at: Instant,
        code: Option<u16>,
        reason: String,
    },
}

/// Direction of the last change, for colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    Up,
    Down,
    #[default]
    Flat,
}

/// One watchlist row.
#[derive(Debug, Clone)]
pub struct Row {
    pub symbol: Symbol,
    pub bid: Decimal,
    pub ask: Decimal,
    pub last: Decimal,
    pub prev_close: Decimal,
    pub volume: Decimal,
    pub tick_size: Decimal,
    /// Last `seq` applied; `None` until the snapshot arrives.
    pub seq: Option<u64>,
    /// Waiting for the snapshot of a re-sync.
    pub resyncing: bool,
    pub gaps: u64,
    pub direction: Direction,
    pub flashed_at: Option<Instant>,
    /// (seconds since start, last price), bounded to [`HISTORY`].
    pub history: VecDeque<(f64, f64)>,
}

impl Row {
    fn new(symbol: Symbol) -> Self {
        Self {
            symbol,
            bid: Decimal::ZERO,
            ask: Decimal::ZERO,
            last: Decimal::ZERO,
            prev_close: Decimal::ZERO,
            volume: Decimal::ZERO,
            tick_size: Decimal::new(1, 2),
            seq: None,
            resyncing: false,
            gaps: 0,
            direction: Direction::Flat,
            flashed_at: None,
            history: VecDeque::with_capacity(HISTORY),
        }
    }

    /// Last minus previous close; `None` when it does not fit a decimal (values from the server
    /// are checked like any outside input: a number is shown right or not at all).
    pub fn change(&self) -> Option<Decimal> {
        if self.prev_close.is_zero() {
            Some(Decimal::ZERO)
        } else {
            self.last.checked_sub(self.prev_close)
        }
    }

    pub fn change_pct(&self) -> Option<Decimal> {
        if self.prev_close.is_zero() {
            return Some(Decimal::ZERO);
        }
        self.change()?
            .checked_div(self.prev_close)?
            .checked_mul(Decimal::ONE_HUNDRED)
            .map(|p| p.round_dp(2))
    }

    pub fn spread(&self) -> Option<Decimal> {
        self.ask.checked_sub(self.bid)
    }

    fn push_price(&mut self, t: f64, price: Decimal) {
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.history.push_back((t, decimal_to_f64(price)));
    }
}

/// Chart coordinates only; prices themselves stay decimal.
fn decimal_to_f64(d: Decimal) -> f64 {
    d.to_f64().unwrap_or(0.0)
}

/// What the latency panel shows, computed at most every [`VIEW_REFRESH`] by [`State::refresh`]
/// so that drawing a frame reads numbers instead of scanning histograms.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LatencyView {
    pub rtt: Summary,
    pub rtt_recent: Summary,
    pub tick: Summary,
    pub tick_recent: Summary,
    pub messages_per_s: u64,
}

/// How often the latency figures on screen are recomputed.
pub const VIEW_REFRESH: Duration = Duration::from_millis(250);

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

/// Which field of the order form has focus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Qty,
    Price,
}

/// The order entry form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderForm {
    pub symbol: Symbol,
    pub side: Side,
    pub qty: String,
    /// Empty = market order.
    pub price: String,
    pub field: Field,
    pub error: Option<String>,
}

/// What the keys act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Watchlist,
    Orders,
}

/// Everything the terminal shows.
#[derive(Debug)]
pub struct State {
    pub url: String,
    pub protocol: Option<String>,
    pub connection: Connection,
    pub started: Instant,
    pub rows: Vec<Row>,
    pub selected: usize,
    pub orders: Vec<OrderRow>,
    pub order_selected: usize,
    pub focus: Focus,
    pub form: Option<OrderForm>,
    /// The add-symbol prompt, while open.
    pub prompt: Option<String>,
    pub help: bool,
    pub quit: bool,
    pub default_qty: Decimal,
    pub tick_latency: LatencyStats,
    pub rtt: LatencyStats,
    pub messages: RateMeter,
    /// The latency panel's figures, as of the last refresh.
    pub view: LatencyView,
    view_at: Option<Instant>,
    pub gaps: u64,
    /// Symbols the server offers, from `hello`.
    pub available: Vec<Symbol>,
    /// What the server streams, from `hello`.
    pub source: Option<protocol::SourceInfo>,
    /// `ts_ns` of the latest quote or trade: the replay clock runs from it.
    pub last_event_ns: u64,
    /// The watchlist asked for `*`: every symbol the server offers, added on `hello`.
    watch_all: bool,
    /// A one-line notice (errors from the server, refused input).
    pub notice: Option<String>,
    next_order: u64,
    index: HashMap<Symbol, usize>,
}

impl State {
    /// What the server streams, for the status bar: `synthetic 2000/s`, or for a replay its
    /// file, speed and the recording's clock at the latest event (UTC).
    pub fn source_text(&self) -> Option<String> {
        let source = self.source.as_ref()?;
        if source.kind != "replay" {
            return Some(match source.rate {
                Some(rate) => format!("{} {rate}/s", source.kind),
                None => source.kind.clone(),
            });
        }
        let file = source.file.as_deref().unwrap_or("recording");
        let speed = source.speed.as_deref().unwrap_or("1");
        let mut text = format!("replay {file} {speed}x");
        if let (Ok(factor), Some(recorded), Some(replayed)) = (
            speed.parse::<f64>(),
            source.recording_start_ns,
            source.replay_start_ns,
        ) && self.last_event_ns >= replayed
        {
            let into = (self.last_event_ns - replayed) as f64 * factor;
            let at = recorded.saturating_add(into as u64);
            let clock =
                humantime::format_rfc3339_millis(std::time::UNIX_EPOCH + Duration::from_nanos(at))
                    .to_string();
            // `2026-01-02T14:30:05.123Z` -> `14:30:05.123`
            if let Some(time) = clock.get(11..23) {
                text.push_str(" @ ");
                text.push_str(time);
            }
        }
        Some(text)
    }

    pub fn new(url: String, watchlist: &[String], default_qty: Decimal) -> Self {
        let mut state = Self {
            url,
            protocol: None,
            connection: Connection::Connecting { attempt: 0 },
            started: Instant::now(),
            rows: Vec::new(),
            selected: 0,
            orders: Vec::new(),
            order_selected: 0,
            focus: Focus::Watchlist,
            form: None,
            prompt: None,
            help: false,
            quit: false,
            default_qty,
            tick_latency: LatencyStats::default(),
            rtt: LatencyStats::default(),
            messages: RateMeter::default(),
            view: LatencyView::default(),
            view_at: None,
            gaps: 0,
            available: Vec::new(),
            source: None,
            last_event_ns: 0,
            watch_all: false,
            notice: None,
            next_order: 0,
            index: HashMap::new(),
        };
        for s in watchlist {
            if s == protocol::ALL_SYMBOLS {
                state.watch_all = true;
            } else {
                state.add_row(Symbol::from(s.as_str()));
            }
        }
        state
    }

    fn add_row(&mut self, symbol: Symbol) -> bool {
        if self.index.contains_key(&symbol) {
            return false;
        }
        self.index.insert(symbol.clone(), self.rows.len());
        self.rows.push(Row::new(symbol));
        true
    }

    fn reindex(&mut self) {
        self.index = self
            .rows
            .iter()
            .enumerate()
            .map(|(i, r)| (r.symbol.clone(), i))
            .collect();
    }

    /// The symbols to subscribe to (the watchlist).
    pub fn watchlist(&self) -> Vec<Symbol> {
        self.rows.iter().map(|r| r.symbol.clone()).collect()
    }

    pub fn selected_row(&self) -> Option<&Row> {
        self.rows.get(self.selected)
    }

    fn elapsed_s(&self) -> u64 {
        self.started.elapsed().as_secs()
    }

    /// Applies a network event; returns messages to send (re-syncs after gaps).
    pub fn apply(&mut self, event: NetEvent) -> Vec<ClientMessage> {
        let mut out = Vec::new();
        match event {
            NetEvent::Connecting { attempt } => {
                self.connection = Connection::Connecting { attempt }
            }
            NetEvent::Connected { protocol } => {
                self.connection = Connection::Connected;
                self.protocol = Some(protocol);
                for row in &mut self.rows {
                    row.seq = None;
                    row.resyncing = false;
                }
            }
            NetEvent::Disconnected {
                code,
                reason,
                retry_in,
            } => {
                self.connection = Connection::Reconnecting {
                    at: Instant::now() + retry_in,
                    code,
                    reason,
                };
                for order in &mut self.orders {
                    match order.status {
                        OrderStatus::Sent => {
                            order.status =
                                OrderStatus::Rejected("connection lost before the ack".into());
                        }
                        OrderStatus::Acked | OrderStatus::PartiallyFilled => {
                            order.status = OrderStatus::Lost;
                        }
                        _ => {}
                    }
                }
            }
            NetEvent::NotSent(ClientMessage::Order(o)) => {
                if let Some(order) = self.orders.iter_mut().find(|r| r.id == o.id.as_str()) {
                    order.status = OrderStatus::Rejected("not connected".into());
                }
            }
            NetEvent::NotSent(_) => {}
            NetEvent::Frame {
                messages,
                received_ns,
            } => {
                let now_s = self.elapsed_s();
                self.messages.add(now_s, messages.len() as u64);
                for m in messages {
                    self.on_message(m, received_ns, now_s, &mut out);
                }
            }
        }
        out
    }

    fn on_message(
        &mut self,
        message: ServerMessage,
        received_ns: u64,
        now_s: u64,
        out: &mut Vec<ClientMessage>,
    ) {
        let t = self.started.elapsed().as_secs_f64();
        match message {
            ServerMessage::Hello(h) => {
                if self.watch_all {
                    let added: Vec<Symbol> = h
                        .symbols
                        .iter()
                        .filter(|s| self.add_row((*s).clone()))
                        .cloned()
                        .collect();
                    if !added.is_empty() {
                        out.push(ClientMessage::Subscribe(Subscribe { symbols: added }));
                    }
                }
                self.available = h.symbols;
                self.source = h.source;
            }
            ServerMessage::Snapshot(s) => {
                let Some(&i) = self.index.get(&s.symbol) else {
                    return;
                };
                let row = &mut self.rows[i];
                if row.seq.is_some_and(|seq| s.seq < seq) {
                    return;
                }
                (
                    row.bid,
                    row.ask,
                    row.last,
                    row.prev_close,
                    row.volume,
                    row.tick_size,
                ) = (s.bid, s.ask, s.last, s.prev_close, s.volume, s.tick_size);
                row.seq = Some(s.seq);
                row.resyncing = false;
                row.push_price(t, s.last);
            }
            ServerMessage::Quote(q) => {
                self.last_event_ns = self.last_event_ns.max(q.ts_ns);
                self.tick_latency
                    .record(now_s, received_ns.saturating_sub(q.ts_ns));
                if let Some(row) = self.sequenced(&q.symbol, q.seq, out) {
                    row.bid = q.bid;
                    row.ask = q.ask;
                }
            }
            ServerMessage::Trade(tr) => {
                self.last_event_ns = self.last_event_ns.max(tr.ts_ns);
                self.tick_latency
                    .record(now_s, received_ns.saturating_sub(tr.ts_ns));
                if let Some(row) = self.sequenced(&tr.symbol, tr.seq, out) {
                    row.direction = match tr.price.cmp(&row.last) {
                        std::cmp::Ordering::Greater => Direction::Up,
                        std::cmp::Ordering::Less => Direction::Down,
                        std::cmp::Ordering::Equal => row.direction,
                    };
                    if tr.price != row.last {
                        row.flashed_at = Some(Instant::now());
                    }
                    row.last = tr.price;
                    row.volume = row.volume.saturating_add(tr.size);
                    row.push_price(t, tr.price);
                }
            }
            ServerMessage::Ack(a) => {
                if let Some(o) = self.order_mut(&a.id) {
                    o.status = OrderStatus::Acked;
                    let rtt = received_ns.saturating_sub(o.sent_ns);
                    o.rtt = Some(Duration::from_nanos(rtt));
                    self.rtt.record(now_s, rtt);
                }
            }
            ServerMessage::Reject(r) => {
                let reason = format!("{:?}: {}", r.code, r.reason);
                let rtt = r.sent_ns.map(|s| received_ns.saturating_sub(s));
                if let Some(o) = self.order_mut(&r.id)
                    && o.status == OrderStatus::Sent
                {
                    o.status = OrderStatus::Rejected(reason.clone());
                    o.rtt = rtt.map(Duration::from_nanos);
                }
                self.notice = Some(format!("order {} rejected: {reason}", r.id));
            }
            ServerMessage::Fill(f) => {
                if let Some(o) = self.order_mut(&f.id) {
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
            ServerMessage::Canceled(c) => {
                if let Some(o) = self.order_mut(&c.id) {
                    o.status = OrderStatus::Canceled;
                }
            }
            ServerMessage::Pong(_) => {}
            ServerMessage::Error(e) => self.notice = Some(format!("server: {}", e.message)),
        }
    }

    /// Checks `seq` for a market event: the row to update, or `None` for stale events and gaps
    /// (a gap counts, and asks for a fresh snapshot once).
    fn sequenced(
        &mut self,
        symbol: &str,
        seq: u64,
        out: &mut Vec<ClientMessage>,
    ) -> Option<&mut Row> {
        let &i = self.index.get(symbol)?;
        let row = &mut self.rows[i];
        let last = row.seq?;
        if seq <= last {
            return None;
        }
        if seq > last.saturating_add(1) {
            if !row.resyncing {
                row.gaps += 1;
                self.gaps += 1;
                row.resyncing = true;
                out.push(ClientMessage::Subscribe(Subscribe {
                    symbols: vec![row.symbol.clone()],
                }));
            }
            return None;
        }
        if row.resyncing {
            return None;
        }
        row.seq = Some(seq);
        Some(row)
    }

    fn order_mut(&mut self, id: &str) -> Option<&mut OrderRow> {
        self.orders.iter_mut().rev().find(|o| o.id == id)
    }

    /// Applies a user action; returns messages to send.
    pub fn handle(&mut self, action: Action) -> Vec<ClientMessage> {
        if self.form.is_some() {
            return self.handle_form(action);
        }
        if self.prompt.is_some() {
            return self.handle_prompt(action);
        }
        if self.help {
            if matches!(action, Action::ToggleHelp | Action::Escape | Action::Quit) {
                self.help = false;
            }
            return Vec::new();
        }
        match action {
            Action::Quit => self.quit = true,
            Action::ToggleHelp => self.help = true,
            Action::Up | Action::Down => {
                let down = action == Action::Down;
                let (pos, len) = match self.focus {
                    Focus::Watchlist => (&mut self.selected, self.rows.len()),
                    Focus::Orders => (&mut self.order_selected, self.orders.len()),
                };
                if len > 0 {
                    *pos = if down {
                        (*pos + 1).min(len - 1)
                    } else {
                        pos.saturating_sub(1)
                    };
                }
            }
            Action::SwitchFocus => {
                self.focus = if self.focus == Focus::Watchlist {
                    Focus::Orders
                } else {
                    Focus::Watchlist
                };
            }
            Action::OpenOrder(side) => {
                if let Some(row) = self.selected_row() {
                    let price = match side {
                        Side::Buy => row.ask,
                        Side::Sell => row.bid,
                    };
                    self.form = Some(OrderForm {
                        symbol: row.symbol.clone(),
                        side,
                        qty: self.default_qty.to_string(),
                        price: if price.is_zero() {
                            String::new()
                        } else {
                            price.to_string()
                        },
                        field: Field::Qty,
                        error: None,
                    });
                }
            }
            Action::CancelOrder => {
                if let Some(o) = self.orders.get(self.order_selected) {
                    if o.status.is_open() {
                        return vec![ClientMessage::Cancel(Cancel {
                            id: o.id.as_str().into(),
                            sent_ns: Some(now_ns()),
                        })];
                    }
                    self.notice = Some(format!("order {} is not open", o.id));
                }
            }
            Action::AddSymbol => self.prompt = Some(String::new()),
            Action::RemoveSymbol => {
                if self.selected < self.rows.len() {
                    let row = self.rows.remove(self.selected);
                    self.reindex();
                    self.selected = self.selected.min(self.rows.len().saturating_sub(1));
                    return vec![ClientMessage::Unsubscribe(Unsubscribe {
                        symbols: vec![row.symbol],
                    })];
                }
            }
            Action::Input(_)
            | Action::Backspace
            | Action::NextField
            | Action::Submit
            | Action::Escape => {}
        }
        Vec::new()
    }

    fn handle_prompt(&mut self, action: Action) -> Vec<ClientMessage> {
        let Some(text) = self.prompt.as_mut() else {
            return Vec::new();
        };
        match action {
            Action::Input(c)
                if text.len() < protocol::MAX_SYMBOL_BYTES && protocol::is_symbol_char(c) =>
            {
                text.push(c.to_ascii_uppercase());
            }
            Action::Backspace => {
                text.pop();
            }
            Action::Escape | Action::Quit => self.prompt = None,
            Action::Submit => {
                let symbol = Symbol::from(text.as_str());
                self.prompt = None;
                if !symbol.is_empty() && self.add_row(symbol.clone()) {
                    self.selected = self.rows.len() - 1;
                    return vec![ClientMessage::Subscribe(Subscribe {
                        symbols: vec![symbol],
                    })];
                }
            }
            _ => {}
        }
        Vec::new()
    }

    fn handle_form(&mut self, action: Action) -> Vec<ClientMessage> {
        let Some(form) = self.form.as_mut() else {
            return Vec::new();
        };
        match action {
            Action::Escape | Action::Quit => self.form = None,
            Action::NextField | Action::Up | Action::Down => {
                form.field = if form.field == Field::Qty {
                    Field::Price
                } else {
                    Field::Qty
                };
            }
            Action::Backspace => {
                match form.field {
                    Field::Qty => form.qty.pop(),
                    Field::Price => form.price.pop(),
                };
            }
            Action::Input(c) if c.is_ascii_digit() || c == '.' => {
                let text = match form.field {
                    Field::Qty => &mut form.qty,
                    Field::Price => &mut form.price,
                };
                if text.len() < 16 {
                    text.push(c);
                }
            }
            Action::Submit => return self.submit_form(),
            _ => {}
        }
        Vec::new()
    }

    fn submit_form(&mut self) -> Vec<ClientMessage> {
        let Some(form) = self.form.as_mut() else {
            return Vec::new();
        };
        let qty = match form.qty.parse::<Decimal>() {
            Ok(q) if q > Decimal::ZERO => q,
            _ => {
                form.error = Some("quantity must be a positive number".into());
                return Vec::new();
            }
        };
        let price = if form.price.trim().is_empty() {
            None
        } else {
            match form.price.parse::<Decimal>() {
                Ok(p) if p > Decimal::ZERO => Some(p),
                _ => {
                    form.error =
                        Some("price must be a positive number, or empty for a market order".into());
                    return Vec::new();
                }
            }
        };
        let (symbol, side) = (form.symbol.clone(), form.side);
        self.form = None;
        self.next_order += 1;
        let id = format!("t-{}", self.next_order);
        let sent_ns = now_ns();
        self.orders.push(OrderRow {
            id: id.clone(),
            symbol: symbol.clone(),
            side,
            qty,
            price,
            status: OrderStatus::Sent,
            filled: Decimal::ZERO,
            notional: Decimal::ZERO,
            sent_ns,
            rtt: None,
        });
        self.order_selected = self.orders.len() - 1;
        vec![ClientMessage::Order(Order {
            id: id.into(),
            symbol,
            side,
            qty,
            price,
            sent_ns: Some(sent_ns),
        })]
    }

    /// Recomputes the latency panel's figures if they are older than [`VIEW_REFRESH`]; returns
    /// whether they changed.
    pub fn refresh(&mut self, now: Instant) -> bool {
        if self
            .view_at
            .is_some_and(|t| now.duration_since(t) < VIEW_REFRESH)
        {
            return false;
        }
        self.view_at = Some(now);
        let now_s = now.saturating_duration_since(self.started).as_secs();
        self.rtt.advance(now_s);
        self.tick_latency.advance(now_s);
        let view = LatencyView {
            rtt: self.rtt.session(),
            rtt_recent: self.rtt.recent(),
            tick: self.tick_latency.session(),
            tick_recent: self.tick_latency.recent(),
            messages_per_s: self.messages.per_second(now_s),
        };
        let changed = view != self.view;
        self.view = view;
        changed
    }

    /// Whether a row's highlight is still on.
    pub fn flashing(&self, row: &Row, now: Instant) -> bool {
        row.flashed_at
            .is_some_and(|t| now.duration_since(t) < FLASH)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::{Ack, Fill, Quote, Reject, RejectCode, Snapshot, Trade};
    use std::str::FromStr;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn state() -> State {
        State::new(
            "ws://x/ws".into(),
            &["AAPL".into(), "MSFT".into()],
            dec("100"),
        )
    }

    fn frame(messages: Vec<ServerMessage>) -> NetEvent {
        NetEvent::Frame {
            messages,
            received_ns: 2_000_000,
        }
    }

    fn snapshot(symbol: &str, seq: u64) -> ServerMessage {
        ServerMessage::Snapshot(Snapshot {
            symbol: symbol.into(),
            seq,
            bid: dec("100.00"),
            bid_size: dec("100"),
            ask: dec("100.02"),
            ask_size: dec("100"),
            last: dec("100.01"),
            last_size: dec("10"),
            volume: dec("1000"),
            open: dec("99"),
            high: dec("101"),
            low: dec("98"),
            prev_close: dec("99.01"),
            tick_size: dec("0.01"),
            ts_ns: 1,
        })
    }

    fn quote(symbol: &str, seq: u64, bid: &str) -> ServerMessage {
        ServerMessage::Quote(Quote {
            symbol: symbol.into(),
            seq,
            bid: dec(bid),
            bid_size: dec("1"),
            ask: dec("200"),
            ask_size: dec("1"),
            ts_ns: 1_000_000,
        })
    }

    #[test]
    fn quotes_and_trades_update_their_rows_after_the_snapshot() {
        let mut s = state();
        assert!(
            s.apply(frame(vec![
                snapshot("AAPL", 10),
                quote("AAPL", 11, "100.05")
            ]))
            .is_empty()
        );
        let trade = ServerMessage::Trade(Trade {
            symbol: "AAPL".into(),
            seq: 12,
            price: dec("100.51"),
            size: dec("5"),
            ts_ns: 1_500_000,
        });
        s.apply(frame(vec![trade]));
        let row = &s.rows[0];
        assert_eq!(
            (row.bid, row.last, row.volume, row.seq),
            (dec("100.05"), dec("100.51"), dec("1005"), Some(12))
        );
        assert_eq!(row.direction, Direction::Up);
        assert_eq!(row.change(), Some(dec("1.50")));
        assert_eq!(row.change_pct(), Some(dec("1.51")));
        assert_eq!(s.tick_latency.session().count, 2);
        assert_eq!(s.rows[1].seq, None, "MSFT untouched");
    }

    #[test]
    fn a_gap_is_counted_once_and_asks_for_a_fresh_snapshot() {
        let mut s = state();
        s.apply(frame(vec![snapshot("AAPL", 10)]));
        let out = s.apply(frame(vec![quote("AAPL", 13, "1"), quote("AAPL", 14, "2")]));
        assert_eq!(
            out,
            vec![ClientMessage::Subscribe(Subscribe {
                symbols: vec!["AAPL".into()]
            })]
        );
        assert_eq!((s.gaps, s.rows[0].gaps), (1, 1));
        assert_eq!(
            s.rows[0].bid,
            dec("100.00"),
            "events after a gap wait for the snapshot"
        );
        s.apply(frame(vec![snapshot("AAPL", 20), quote("AAPL", 21, "3")]));
        assert_eq!((s.rows[0].bid, s.rows[0].resyncing), (dec("3"), false));
        assert_eq!(s.gaps, 1);
    }

    #[test]
    fn an_order_goes_from_form_to_sent_acked_and_filled() {
        let mut s = state();
        s.apply(frame(vec![snapshot("AAPL", 1)]));
        assert!(s.handle(Action::OpenOrder(Side::Buy)).is_empty());
        let form = s.form.clone().unwrap();
        assert_eq!((form.qty.as_str(), form.price.as_str()), ("100", "100.02"));
        let out = s.handle(Action::Submit);
        let [ClientMessage::Order(o)] = out.as_slice() else {
            panic!("{out:?}")
        };
        assert_eq!(
            (o.symbol.as_str(), o.side, o.qty, o.price),
            ("AAPL", Side::Buy, dec("100"), Some(dec("100.02")))
        );
        let sent = s.orders[0].sent_ns;
        s.apply(NetEvent::Frame {
            messages: vec![ServerMessage::Ack(Ack {
                id: o.id.clone(),
                order_id: "o-1".into(),
                sent_ns: Some(sent),
                ts_ns: 0,
            })],
            received_ns: sent + 250_000,
        });
        assert_eq!(
            (s.orders[0].status.clone(), s.orders[0].rtt),
            (OrderStatus::Acked, Some(Duration::from_micros(250)))
        );
        assert_eq!(s.rtt.session().count, 1);
        let fill = |qty: &str, price: &str, leaves: &str| {
            ServerMessage::Fill(Fill {
                id: o.id.clone(),
                order_id: "o-1".into(),
                price: dec(price),
                qty: dec(qty),
                leaves: dec(leaves),
                ts_ns: 0,
            })
        };
        s.apply(frame(vec![fill("40", "100.02", "60")]));
        assert_eq!(s.orders[0].status, OrderStatus::PartiallyFilled);
        s.apply(frame(vec![fill("60", "100.03", "0")]));
        assert_eq!(s.orders[0].status, OrderStatus::Filled);
        assert_eq!(s.orders[0].avg_price(), Some(dec("100.026")));
    }

    #[test]
    fn a_rejected_order_keeps_its_reason_and_an_empty_price_is_a_market_order() {
        let mut s = state();
        s.handle(Action::OpenOrder(Side::Sell));
        s.handle(Action::NextField);
        s.handle(Action::Backspace);
        let out = s.handle(Action::Submit);
        let [ClientMessage::Order(o)] = out.as_slice() else {
            panic!()
        };
        assert_eq!(o.price, None);
        s.apply(frame(vec![ServerMessage::Reject(Reject {
            id: o.id.clone(),
            code: RejectCode::BadQuantity,
            reason: "too big".into(),
            sent_ns: o.sent_ns,
            ts_ns: 0,
        })]));
        assert!(matches!(&s.orders[0].status, OrderStatus::Rejected(r) if r.contains("too big")));
    }

    #[test]
    fn bad_form_input_is_refused_without_sending() {
        let mut s = state();
        s.handle(Action::OpenOrder(Side::Buy));
        for _ in 0..5 {
            s.handle(Action::Backspace);
        }
        assert!(s.handle(Action::Submit).is_empty());
        assert!(s.form.as_ref().unwrap().error.is_some());
        s.handle(Action::Escape);
        assert!(s.form.is_none() && s.orders.is_empty());
    }

    #[test]
    fn adding_and_removing_symbols_subscribes_and_unsubscribes() {
        let mut s = state();
        s.handle(Action::AddSymbol);
        for c in "nvda".chars() {
            s.handle(Action::Input(c));
        }
        let out = s.handle(Action::Submit);
        assert_eq!(
            out,
            vec![ClientMessage::Subscribe(Subscribe {
                symbols: vec!["NVDA".into()]
            })]
        );
        assert_eq!((s.rows.len(), s.selected), (3, 2));
        let out = s.handle(Action::RemoveSymbol);
        assert_eq!(
            out,
            vec![ClientMessage::Unsubscribe(Unsubscribe {
                symbols: vec!["NVDA".into()]
            })]
        );
        assert_eq!(s.watchlist(), ["AAPL", "MSFT"]);
    }

    #[test]
    fn a_star_watchlist_takes_every_symbol_the_server_offers() {
        let mut s = State::new("ws://x/ws".into(), &["*".into()], dec("1"));
        assert!(s.watchlist().is_empty());
        let hello = |symbols: &[&str]| {
            frame(vec![ServerMessage::Hello(protocol::Hello {
                protocol: "tickwire.v1.json".into(),
                server: protocol::ServerInfo {
                    name: "n".into(),
                    version: "v".into(),
                },
                symbols: symbols.iter().map(|s| Symbol::from(*s)).collect(),
                heartbeat_ms: 1,
                ts_ns: 1,
                source: None,
            })])
        };
        let out = s.apply(hello(&["S0001", "S0002"]));
        assert_eq!(
            out,
            vec![ClientMessage::Subscribe(Subscribe {
                symbols: vec!["S0001".into(), "S0002".into()]
            })]
        );
        assert_eq!(s.watchlist(), ["S0001", "S0002"]);
        // A reconnect's hello adds nothing twice; the network task resubscribes on its own.
        assert!(s.apply(hello(&["S0001", "S0002"])).is_empty());
        assert_eq!(s.rows.len(), 2);
    }

    #[test]
    fn open_orders_are_marked_lost_when_the_connection_drops_them() {
        let mut s = state();
        s.apply(frame(vec![snapshot("AAPL", 1)]));
        for _ in 0..3 {
            s.handle(Action::OpenOrder(Side::Buy));
            s.handle(Action::Submit);
        }
        let ids: Vec<String> = s.orders.iter().map(|o| o.id.clone()).collect();
        let ack = |id: &str| {
            ServerMessage::Ack(Ack {
                id: id.into(),
                order_id: format!("o-{id}"),
                sent_ns: None,
                ts_ns: 0,
            })
        };
        let fill = |id: &str, leaves: &str| {
            ServerMessage::Fill(Fill {
                id: id.into(),
                order_id: format!("o-{id}"),
                price: dec("100.00"),
                qty: dec("10"),
                leaves: dec(leaves),
                ts_ns: 0,
            })
        };
        // One resting, one partly filled, one done; then the connection closes.
        s.apply(frame(vec![
            ack(&ids[0]),
            ack(&ids[1]),
            fill(&ids[1], "90"),
            ack(&ids[2]),
            fill(&ids[2], "0"),
        ]));
        s.apply(NetEvent::Disconnected {
            code: Some(1001),
            reason: "server shutting down".into(),
            retry_in: Duration::from_millis(250),
        });
        s.apply(NetEvent::Connected {
            protocol: "tickwire.v1.json".into(),
        });
        let statuses: Vec<&OrderStatus> = s.orders.iter().map(|o| &o.status).collect();
        assert_eq!(
            statuses,
            [&OrderStatus::Lost, &OrderStatus::Lost, &OrderStatus::Filled]
        );
        assert!(s.orders.iter().all(|o| !o.status.is_open()));
    }

    #[test]
    fn the_status_shows_a_replays_file_speed_and_recording_clock() {
        let mut s = State::new("ws://x/ws".into(), &["AAPL".into()], dec("1"));
        assert_eq!(s.source_text(), None);
        s.source = Some(protocol::SourceInfo {
            kind: "replay".into(),
            rate: None,
            seed: None,
            file: Some("open.jsonl.zst".into()),
            speed: Some("10".into()),
            looping: Some(false),
            // 2026-01-02T14:30:00Z, replayed from t = 1000 s.
            recording_start_ns: Some(1_767_364_200_000_000_000),
            replay_start_ns: Some(1_000_000_000_000),
        });
        // 1.5 s of replay at 10x is 15 s into the recording.
        s.last_event_ns = 1_001_500_000_000;
        assert_eq!(
            s.source_text().as_deref(),
            Some("replay open.jsonl.zst 10x @ 14:30:15.000")
        );
        s.source = Some(protocol::SourceInfo {
            kind: "synthetic".into(),
            rate: Some(2_000),
            seed: Some(1),
            file: None,
            speed: None,
            looping: None,
            recording_start_ns: None,
            replay_start_ns: None,
        });
        assert_eq!(s.source_text().as_deref(), Some("synthetic 2000/s"));
    }

    #[test]
    fn cancel_applies_to_the_selected_open_order_only() {
        let mut s = state();
        s.handle(Action::OpenOrder(Side::Buy));
        let out = s.handle(Action::Submit);
        let [ClientMessage::Order(o)] = out.as_slice() else {
            panic!()
        };
        s.handle(Action::SwitchFocus);
        assert!(
            matches!(s.handle(Action::CancelOrder).as_slice(), [ClientMessage::Cancel(c)] if c.id == o.id)
        );
        s.apply(NetEvent::Disconnected {
            code: Some(1001),
            reason: "bye".into(),
            retry_in: Duration::from_secs(1),
        });
        assert!(matches!(s.orders[0].status, OrderStatus::Rejected(_)));
        assert!(s.handle(Action::CancelOrder).is_empty());
    }
}
