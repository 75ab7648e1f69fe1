//! The order entry form: symbol, side, quantity and an optional limit price.

use protocol::{Decimal, Side, Symbol};

use crate::action::Action;

/// Which field of the order form has focus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Qty,
    Price,
}

/// Longest text a field takes.
const MAX_FIELD: usize = 16;

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
    /// The quantity is still the prefilled default: the first keystroke replaces it.
    pub qty_fresh: bool,
}

/// What the form asks of the state after a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FormOutcome {
    Open,
    Close,
    /// A valid order to send.
    Submit {
        qty: Decimal,
        price: Option<Decimal>,
    },
}

impl OrderForm {
    pub fn new(symbol: Symbol, side: Side, qty: Decimal, price: Option<Decimal>) -> Self {
        Self {
            symbol,
            side,
            qty: qty.to_string(),
            price: price.map_or_else(String::new, |p| p.to_string()),
            field: Field::Qty,
            error: None,
            qty_fresh: true,
        }
    }

    /// The limit price, if one is typed and valid.
    pub fn limit(&self) -> Option<Decimal> {
        protocol::decimal::parse(&self.price)
            .ok()
            .filter(|p| *p > Decimal::ZERO)
    }

    pub fn handle(&mut self, action: Action) -> FormOutcome {
        match action {
            Action::Escape | Action::Quit => return FormOutcome::Close,
            Action::NextField | Action::Up | Action::Down => {
                self.field = if self.field == Field::Qty {
                    Field::Price
                } else {
                    Field::Qty
                };
            }
            Action::Backspace => {
                match self.field {
                    Field::Qty => self.qty.pop(),
                    Field::Price => self.price.pop(),
                };
                self.qty_fresh &= self.field != Field::Qty;
            }
            Action::Input(c) if c.is_ascii_digit() || c == '.' => {
                if self.field == Field::Qty && self.qty_fresh {
                    self.qty.clear();
                }
                self.qty_fresh &= self.field != Field::Qty;
                let text = match self.field {
                    Field::Qty => &mut self.qty,
                    Field::Price => &mut self.price,
                };
                if text.len() < MAX_FIELD {
                    text.push(c);
                }
            }
            Action::Submit => return self.submit(),
            _ => {}
        }
        FormOutcome::Open
    }

    fn submit(&mut self) -> FormOutcome {
        let qty = match protocol::decimal::parse(&self.qty) {
            Ok(q) if q > Decimal::ZERO => q,
            _ => {
                self.error = Some("quantity must be a positive number".into());
                return FormOutcome::Open;
            }
        };
        let price = if self.price.trim().is_empty() {
            None
        } else {
            match protocol::decimal::parse(&self.price) {
                Ok(p) if p > Decimal::ZERO => Some(p),
                _ => {
                    self.error =
                        Some("price must be a positive number, or empty for a market order".into());
                    return FormOutcome::Open;
                }
            }
        };
        FormOutcome::Submit { qty, price }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form() -> OrderForm {
        OrderForm::new("AAPL".into(), Side::Buy, Decimal::ONE_HUNDRED, None)
    }

    #[test]
    fn the_first_keystroke_replaces_the_prefilled_quantity() {
        let mut f = form();
        f.handle(Action::Input('5'));
        f.handle(Action::Input('0'));
        assert_eq!(f.qty, "50");
        let mut f = form();
        f.handle(Action::Backspace);
        assert_eq!(f.qty, "10", "Backspace edits the default instead");
        f.handle(Action::Input('5'));
        assert_eq!(f.qty, "105");
    }

    #[test]
    fn no_price_is_a_market_order_and_a_typed_one_a_limit() {
        let mut f = form();
        assert_eq!(
            f.handle(Action::Submit),
            FormOutcome::Submit {
                qty: Decimal::ONE_HUNDRED,
                price: None
            }
        );
        f.handle(Action::NextField);
        for c in "187.5".chars() {
            f.handle(Action::Input(c));
        }
        assert_eq!(f.limit(), Some(Decimal::new(1875, 1)));
        assert_eq!(
            f.handle(Action::Submit),
            FormOutcome::Submit {
                qty: Decimal::ONE_HUNDRED,
                price: Some(Decimal::new(1875, 1))
            }
        );
    }
}
