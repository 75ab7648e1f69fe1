//! Application state and the pure functions that change it.
//!
//! [`State::apply`] takes a network event and [`State::handle`] a user action, each with the
//! moment it happens ([`Now`]); both change state and return the client messages to send, doing
//! no I/O and reading no clock, so they are unit-tested with plain values. Rendering (in `ui`)
//! only borrows the state.
//!
//! # Layout
//! - this file: [`State`], which dispatches to its parts, and the connection and latency view.
//! - [`watchlist`]: rows, selection, `seq` checks; [`orders`]: the session's orders;
//!   [`form`]: the order entry form.

pub mod alerts;
pub mod form;
pub mod orders;
pub mod positions;
pub mod watchlist;

use std::time::{Duration, Instant};

use protocol::{
    Cancel, ClientMessage, Decimal, Order, ServerMessage, Side, Subscribe, Symbol, Unsubscribe,
};

use crate::action::Action;
use crate::latency::{LatencyStats, RateMeter, Summary};
use crate::net::NetEvent;

pub use alerts::{Alert, Alerts};
pub use form::{Field, FormOutcome, OrderForm};
pub use orders::{OrderRow, OrderStatus, Orders};
pub use positions::{Position, Positions};
pub use watchlist::{Direction, FLASH, HISTORY, Row, Watchlist};

/// The moment an update happens: the monotonic clock for what the screen times, the wall clock
/// (ns since the epoch) for what goes on the wire.
#[derive(Debug, Clone, Copy)]
pub struct Now {
    pub at: Instant,
    pub wall_ns: u64,
}

impl Now {
    /// Reads both clocks (the app does this once per event; tests make their own).
    pub fn read() -> Self {
        Self {
            at: Instant::now(),
            wall_ns: protocol::now_ns(),
        }
    }
}

/// The connection as the status bar shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Connection {
    Connecting {
        attempt: u32,
    },
    Connected,
    /// Not connected; the next attempt is `at`.
    Reconnecting {
        at: Instant,
        code: Option<u16>,
        reason: String,
        /// Whether the connection that ended had opened (else it never did).
        opened: bool,
        /// Since when prices are stale (ns since the epoch): the last moment they were live.
        stale_since_ns: u64,
    },
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

/// What the keys act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    Watchlist,
    Orders,
}

/// Everything the terminal shows.
#[derive(Debug)]
#[allow(clippy::struct_excessive_bools)] // Independent toggles and effect flags, not a state machine.
pub struct State {
    pub url: String,
    /// Sent in an `auth` message on every connection (`--token`), for a server that takes
    /// orders only with it.
    pub token: Option<protocol::Token>,
    pub protocol: Option<String>,
    pub connection: Connection,
    pub started: Instant,
    pub watchlist: Watchlist,
    pub orders: Orders,
    pub positions: Positions,
    /// The bottom pane shows positions instead of orders (`p`).
    pub show_positions: bool,
    pub alerts: Alerts,
    /// The alert prompt, while open: the symbol and the price typed.
    pub alert_prompt: Option<(Symbol, String)>,
    /// Ring the terminal bell when an alert fires (`bell = true` in the settings).
    pub bell: bool,
    /// An alert fired and the bell should ring; the app rings it and clears this.
    pub ring: bool,
    /// The watchlist or alerts changed and the settings file should be written; the app writes
    /// it and clears this.
    pub settings_dirty: bool,
    /// Named watchlists, switched with the number keys; `list` is the one shown, and its
    /// symbols live in `watchlist` while it is.
    pub lists: Vec<(String, Vec<String>)>,
    pub list: usize,
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
    /// Symbols the server offers, from `hello`.
    pub available: Vec<Symbol>,
    /// What the server streams, from `hello`.
    pub source: Option<protocol::SourceInfo>,
    /// `ts_ns` of the latest quote or trade: the replay clock runs from it.
    pub last_event_ns: u64,
    /// A one-line notice (errors from the server, refused input) and when it was given; it
    /// shows for [`NOTICE_TTL`].
    pub notice: Option<(String, Instant)>,
    /// Orders worth more than this ask for a confirmation.
    pub confirm_notional: Decimal,
}

/// Rows PageUp and PageDown move.
const PAGE: isize = 10;

/// Completions the add prompt shows at most.
pub const MAX_COMPLETIONS: usize = 8;

/// How long a notice stays on the status bar.
pub const NOTICE_TTL: Duration = Duration::from_secs(6);
/// Orders worth more than this ask for a confirmation unless the settings say otherwise.
pub const DEFAULT_CONFIRM_NOTIONAL: Decimal = Decimal::from_parts(100_000, 0, 0, false, 0);

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

    pub fn new(url: String, watchlist: &[String], default_qty: Decimal, now: Instant) -> Self {
        Self {
            url,
            token: None,
            protocol: None,
            connection: Connection::Connecting { attempt: 0 },
            started: now,
            watchlist: Watchlist::new(watchlist),
            orders: Orders::default(),
            positions: Positions::default(),
            show_positions: false,
            alerts: Alerts::default(),
            alert_prompt: None,
            bell: false,
            ring: false,
            settings_dirty: false,
            lists: vec![("main".to_owned(), watchlist.to_vec())],
            list: 0,
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
            available: Vec::new(),
            source: None,
            last_event_ns: 0,
            notice: None,
            confirm_notional: DEFAULT_CONFIRM_NOTIONAL,
        }
    }

    fn notify(&mut self, text: String, now: Instant) {
        self.notice = Some((text, now));
    }

    /// The notice to show at `now`, if it has not expired.
    pub fn notice_at(&self, now: Instant) -> Option<&str> {
        self.notice
            .as_ref()
            .filter(|(_, at)| now.saturating_duration_since(*at) < NOTICE_TTL)
            .map(|(text, _)| text.as_str())
    }

    /// What an order would be worth: the limit price, or the touch it would trade at.
    pub fn notional(&self, form: &OrderForm) -> Option<Decimal> {
        let qty = form.qty.parse::<Decimal>().ok()?;
        let price = form.limit().or_else(|| {
            let row = self.watchlist.row(&form.symbol)?;
            let touch = match form.side {
                Side::Buy => row.ask,
                Side::Sell => row.bid,
            };
            (!touch.is_zero()).then_some(touch)
        })?;
        qty.checked_mul(price)
    }

    /// Seconds since start at `now`.
    fn seconds(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.started).as_secs()
    }

    /// Applies a network event; returns messages to send (re-syncs after gaps).
    pub fn apply(&mut self, event: NetEvent, now: Now) -> Vec<ClientMessage> {
        let mut out = Vec::new();
        match event {
            NetEvent::Connecting { attempt } => {
                self.connection = Connection::Connecting { attempt };
            }
            NetEvent::Connected { protocol } => {
                self.connection = Connection::Connected;
                self.protocol = Some(protocol);
                self.watchlist.reset_sequences();
            }
            NetEvent::Disconnected {
                code,
                reason,
                retry_in,
            } => {
                let (opened, stale_since_ns) = match &self.connection {
                    Connection::Connected => (true, now.wall_ns),
                    Connection::Reconnecting { stale_since_ns, .. } => (false, *stale_since_ns),
                    Connection::Connecting { .. } => (false, now.wall_ns),
                };
                self.connection = Connection::Reconnecting {
                    at: now.at + retry_in,
                    code,
                    reason,
                    opened,
                    stale_since_ns,
                };
                self.orders.connection_lost();
            }
            NetEvent::NotSent(ClientMessage::Order(o)) => self.orders.not_sent(&o.id),
            NetEvent::NotSent(_) => {}
            NetEvent::Frame {
                messages,
                received_ns,
            } => {
                let now_s = self.seconds(now.at);
                self.messages.add(now_s, messages.len() as u64);
                for m in messages {
                    self.on_message(m, received_ns, now, &mut out);
                }
            }
        }
        out
    }

    fn on_message(
        &mut self,
        message: ServerMessage,
        received_ns: u64,
        now: Now,
        out: &mut Vec<ClientMessage>,
    ) {
        let now_s = self.seconds(now.at);
        let t = now.at.saturating_duration_since(self.started).as_secs_f64();
        match message {
            ServerMessage::Hello(h) => {
                self.available = h.symbols;
                self.source = h.source;
                if self.watchlist.watch_all {
                    for s in &self.available {
                        self.watchlist.add(s.clone());
                    }
                }
                let removed = self.watchlist.reconcile(&self.available);
                if !removed.is_empty() {
                    let names: Vec<&str> = removed.iter().map(Symbol::as_str).collect();
                    self.notify(
                        format!("not on this server, removed: {}", names.join(", ")),
                        now.at,
                    );
                }
                if let Some(token) = &self.token {
                    out.push(ClientMessage::Auth(protocol::Auth {
                        token: token.expose().to_owned(),
                    }));
                } else if h.auth_required {
                    self.notify(
                        "this server takes orders only with its token: restart with --token"
                            .to_owned(),
                        now.at,
                    );
                }
                // Every connection starts with a hello: the state subscribes afresh, so what
                // is watched is exactly what the state holds.
                let symbols = self.watchlist.symbols();
                if !symbols.is_empty() {
                    out.push(ClientMessage::Subscribe(Subscribe { symbols }));
                }
            }
            ServerMessage::Snapshot(s) => self.watchlist.snapshot(&s, t),
            ServerMessage::Quote(q) => {
                self.last_event_ns = self.last_event_ns.max(q.ts_ns);
                self.tick_latency
                    .record(now_s, received_ns.saturating_sub(q.ts_ns));
                self.watchlist.quote(&q.symbol, q.seq, q.bid, q.ask, out);
            }
            ServerMessage::Trade(tr) => {
                self.last_event_ns = self.last_event_ns.max(tr.ts_ns);
                self.tick_latency
                    .record(now_s, received_ns.saturating_sub(tr.ts_ns));
                self.watchlist
                    .trade(&tr.symbol, tr.seq, tr.price, tr.size, t, now.at, out);
                for a in self.alerts.trade(&tr.symbol, tr.price) {
                    let side = if a.above { "above" } else { "below" };
                    self.notify(
                        format!(
                            "ALERT {} traded {} ({side} {})",
                            a.symbol, tr.price, a.price
                        ),
                        now.at,
                    );
                    self.ring |= self.bell;
                    self.settings_dirty = true;
                }
            }
            ServerMessage::Ack(a) => {
                if let Some(rtt) = self.orders.ack(&a, received_ns) {
                    self.rtt.record(now_s, rtt);
                }
            }
            ServerMessage::Reject(r) => {
                // A reject is a round trip too: RTT counts every answer, ack or reject.
                if let Some(rtt) = self.orders.reject(&r, received_ns) {
                    self.rtt.record(now_s, rtt);
                }
                let why = orders::reason(&r);
                self.notify(format!("order {} rejected: {why}", r.id), now.at);
            }
            ServerMessage::Fill(f) => {
                if let Some(o) = self.orders.get_mut(&f.id) {
                    let (symbol, side) = (o.symbol.clone(), o.side);
                    self.positions.fill(&symbol, side, f.qty, f.price);
                }
                self.orders.fill(&f);
            }
            ServerMessage::Canceled(c) => self.orders.canceled(&c.id),
            ServerMessage::Pong(_) => {}
            ServerMessage::Authorized(_) => {
                self.notify("orders authorized".to_owned(), now.at);
            }
            ServerMessage::Error(e) => self.notify(format!("server: {}", e.message), now.at),
        }
    }

    /// Applies a user action; returns messages to send.
    pub fn handle(&mut self, action: Action, now: Now) -> Vec<ClientMessage> {
        if action == Action::ForceQuit {
            self.quit = true;
            return Vec::new();
        }
        if let Some(mut form) = self.form.take() {
            return match form.handle(action) {
                FormOutcome::Open => {
                    self.form = Some(form);
                    Vec::new()
                }
                FormOutcome::Close => Vec::new(),
                FormOutcome::Submit { qty, price } => {
                    let large = self
                        .notional(&form)
                        .is_some_and(|value| value > self.confirm_notional);
                    if large && !form.confirming {
                        form.confirming = true;
                        self.form = Some(form);
                        return Vec::new();
                    }
                    self.send_order(&form, qty, price, now)
                }
            };
        }
        if self.prompt.is_some() {
            return self.handle_prompt(action, now);
        }
        if self.alert_prompt.is_some() {
            self.handle_alert_prompt(action, now);
            return Vec::new();
        }
        if self.help {
            match action {
                Action::Quit => self.quit = true,
                Action::ToggleHelp | Action::Escape => self.help = false,
                _ => {}
            }
            return Vec::new();
        }
        match action {
            Action::Quit => self.quit = true,
            Action::ToggleHelp => self.help = true,
            Action::Up
            | Action::Down
            | Action::PageUp
            | Action::PageDown
            | Action::First
            | Action::Last => {
                let by: isize = match action {
                    Action::Up => -1,
                    Action::Down => 1,
                    Action::PageUp => -PAGE,
                    Action::PageDown => PAGE,
                    Action::First => isize::MIN / 2,
                    _ => isize::MAX / 2,
                };
                match self.focus {
                    Focus::Watchlist => self.watchlist.move_selection(by),
                    Focus::Orders => self.orders.move_selection(by),
                }
            }
            Action::NextSort => self.watchlist.next_sort(),
            Action::ReverseSort => self.watchlist.reverse_sort(),
            Action::SwitchFocus => {
                self.focus = if self.focus == Focus::Watchlist {
                    Focus::Orders
                } else {
                    Focus::Watchlist
                };
            }
            Action::OpenOrder(side) => {
                if let Some(row) = self.watchlist.selected_row() {
                    // A market order unless a price is typed: a prefilled price would silently
                    // make a limit order at a price that has moved on.
                    self.form = Some(OrderForm::new(
                        row.symbol.clone(),
                        side,
                        self.default_qty,
                        None,
                    ));
                }
            }
            Action::CancelOrder => return self.cancel(now),
            Action::AddSymbol => self.prompt = Some(String::new()),
            Action::TogglePositions => self.show_positions = !self.show_positions,
            Action::SwitchList(n) => return self.switch_list(n, now),
            Action::SetAlert => {
                if let Some(row) = self.watchlist.selected_row() {
                    let text = self
                        .alerts
                        .get(&row.symbol)
                        .map_or_else(String::new, |a| a.price.to_string());
                    self.alert_prompt = Some((row.symbol.clone(), text));
                }
            }
            Action::RemoveSymbol => {
                if let Some(row) = self.watchlist.remove_selected() {
                    self.settings_dirty = true;
                    return vec![ClientMessage::Unsubscribe(Unsubscribe {
                        symbols: vec![row.symbol],
                    })];
                }
            }
            Action::ForceQuit
            | Action::Input(_)
            | Action::Backspace
            | Action::NextField
            | Action::Submit
            | Action::Escape => {}
        }
        Vec::new()
    }

    /// `c`: cancels the selected order when the orders pane has focus. With the watchlist
    /// focused it cancels nothing unseen: it selects the newest open order of the selected
    /// symbol, shows it, and asks for `c` again.
    fn cancel(&mut self, now: Now) -> Vec<ClientMessage> {
        if self.focus == Focus::Watchlist {
            let Some(symbol) = self.watchlist.selected_row().map(|r| r.symbol.clone()) else {
                return Vec::new();
            };
            match self
                .orders
                .rows
                .iter()
                .rposition(|o| o.symbol == symbol && o.status.is_open())
            {
                Some(i) => {
                    self.orders.selected = i;
                    self.focus = Focus::Orders;
                    let id = self.orders.rows[i].id.clone();
                    self.notify(
                        format!("order {id} selected: press c again to cancel it"),
                        now.at,
                    );
                }
                None => self.notify(format!("no open order for {symbol}"), now.at),
            }
            return Vec::new();
        }
        let Some(o) = self.orders.selected_row() else {
            return Vec::new();
        };
        if o.status.is_open() {
            return vec![ClientMessage::Cancel(Cancel {
                id: o.id.as_str().into(),
                sent_ns: Some(now.wall_ns),
            })];
        }
        let text = format!("order {} is not open", o.id);
        self.notify(text, now.at);
        Vec::new()
    }

    /// The mark for unrealized P&L: the mid of the live bid and ask (the last trade when one
    /// side is missing); `None` while prices are stale or unknown.
    pub fn mark(&self, symbol: &str) -> Option<Decimal> {
        if !matches!(self.connection, Connection::Connected) {
            return None;
        }
        let row = self.watchlist.row(symbol)?;
        row.seq.last()?;
        if row.bid.is_zero() || row.ask.is_zero() {
            return (!row.last.is_zero()).then_some(row.last);
        }
        row.bid.checked_add(row.ask)?.checked_div(Decimal::TWO)
    }

    /// Session totals: realized, unrealized (`None` if any position cannot be marked).
    pub fn pnl_totals(&self) -> (Option<Decimal>, Option<Decimal>) {
        let mut realized = Some(Decimal::ZERO);
        let mut unrealized = Some(Decimal::ZERO);
        for p in &self.positions.rows {
            realized = realized
                .and_then(|r| r.checked_add(p.realized))
                .filter(|_| !p.broken);
            unrealized = unrealized
                .zip(p.unrealized(self.mark(&p.symbol)))
                .and_then(|(u, x)| u.checked_add(x))
                .filter(|_| !p.broken);
        }
        (realized, unrealized)
    }

    /// Shows watchlist `n` (0-based): unsubscribes what only the old list watched and
    /// subscribes the new one.
    fn switch_list(&mut self, n: usize, now: Now) -> Vec<ClientMessage> {
        if n >= self.lists.len() {
            let count = self.lists.len();
            self.notify(
                format!("there are {count} watchlists (keys 1-{count})"),
                now.at,
            );
            return Vec::new();
        }
        if n == self.list {
            return Vec::new();
        }
        let old = self.watchlist.symbols();
        self.lists[self.list].1 = old.iter().map(ToString::to_string).collect();
        self.watchlist = Watchlist::new(&self.lists[n].1);
        if !self.available.is_empty() {
            if self.watchlist.watch_all {
                for s in &self.available {
                    self.watchlist.add(s.clone());
                }
            }
            self.watchlist.reconcile(&self.available);
        }
        self.list = n;
        let new = self.watchlist.symbols();
        let mut out = Vec::new();
        let gone: Vec<Symbol> = old.into_iter().filter(|s| !new.contains(s)).collect();
        if !gone.is_empty() {
            out.push(ClientMessage::Unsubscribe(Unsubscribe { symbols: gone }));
        }
        if !new.is_empty() {
            out.push(ClientMessage::Subscribe(Subscribe { symbols: new }));
        }
        out
    }

    /// What the settings file keeps: every watchlist (the shown one as it is now) and the
    /// alerts.
    pub fn saved(&self) -> crate::config::Saved {
        let mut lists = self.lists.clone();
        if let Some(current) = lists.get_mut(self.list) {
            current.1 = self
                .watchlist
                .symbols()
                .iter()
                .map(ToString::to_string)
                .collect();
        }
        crate::config::Saved {
            lists,
            alerts: self
                .alerts
                .rows
                .iter()
                .map(|a| (a.symbol.to_string(), a.price.to_string(), a.above))
                .collect(),
        }
    }

    /// The alert prompt: a price sets the selected symbol's alert (above or below its last
    /// trade), an empty one removes it.
    fn handle_alert_prompt(&mut self, action: Action, now: Now) {
        let Some((symbol, text)) = self.alert_prompt.as_mut() else {
            return;
        };
        match action {
            Action::Input(c) if (c.is_ascii_digit() || c == '.') && text.len() < 16 => text.push(c),
            Action::Backspace => {
                text.pop();
            }
            Action::Escape | Action::Quit => self.alert_prompt = None,
            Action::Submit => {
                let (symbol, text) = (symbol.clone(), text.clone());
                self.alert_prompt = None;
                if text.trim().is_empty() {
                    if self.alerts.remove(&symbol) {
                        self.settings_dirty = true;
                        self.notify(format!("alert on {symbol} removed"), now.at);
                    }
                    return;
                }
                let Some(price) = text.parse::<Decimal>().ok().filter(|p| *p > Decimal::ZERO)
                else {
                    self.notify(format!("`{text}` is not a price"), now.at);
                    return;
                };
                let last = self
                    .watchlist
                    .row(&symbol)
                    .map_or(Decimal::ZERO, |r| r.last);
                let label = self.alerts.set(symbol.clone(), price, last).label();
                self.settings_dirty = true;
                self.notify(format!("alert set: {symbol} {label}"), now.at);
            }
            _ => {}
        }
    }

    /// Symbols the server offers that complete the add prompt's text.
    pub fn completions(&self) -> Vec<&Symbol> {
        let typed = self.prompt.as_deref().unwrap_or("");
        watchlist::completions(typed, &self.available, MAX_COMPLETIONS)
    }

    fn handle_prompt(&mut self, action: Action, now: Now) -> Vec<ClientMessage> {
        let Some(text) = self.prompt.as_mut() else {
            return Vec::new();
        };
        match action {
            Action::Input(c)
                if text.len() < protocol::MAX_SYMBOL_BYTES && protocol::is_symbol_char(c) =>
            {
                text.push(c);
            }
            Action::Backspace => {
                text.pop();
            }
            Action::NextField => {
                if let Some(first) = self.completions().first().map(ToString::to_string) {
                    self.prompt = Some(first);
                }
            }
            Action::Escape | Action::Quit => self.prompt = None,
            Action::Submit => {
                let typed = self.prompt.take().unwrap_or_default();
                if typed.is_empty() {
                    return Vec::new();
                }
                if self.available.is_empty() {
                    self.notify(
                        "the server's symbol list has not arrived yet".into(),
                        now.at,
                    );
                    return Vec::new();
                }
                let offered: std::collections::HashSet<&str> =
                    self.available.iter().map(Symbol::as_str).collect();
                let Some(symbol) = crate::symbols::resolve(&typed, &offered) else {
                    self.notify(format!("`{typed}` is not on this server"), now.at);
                    return Vec::new();
                };
                if self.watchlist.add(symbol.clone()) {
                    self.watchlist.selected = self.watchlist.rows.len() - 1;
                    self.settings_dirty = true;
                    return vec![ClientMessage::Subscribe(Subscribe {
                        symbols: vec![symbol],
                    })];
                }
                self.notify(format!("{symbol} is already in the watchlist"), now.at);
            }
            _ => {}
        }
        Vec::new()
    }

    fn send_order(
        &mut self,
        form: &OrderForm,
        qty: Decimal,
        price: Option<Decimal>,
        now: Now,
    ) -> Vec<ClientMessage> {
        let id = self
            .orders
            .add(form.symbol.clone(), form.side, qty, price, now.wall_ns);
        vec![ClientMessage::Order(Order {
            id: id.into(),
            symbol: form.symbol.clone(),
            side: form.side,
            qty,
            price,
            sent_ns: Some(now.wall_ns),
        })]
    }

    /// Recomputes the latency panel's figures if they are older than [`VIEW_REFRESH`]; returns
    /// whether they changed.
    pub fn refresh(&mut self, now: Instant) -> bool {
        if self
            .view_at
            .is_some_and(|t| now.saturating_duration_since(t) < VIEW_REFRESH)
        {
            return false;
        }
        self.view_at = Some(now);
        let now_s = self.seconds(now);
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::{Ack, Fill, Quote, Reject, RejectCode, Snapshot, Trade};

    fn now() -> Now {
        Now::read()
    }
    use std::str::FromStr;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn state() -> State {
        State::new(
            "ws://x/ws".into(),
            &["AAPL".into(), "MSFT".into()],
            dec("100"),
            Instant::now(),
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
            s.apply(
                frame(vec![snapshot("AAPL", 10), quote("AAPL", 11, "100.05")]),
                now()
            )
            .is_empty()
        );
        let trade = ServerMessage::Trade(Trade {
            symbol: "AAPL".into(),
            seq: 12,
            price: dec("100.51"),
            size: dec("5"),
            ts_ns: 1_500_000,
        });
        s.apply(frame(vec![trade]), now());
        let row = &s.watchlist.rows[0];
        assert_eq!(
            (row.bid, row.last, row.volume, row.seq.last()),
            (dec("100.05"), dec("100.51"), dec("1005"), Some(12))
        );
        assert_eq!(row.direction, Direction::Up);
        assert_eq!(row.change(), Some(dec("1.50")));
        assert_eq!(row.change_pct(), Some(dec("1.51")));
        assert_eq!(s.tick_latency.session().count, 2);
        assert_eq!(s.watchlist.rows[1].seq.last(), None, "MSFT untouched");
    }

    #[test]
    fn a_gap_is_counted_once_and_asks_for_a_fresh_snapshot() {
        let mut s = state();
        s.apply(frame(vec![snapshot("AAPL", 10)]), now());
        let out = s.apply(
            frame(vec![quote("AAPL", 13, "1"), quote("AAPL", 14, "2")]),
            now(),
        );
        assert_eq!(
            out,
            vec![ClientMessage::Subscribe(Subscribe {
                symbols: vec!["AAPL".into()]
            })]
        );
        assert_eq!((s.watchlist.gaps, s.watchlist.rows[0].gaps), (1, 1));
        assert_eq!(
            s.watchlist.rows[0].bid,
            dec("100.00"),
            "events after a gap wait for the snapshot"
        );
        s.apply(
            frame(vec![snapshot("AAPL", 20), quote("AAPL", 21, "3")]),
            now(),
        );
        assert_eq!(
            (
                s.watchlist.rows[0].bid,
                !s.watchlist.rows[0].seq.is_synced()
            ),
            (dec("3"), false)
        );
        assert_eq!(s.watchlist.gaps, 1);
    }

    #[test]
    fn an_order_goes_from_form_to_sent_acked_and_filled() {
        let mut s = state();
        s.apply(frame(vec![snapshot("AAPL", 1)]), now());
        assert!(s.handle(Action::OpenOrder(Side::Buy), now()).is_empty());
        let form = s.form.clone().unwrap();
        assert_eq!((form.qty.as_str(), form.price.as_str()), ("100", ""));
        s.handle(Action::NextField, now());
        for c in "100.02".chars() {
            s.handle(Action::Input(c), now());
        }
        let out = s.handle(Action::Submit, now());
        let [ClientMessage::Order(o)] = out.as_slice() else {
            panic!("{out:?}")
        };
        assert_eq!(
            (o.symbol.as_str(), o.side, o.qty, o.price),
            ("AAPL", Side::Buy, dec("100"), Some(dec("100.02")))
        );
        let sent = s.orders.rows[0].sent_ns;
        s.apply(
            NetEvent::Frame {
                messages: vec![ServerMessage::Ack(Ack {
                    id: o.id.clone(),
                    order_id: "o-1".into(),
                    sent_ns: Some(sent),
                    ts_ns: 0,
                })],
                received_ns: sent + 250_000,
            },
            now(),
        );
        assert_eq!(
            (s.orders.rows[0].status.clone(), s.orders.rows[0].rtt),
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
        s.apply(frame(vec![fill("40", "100.02", "60")]), now());
        assert_eq!(s.orders.rows[0].status, OrderStatus::PartiallyFilled);
        s.apply(frame(vec![fill("60", "100.03", "0")]), now());
        assert_eq!(s.orders.rows[0].status, OrderStatus::Filled);
        assert_eq!(s.orders.rows[0].avg_price(), Some(dec("100.026")));
    }

    #[test]
    fn a_rejected_order_keeps_its_reason_and_an_empty_price_is_a_market_order() {
        let mut s = state();
        s.handle(Action::OpenOrder(Side::Sell), now());
        s.handle(Action::NextField, now());
        s.handle(Action::Backspace, now());
        let out = s.handle(Action::Submit, now());
        let [ClientMessage::Order(o)] = out.as_slice() else {
            panic!()
        };
        assert_eq!(o.price, None);
        s.apply(
            frame(vec![ServerMessage::Reject(Reject {
                id: o.id.clone(),
                code: RejectCode::BadQuantity,
                reason: "too big".into(),
                sent_ns: o.sent_ns,
                ts_ns: 0,
            })]),
            now(),
        );
        assert!(
            matches!(&s.orders.rows[0].status, OrderStatus::Rejected(r) if r.contains("too big"))
        );
    }

    #[test]
    fn bad_form_input_is_refused_without_sending() {
        let mut s = state();
        s.handle(Action::OpenOrder(Side::Buy), now());
        for _ in 0..5 {
            s.handle(Action::Backspace, now());
        }
        assert!(s.handle(Action::Submit, now()).is_empty());
        assert!(s.form.as_ref().unwrap().error.is_some());
        s.handle(Action::Escape, now());
        assert!(s.form.is_none() && s.orders.rows.is_empty());
    }

    fn hello(symbols: &[&str]) -> NetEvent {
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
            auth_required: false,
        })])
    }

    #[test]
    fn with_a_token_every_hello_is_answered_with_auth_before_the_subscription() {
        let mut s = state();
        s.token = Some("s3cret".parse().unwrap());
        for _ in 0..2 {
            let out = s.apply(hello(&["AAPL"]), now());
            assert!(
                matches!(&out[..], [ClientMessage::Auth(a), ClientMessage::Subscribe(_)] if a.token == "s3cret"),
                "{out:?}"
            );
        }
    }

    #[test]
    fn adding_and_removing_symbols_subscribes_and_unsubscribes() {
        let mut s = state();
        s.apply(hello(&["AAPL", "MSFT", "NVDA"]), now());
        s.handle(Action::AddSymbol, now());
        for c in "nv".chars() {
            s.handle(Action::Input(c), now());
        }
        let names: Vec<&str> = s.completions().iter().map(|c| c.as_str()).collect();
        assert_eq!(names, ["NVDA"], "completes as you type");
        s.handle(Action::NextField, now());
        assert_eq!(
            s.prompt.as_deref(),
            Some("NVDA"),
            "Tab takes the completion"
        );
        let out = s.handle(Action::Submit, now());
        assert_eq!(
            out,
            vec![ClientMessage::Subscribe(Subscribe {
                symbols: vec!["NVDA".into()]
            })]
        );
        assert_eq!((s.watchlist.rows.len(), s.watchlist.selected), (3, 2));
        let out = s.handle(Action::RemoveSymbol, now());
        assert_eq!(
            out,
            vec![ClientMessage::Unsubscribe(Unsubscribe {
                symbols: vec!["NVDA".into()]
            })]
        );
        assert_eq!(s.watchlist.symbols(), ["AAPL", "MSFT"]);
    }

    #[test]
    fn an_unknown_symbol_is_refused_and_never_becomes_a_row() {
        let mut s = state();
        s.handle(Action::AddSymbol, now());
        s.handle(Action::Input('K'), now());
        s.handle(Action::Input('O'), now());
        assert!(
            s.handle(Action::Submit, now()).is_empty(),
            "no list from the server yet"
        );
        s.apply(hello(&["AAPL", "MSFT", "KO"]), now());
        s.handle(Action::AddSymbol, now());
        for c in "ZZZ".chars() {
            s.handle(Action::Input(c), now());
        }
        assert!(s.handle(Action::Submit, now()).is_empty());
        assert!(
            s.notice_at(Instant::now())
                .unwrap()
                .contains("`ZZZ` is not on this server")
        );
        assert_eq!(s.watchlist.symbols(), ["AAPL", "MSFT"]);
        s.handle(Action::AddSymbol, now());
        for c in "ko".chars() {
            s.handle(Action::Input(c), now());
        }
        assert_eq!(s.handle(Action::Submit, now()).len(), 1, "ko is KO");
        assert_eq!(s.watchlist.symbols(), ["AAPL", "MSFT", "KO"]);
    }

    #[test]
    fn settings_symbols_are_matched_to_the_servers_list() {
        let mut s = State::new(
            "ws://x/ws".into(),
            &["aapl".into(), "NOPE".into(), "MSFT".into(), "msft".into()],
            dec("1"),
            Instant::now(),
        );
        let out = s.apply(hello(&["AAPL", "MSFT", "KO"]), now());
        assert_eq!(s.watchlist.symbols(), ["AAPL", "MSFT"]);
        assert_eq!(
            out,
            vec![ClientMessage::Subscribe(Subscribe {
                symbols: vec!["AAPL".into(), "MSFT".into()]
            })]
        );
        assert!(
            s.notice_at(Instant::now())
                .unwrap()
                .contains("removed: NOPE")
        );
    }

    #[test]
    fn a_star_watchlist_takes_every_symbol_the_server_offers() {
        let mut s = State::new("ws://x/ws".into(), &["*".into()], dec("1"), Instant::now());
        assert!(s.watchlist.symbols().is_empty());
        let out = s.apply(hello(&["S0001", "S0002"]), now());
        let subscribe = vec![ClientMessage::Subscribe(Subscribe {
            symbols: vec!["S0001".into(), "S0002".into()],
        })];
        assert_eq!(out, subscribe);
        assert_eq!(s.watchlist.symbols(), ["S0001", "S0002"]);
        // A reconnect's hello adds no row twice; the state subscribes again.
        assert_eq!(s.apply(hello(&["S0001", "S0002"]), now()), subscribe);
        assert_eq!(s.watchlist.rows.len(), 2);
    }

    #[test]
    fn open_orders_are_marked_lost_when_the_connection_drops_them() {
        let mut s = state();
        s.apply(frame(vec![snapshot("AAPL", 1)]), now());
        for _ in 0..3 {
            s.handle(Action::OpenOrder(Side::Buy), now());
            s.handle(Action::Submit, now());
        }
        let ids: Vec<String> = s.orders.rows.iter().map(|o| o.id.clone()).collect();
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
        s.apply(
            frame(vec![
                ack(&ids[0]),
                ack(&ids[1]),
                fill(&ids[1], "90"),
                ack(&ids[2]),
                fill(&ids[2], "0"),
            ]),
            now(),
        );
        s.apply(
            NetEvent::Disconnected {
                code: Some(1001),
                reason: "server shutting down".into(),
                retry_in: Duration::from_millis(250),
            },
            now(),
        );
        s.apply(
            NetEvent::Connected {
                protocol: "tickwire.v1.json".into(),
            },
            now(),
        );
        let statuses: Vec<&OrderStatus> = s.orders.rows.iter().map(|o| &o.status).collect();
        assert_eq!(
            statuses,
            [&OrderStatus::Lost, &OrderStatus::Lost, &OrderStatus::Filled]
        );
        assert!(s.orders.rows.iter().all(|o| !o.status.is_open()));
    }

    #[test]
    fn the_status_shows_a_replays_file_speed_and_recording_clock() {
        let mut s = State::new(
            "ws://x/ws".into(),
            &["AAPL".into()],
            dec("1"),
            Instant::now(),
        );
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
    fn c_with_the_watchlist_focused_shows_the_order_before_cancelling_it() {
        let mut s = state();
        s.apply(frame(vec![snapshot("AAPL", 1)]), now());
        s.handle(Action::OpenOrder(Side::Buy), now());
        s.handle(Action::Submit, now());
        s.handle(Action::Down, now());
        assert_eq!(s.focus, Focus::Watchlist);
        // MSFT is selected and has no order: nothing is cancelled.
        assert!(s.handle(Action::CancelOrder, now()).is_empty());
        assert!(
            s.notice_at(Instant::now())
                .unwrap()
                .contains("no open order for MSFT")
        );
        s.handle(Action::Up, now());
        assert!(
            s.handle(Action::CancelOrder, now()).is_empty(),
            "asks first"
        );
        assert_eq!((s.focus, s.orders.selected), (Focus::Orders, 0));
        assert!(
            s.notice_at(Instant::now())
                .unwrap()
                .contains("press c again")
        );
        assert!(matches!(
            s.handle(Action::CancelOrder, now()).as_slice(),
            [ClientMessage::Cancel(_)]
        ));
    }

    #[test]
    fn notices_expire() {
        let mut s = state();
        let t = Instant::now();
        s.apply(
            frame(vec![ServerMessage::Error(protocol::ErrorReply {
                code: protocol::ErrorCode::BadRequest,
                message: "nope".into(),
                symbols: Vec::new(),
            })]),
            Now { at: t, wall_ns: 1 },
        );
        assert_eq!(
            s.notice_at(t + Duration::from_secs(1)),
            Some("server: nope")
        );
        assert_eq!(s.notice_at(t + NOTICE_TTL), None);
    }

    #[test]
    fn a_large_order_asks_for_confirmation() {
        let mut s = state();
        s.apply(frame(vec![snapshot("AAPL", 1)]), now());
        s.handle(Action::OpenOrder(Side::Buy), now());
        for c in "5000".chars() {
            s.handle(Action::Input(c), now());
        }
        // 5,000 at the ask of 100.02 is 500,100: above the 100,000 default.
        assert_eq!(s.notional(s.form.as_ref().unwrap()), Some(dec("500100.00")));
        assert!(s.handle(Action::Submit, now()).is_empty());
        assert!(s.form.as_ref().unwrap().confirming);
        assert!(matches!(
            s.handle(Action::Submit, now()).as_slice(),
            [ClientMessage::Order(_)]
        ));
        // A small one goes at once.
        s.handle(Action::OpenOrder(Side::Buy), now());
        s.handle(Action::Input('5'), now());
        assert!(matches!(
            s.handle(Action::Submit, now()).as_slice(),
            [ClientMessage::Order(_)]
        ));
    }

    #[test]
    fn an_alert_set_from_the_selected_row_fires_once_and_rings_if_asked() {
        let mut s = state();
        s.bell = true;
        s.apply(frame(vec![snapshot("AAPL", 1)]), now());
        s.handle(Action::SetAlert, now());
        for c in "100.50".chars() {
            s.handle(Action::Input(c), now());
        }
        s.handle(Action::Submit, now());
        let alert = s.alerts.get("AAPL").unwrap().clone();
        assert!(
            alert.above && !alert.fired,
            "100.50 is above the last 100.01"
        );
        assert!(s.settings_dirty, "alerts are kept in the settings");
        let trade = |seq, price: &str| {
            frame(vec![ServerMessage::Trade(Trade {
                symbol: "AAPL".into(),
                seq,
                price: dec(price),
                size: dec("1"),
                ts_ns: 1,
            })])
        };
        s.apply(trade(2, "100.49"), now());
        assert!(!s.ring);
        s.apply(trade(3, "100.51"), now());
        assert!(s.ring && s.alerts.get("AAPL").unwrap().fired);
        assert!(
            s.notice_at(Instant::now())
                .unwrap()
                .starts_with("ALERT AAPL traded 100.51")
        );
        s.ring = false;
        s.apply(trade(4, "100.60"), now());
        assert!(!s.ring, "fired once");
        // An empty price removes it.
        s.handle(Action::SetAlert, now());
        for _ in 0..6 {
            s.handle(Action::Backspace, now());
        }
        s.handle(Action::Submit, now());
        assert!(s.alerts.rows.is_empty());
    }

    #[test]
    fn number_keys_switch_watchlists_and_the_subscriptions_follow() {
        let mut s = state();
        s.lists
            .push(("banks".into(), vec!["JPM".into(), "AAPL".into()]));
        s.apply(hello(&["AAPL", "MSFT", "JPM"]), now());
        let out = s.handle(Action::SwitchList(1), now());
        assert_eq!(
            out,
            vec![
                ClientMessage::Unsubscribe(Unsubscribe {
                    symbols: vec!["MSFT".into()]
                }),
                ClientMessage::Subscribe(Subscribe {
                    symbols: vec!["JPM".into(), "AAPL".into()]
                }),
            ]
        );
        assert_eq!(
            (s.list, s.watchlist.symbols()),
            (1, vec![Symbol::from("JPM"), "AAPL".into()])
        );
        s.handle(Action::RemoveSymbol, now());
        assert!(s.settings_dirty);
        s.handle(Action::SwitchList(0), now());
        let saved = s.saved();
        assert_eq!(saved.lists[0].1, ["AAPL", "MSFT"]);
        assert_eq!(saved.lists[1].1, ["AAPL"], "the change to banks is kept");
        assert!(s.handle(Action::SwitchList(5), now()).is_empty());
    }

    #[test]
    fn ctrl_c_quits_from_anywhere_and_q_unless_typing() {
        for open in [
            Action::ToggleHelp,
            Action::OpenOrder(Side::Buy),
            Action::AddSymbol,
        ] {
            let mut s = state();
            s.apply(frame(vec![snapshot("AAPL", 1)]), now());
            s.handle(open, now());
            s.handle(Action::ForceQuit, now());
            assert!(s.quit, "{open:?}");
        }
        let mut s = state();
        s.handle(Action::ToggleHelp, now());
        s.handle(Action::Quit, now());
        assert!(s.quit, "q quits from help");
        let mut s = state();
        s.handle(Action::AddSymbol, now());
        s.handle(Action::Input('q'), now());
        assert!(
            !s.quit && s.prompt.as_deref() == Some("q"),
            "q is a letter in the prompt"
        );
    }

    #[test]
    fn a_connection_that_never_opened_is_not_called_closed() {
        let mut s = state();
        let down = || NetEvent::Disconnected {
            code: None,
            reason: "cannot connect: refused".into(),
            retry_in: Duration::from_secs(1),
        };
        s.apply(down(), now());
        assert!(matches!(
            s.connection,
            Connection::Reconnecting { opened: false, .. }
        ));
        s.apply(
            NetEvent::Connected {
                protocol: "p".into(),
            },
            now(),
        );
        let before = now();
        s.apply(down(), before);
        let Connection::Reconnecting {
            opened,
            stale_since_ns,
            ..
        } = s.connection.clone()
        else {
            panic!()
        };
        assert!(opened);
        assert_eq!(stale_since_ns, before.wall_ns);
        // Failed retries keep the moment prices went stale.
        s.apply(down(), now());
        assert!(
            matches!(s.connection, Connection::Reconnecting { opened: false, stale_since_ns: t, .. } if t == before.wall_ns)
        );
    }

    #[test]
    fn cancel_applies_to_the_selected_open_order_only() {
        let mut s = state();
        s.handle(Action::OpenOrder(Side::Buy), now());
        let out = s.handle(Action::Submit, now());
        let [ClientMessage::Order(o)] = out.as_slice() else {
            panic!()
        };
        s.handle(Action::SwitchFocus, now());
        assert!(
            matches!(s.handle(Action::CancelOrder, now()).as_slice(), [ClientMessage::Cancel(c)] if c.id == o.id)
        );
        s.apply(
            NetEvent::Disconnected {
                code: Some(1001),
                reason: "bye".into(),
                retry_in: Duration::from_secs(1),
            },
            now(),
        );
        assert!(matches!(s.orders.rows[0].status, OrderStatus::Rejected(_)));
        assert!(s.handle(Action::CancelOrder, now()).is_empty());
    }
}
