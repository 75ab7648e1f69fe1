//! Application state and the pure functions that change it.
//!
//! [`State::apply`] takes a network event and [`State::handle`] a user action, each with the
//! moment it happens ([`Now`]); both change state and return the client messages to send, doing
//! no I/O and reading no clock, so they are unit-tested with plain values. Rendering (in `ui`)
//! only borrows the state.
//!
//! # Layout
//! - this file: [`State`], which dispatches network events and keys to its parts.
//! - [`overlay`]: what has the keyboard over the panes (help, the order form and its
//!   confirmation, the add-symbol and alert prompts), one at a time.
//! - [`watchlist`]: rows, selection, `seq` checks; [`lists`]: named watchlists; [`orders`]: the
//!   session's orders; [`form`]: the order entry form; [`positions`]: P&L; [`alerts`].
//! - [`status`]: the connection, the source and notices, for the status bar;
//!   [`latency_view`]: the latency panel's figures.
//! - [`setup`]: the state a session starts from, built from the settings and flags.

pub mod alerts;
pub mod depth;
pub mod form;
pub mod latency_view;
pub mod lists;
pub mod orders;
pub mod overlay;
pub mod positions;
pub mod setup;
pub mod status;
pub mod watchlist;

use std::time::Instant;

use protocol::{
    Cancel, ClientMessage, Decimal, Resume, ServerMessage, Side, Subscribe, Symbol, Unsubscribe,
};

use crate::action::Action;
use crate::latency::{LatencyStats, RateMeter};
use crate::net::NetEvent;

pub use alerts::{Alert, Alerts};
pub use depth::{BookState, Depth};
pub use form::{Field, FormOutcome, OrderForm};
pub use latency_view::{LatencyView, VIEW_REFRESH};
pub use orders::{OrderRow, OrderStatus, Orders};
pub use overlay::Overlay;
pub use positions::{Position, Positions};
pub use setup::Setup;
pub use status::{Connection, NOTICE_TTL};
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
    /// What has the keyboard over the panes, if anything.
    pub overlay: Overlay,
    /// The user asked to leave; the app stops after this update.
    pub quit: bool,
    pub default_qty: Decimal,
    pub tick_latency: LatencyStats,
    pub rtt: LatencyStats,
    pub messages: RateMeter,
    /// The latency panel's figures, as of the last refresh.
    pub view: LatencyView,
    pub(super) view_at: Option<Instant>,
    /// Symbols the server offers, from `hello`.
    pub available: Vec<Symbol>,
    /// What the server streams, from `hello`.
    pub source: Option<protocol::SourceInfo>,
    /// Symbols whose source the server says is stale (a live venue's stream reconnecting), from
    /// its last `status`.
    pub stale_sources: std::collections::BTreeSet<Symbol>,
    /// The epoch of the server's `hello`: the rows' `seq`s are from it, and a reconnect to the
    /// same epoch resumes them.
    pub epoch: Option<String>,
    /// `ts_ns` of the latest quote or trade: the replay clock runs from it.
    pub last_event_ns: u64,
    /// A one-line notice (errors from the server, refused input) and when it was given; it
    /// shows for [`NOTICE_TTL`].
    pub notice: Option<(String, Instant)>,
    /// Orders worth more than this ask for a confirmation.
    pub confirm_notional: Decimal,
    /// The depth ladder of the selected symbol (`l`).
    pub depth: Depth,
}

/// Rows PageUp and PageDown move.
const PAGE: isize = 10;

/// Completions the add prompt shows at most.
pub const MAX_COMPLETIONS: usize = 8;

/// Orders worth more than this ask for a confirmation unless the settings say otherwise.
pub const DEFAULT_CONFIRM_NOTIONAL: Decimal = Decimal::from_parts(100_000, 0, 0, false, 0);

impl State {
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
            bell: false,
            ring: false,
            settings_dirty: false,
            lists: vec![("main".to_owned(), watchlist.to_vec())],
            list: 0,
            focus: Focus::Watchlist,
            overlay: Overlay::None,
            quit: false,
            default_qty,
            tick_latency: LatencyStats::default(),
            rtt: LatencyStats::default(),
            messages: RateMeter::default(),
            view: LatencyView::default(),
            view_at: None,
            available: Vec::new(),
            source: None,
            stale_sources: std::collections::BTreeSet::new(),
            epoch: None,
            last_event_ns: 0,
            notice: None,
            confirm_notional: DEFAULT_CONFIRM_NOTIONAL,
            depth: Depth::default(),
        }
    }

    /// What an order would be worth: the limit price, or the touch it would trade at.
    pub fn notional(&self, form: &OrderForm) -> Option<Decimal> {
        let qty = protocol::decimal::parse(&form.qty).ok()?;
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
            NetEvent::Connected { protocol, url } => {
                self.connection = Connection::Connected;
                self.protocol = Some(protocol);
                self.url = url;
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
                // A new connection: the server sends a `status` after `hello` if any is stale.
                self.stale_sources.clear();
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
                // is watched is exactly what the state holds. On the same server (the same
                // epoch) it resumes: each symbol continues from the `seq` it holds.
                let same_epoch = match (&h.epoch, &self.epoch) {
                    (Some(new), Some(old)) if new == old => Some(new.clone()),
                    _ => None,
                };
                let resume = match (&h.epoch, &self.epoch) {
                    (Some(new), Some(old)) if new == old => {
                        let from = self.watchlist.resume_sequences();
                        (!from.is_empty()).then(|| Resume::quotes(new.clone(), from))
                    }
                    _ => {
                        if self.epoch.is_some() {
                            self.notify(
                                "a new server session: every symbol starts from a snapshot".into(),
                                now.at,
                            );
                        }
                        self.watchlist.reset_sequences();
                        None
                    }
                };
                self.epoch = h.epoch;
                let symbols = self.watchlist.symbols();
                if !symbols.is_empty() {
                    out.push(ClientMessage::Subscribe(Subscribe::resuming(
                        symbols, resume,
                    )));
                }
                self.depth.reconnected(same_epoch.as_deref(), out);
            }
            ServerMessage::Resumed(r) => {
                let text = if r.snapshot_count == 0 {
                    format!("resumed {} symbols", r.recovered_count)
                } else {
                    format!(
                        "{} resumed, {} from snapshot",
                        r.recovered_count, r.snapshot_count
                    )
                };
                self.notify(text, now.at);
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
            ServerMessage::Book(b) => self.depth.apply(&b, true, out),
            ServerMessage::BookUpdate(b) => self.depth.apply(&b, false, out),
            ServerMessage::Pong(_) => {}
            ServerMessage::Status(s) => self.stale_sources = s.stale.into_iter().collect(),
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
        let overlay = std::mem::take(&mut self.overlay);
        let mut out = self.handle_overlay(overlay, action, now);
        // The ladder streams the book of whatever symbol is selected now.
        let selected = self.watchlist.selected_row().map(|r| r.symbol.clone());
        self.depth.follow(selected.as_ref(), &mut out);
        out
    }

    /// A key on the panes, with no overlay open.
    fn handle_panes(&mut self, action: Action, now: Now) -> Vec<ClientMessage> {
        match action {
            Action::Quit => self.quit = true,
            Action::ToggleHelp => self.overlay = Overlay::Help,
            Action::ToggleDepth => {
                let selected = self.watchlist.selected_row().map(|r| r.symbol.clone());
                let mut out = Vec::new();
                self.depth.toggle(selected.as_ref(), &mut out);
                return out;
            }
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
                    self.overlay = Overlay::Order(OrderForm::new(
                        row.symbol.clone(),
                        side,
                        self.default_qty,
                        None,
                    ));
                }
            }
            Action::CancelOrder => return self.cancel(now),
            Action::AddSymbol => self.overlay = Overlay::AddSymbol(String::new()),
            Action::TogglePositions => self.show_positions = !self.show_positions,
            Action::SwitchList(n) => return self.switch_list(n, now),
            Action::SetAlert => {
                if let Some(row) = self.watchlist.selected_row() {
                    let text = self
                        .alerts
                        .get(&row.symbol)
                        .map_or_else(String::new, |a| a.price.to_string());
                    self.overlay = Overlay::Alert {
                        symbol: row.symbol.clone(),
                        text,
                    };
                }
            }
            Action::RemoveSymbol => {
                if let Some(row) = self.watchlist.remove_selected() {
                    self.settings_dirty = true;
                    return vec![ClientMessage::Unsubscribe(Unsubscribe::all(vec![
                        row.symbol,
                    ]))];
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
}

#[cfg(test)]
mod tests;
