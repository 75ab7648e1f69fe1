//! What has the keyboard over the panes: nothing, the help, the order form (and its
//! confirmation of a large order), the add-symbol prompt or the alert prompt. One at a time, by
//! construction.

use protocol::{ClientMessage, Decimal, Order, Subscribe, Symbol};

use super::form::{FormOutcome, OrderForm};
use super::{MAX_COMPLETIONS, Now, State, watchlist};
use crate::action::Action;

/// The one thing over the panes that takes the keys, if any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Overlay {
    #[default]
    None,
    Help,
    /// The order form.
    Order(OrderForm),
    /// The order form of an order worth more than `confirm_notional`: Enter again sends it, any
    /// other key goes back to editing.
    Confirm(OrderForm),
    /// The add-symbol prompt, with what is typed.
    AddSymbol(String),
    /// The alert prompt: the symbol and the price typed.
    Alert {
        symbol: Symbol,
        text: String,
    },
}

impl Overlay {
    /// Whether keys are text (letters go to a field, not to commands).
    pub fn is_typing(&self) -> bool {
        matches!(
            self,
            Self::Order(_) | Self::Confirm(_) | Self::AddSymbol(_) | Self::Alert { .. }
        )
    }

    /// The order form, open or confirming.
    pub fn form(&self) -> Option<&OrderForm> {
        match self {
            Self::Order(form) | Self::Confirm(form) => Some(form),
            _ => None,
        }
    }

    /// What the add-symbol prompt holds, while it is open.
    pub fn prompt(&self) -> Option<&str> {
        match self {
            Self::AddSymbol(text) => Some(text),
            _ => None,
        }
    }
}

impl State {
    /// Applies a key to what the overlay holds; the overlay is already taken out of the state
    /// and goes back in unless the key closes it.
    pub(super) fn handle_overlay(
        &mut self,
        overlay: Overlay,
        action: Action,
        now: Now,
    ) -> Vec<ClientMessage> {
        match overlay {
            Overlay::None => self.handle_panes(action, now),
            Overlay::Help => {
                match action {
                    Action::ToggleHelp | Action::Escape => {}
                    Action::Quit => {
                        self.quit = true;
                        self.overlay = Overlay::Help;
                    }
                    _ => self.overlay = Overlay::Help,
                }
                Vec::new()
            }
            Overlay::Order(form) => self.handle_form(form, action, false, now),
            Overlay::Confirm(form) => self.handle_form(form, action, true, now),
            Overlay::AddSymbol(text) => self.handle_prompt(text, action, now),
            Overlay::Alert { symbol, text } => {
                self.handle_alert_prompt(symbol, text, action, now);
                Vec::new()
            }
        }
    }

    /// The order form: a valid order is sent, unless it is large and not yet confirmed.
    fn handle_form(
        &mut self,
        mut form: OrderForm,
        action: Action,
        confirming: bool,
        now: Now,
    ) -> Vec<ClientMessage> {
        let confirmed = confirming && action == Action::Submit;
        match form.handle(action) {
            FormOutcome::Open => {
                self.overlay = Overlay::Order(form);
                Vec::new()
            }
            FormOutcome::Close => Vec::new(),
            FormOutcome::Submit { qty, price } => {
                let large = self
                    .notional(&form)
                    .is_some_and(|value| value > self.confirm_notional);
                if large && !confirmed {
                    self.overlay = Overlay::Confirm(form);
                    return Vec::new();
                }
                self.send_order(&form, qty, price, now)
            }
        }
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

    /// The alert prompt: a price sets the symbol's alert (above or below its last trade), an
    /// empty one removes it.
    fn handle_alert_prompt(&mut self, symbol: Symbol, mut text: String, action: Action, now: Now) {
        match action {
            Action::Input(c) if (c.is_ascii_digit() || c == '.') && text.len() < 16 => text.push(c),
            Action::Backspace => {
                text.pop();
            }
            Action::Escape | Action::Quit => return,
            Action::Submit => {
                if text.trim().is_empty() {
                    if self.alerts.remove(&symbol) {
                        self.settings_dirty = true;
                        self.notify(format!("alert on {symbol} removed"), now.at);
                    }
                    return;
                }
                let Some(price) = protocol::decimal::parse(&text)
                    .ok()
                    .filter(|p| *p > Decimal::ZERO)
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
                return;
            }
            _ => {}
        }
        self.overlay = Overlay::Alert { symbol, text };
    }

    /// Symbols the server offers that complete the add prompt's text.
    pub fn completions(&self) -> Vec<&Symbol> {
        let typed = self.overlay.prompt().unwrap_or("");
        watchlist::completions(typed, &self.available, MAX_COMPLETIONS)
    }

    /// The add-symbol prompt: a symbol the server offers joins the watchlist.
    fn handle_prompt(&mut self, mut text: String, action: Action, now: Now) -> Vec<ClientMessage> {
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
                let typed = text.as_str();
                if let Some(first) =
                    watchlist::completions(typed, &self.available, MAX_COMPLETIONS).first()
                {
                    text = first.to_string();
                }
            }
            Action::Escape | Action::Quit => return Vec::new(),
            Action::Submit => return self.add_symbol(&text, now),
            _ => {}
        }
        self.overlay = Overlay::AddSymbol(text);
        Vec::new()
    }

    fn add_symbol(&mut self, typed: &str, now: Now) -> Vec<ClientMessage> {
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
        let Some(symbol) = crate::symbols::resolve(typed, &offered) else {
            self.notify(format!("`{typed}` is not on this server"), now.at);
            return Vec::new();
        };
        if self.watchlist.add(symbol.clone()) {
            self.watchlist.selected = self.watchlist.rows.len() - 1;
            self.settings_dirty = true;
            return vec![ClientMessage::Subscribe(Subscribe::to(vec![symbol]))];
        }
        self.notify(format!("{symbol} is already in the watchlist"), now.at);
        Vec::new()
    }
}
