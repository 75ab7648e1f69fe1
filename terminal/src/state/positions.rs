//! Positions and P&L from this session's own fills: per symbol the signed position, its average
//! cost, the realized P&L of what was closed, and the unrealized P&L marked to the live mid.
//! Exact decimals throughout; a value that does not fit a decimal makes the position `broken`
//! (shown as n/a) instead of wrong.

use protocol::{Decimal, Side, Symbol};

/// One symbol's position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub symbol: Symbol,
    /// Long is positive, short negative.
    pub qty: Decimal,
    /// Average price of the open quantity; zero when flat.
    pub avg_cost: Decimal,
    pub realized: Decimal,
    /// An amount overflowed: the figures are no longer exact.
    pub broken: bool,
}

impl Position {
    fn new(symbol: Symbol) -> Self {
        Self {
            symbol,
            qty: Decimal::ZERO,
            avg_cost: Decimal::ZERO,
            realized: Decimal::ZERO,
            broken: false,
        }
    }

    /// Applies a fill of `qty` at `price`.
    pub fn fill(&mut self, side: Side, qty: Decimal, price: Decimal) {
        if self.apply(side, qty, price).is_none() {
            self.broken = true;
        }
    }

    fn apply(&mut self, side: Side, qty: Decimal, price: Decimal) -> Option<()> {
        let signed = if side == Side::Buy { qty } else { -qty };
        let same_way =
            self.qty.is_zero() || self.qty.is_sign_positive() == signed.is_sign_positive();
        if same_way {
            // Adding: the average cost moves towards the fill price.
            let held = self.qty.abs();
            let total = held.checked_add(qty)?;
            let cost = self
                .avg_cost
                .checked_mul(held)?
                .checked_add(price.checked_mul(qty)?)?;
            self.avg_cost = cost.checked_div(total)?;
            self.qty = self.qty.checked_add(signed)?;
            return Some(());
        }
        // Reducing (and perhaps reversing): what closes realizes its P&L at the average cost.
        let closing = qty.min(self.qty.abs());
        let per_unit = if self.qty.is_sign_positive() {
            price.checked_sub(self.avg_cost)?
        } else {
            self.avg_cost.checked_sub(price)?
        };
        self.realized = self.realized.checked_add(per_unit.checked_mul(closing)?)?;
        self.qty = self.qty.checked_add(signed)?;
        if self.qty.is_zero() {
            self.avg_cost = Decimal::ZERO;
        } else if qty > closing {
            // Reversed: the rest opens a new position at the fill price.
            self.avg_cost = price;
        }
        Some(())
    }

    /// Unrealized P&L at `mark`; `None` if flat at no mark, or it does not fit.
    pub fn unrealized(&self, mark: Option<Decimal>) -> Option<Decimal> {
        if self.qty.is_zero() {
            return Some(Decimal::ZERO);
        }
        mark?.checked_sub(self.avg_cost)?.checked_mul(self.qty)
    }
}

/// Every symbol traded this session, in the order first traded.
#[derive(Debug, Default)]
pub struct Positions {
    pub rows: Vec<Position>,
}

impl Positions {
    pub fn fill(&mut self, symbol: &Symbol, side: Side, qty: Decimal, price: Decimal) {
        if let Some(p) = self.rows.iter_mut().find(|p| p.symbol == *symbol) {
            p.fill(side, qty, price);
        } else {
            let mut p = Position::new(symbol.clone());
            p.fill(side, qty, price);
            self.rows.push(p);
        }
    }

    pub fn get(&self, symbol: &str) -> Option<&Position> {
        self.rows.iter().find(|p| p.symbol == symbol)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn buys_average_sells_realize_and_a_reversal_opens_at_the_fill() {
        let mut p = Position::new("AAPL".into());
        p.fill(Side::Buy, d("100"), d("10.00"));
        p.fill(Side::Buy, d("100"), d("11.00"));
        assert_eq!((p.qty, p.avg_cost), (d("200"), d("10.50")));
        assert_eq!(p.unrealized(Some(d("12.00"))), Some(d("300.0000")));
        p.fill(Side::Sell, d("50"), d("12.00"));
        assert_eq!(
            (p.qty, p.avg_cost, p.realized),
            (d("150"), d("10.50"), d("75.00"))
        );
        // Sell 200: closes 150 at +1.50, then opens 50 short at 12.
        p.fill(Side::Sell, d("200"), d("12.00"));
        assert_eq!(
            (p.qty, p.avg_cost, p.realized),
            (d("-50"), d("12.00"), d("300.00"))
        );
        assert_eq!(
            p.unrealized(Some(d("11.00"))),
            Some(d("50.00")),
            "short gains as it falls"
        );
        p.fill(Side::Buy, d("50"), d("11.50"));
        assert_eq!(
            (p.qty, p.avg_cost, p.realized),
            (d("0"), d("0"), d("325.00"))
        );
        assert_eq!(p.unrealized(None), Some(Decimal::ZERO));
        assert!(!p.broken);
    }

    #[test]
    fn amounts_that_do_not_fit_mark_the_position_broken_instead_of_wrong() {
        let mut p = Position::new("X".into());
        p.fill(Side::Buy, Decimal::MAX, Decimal::MAX);
        assert!(p.broken);
        let mut q = Position::new("Y".into());
        q.fill(Side::Buy, d("2"), d("1"));
        assert_eq!(
            q.unrealized(Some(Decimal::MAX)),
            None,
            "a mark that does not fit"
        );
    }
}
