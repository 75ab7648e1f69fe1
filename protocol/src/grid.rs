//! Decimals as whole numbers of a grid unit (ticks of a price, lots of a size), checked at every
//! step: the value may come from the network or a file and be anything a decimal can hold.

use crate::Decimal;
use rust_decimal::prelude::ToPrimitive;

/// The largest price in ticks or size in lots anything may hold (a recording, an order): room
/// for a six-figure price on a 10^-8 grid, and a thousand times below where `i64` sums overflow.
pub const MAX_UNITS: i64 = 1_000_000_000_000_000;

/// Why a decimal is not a whole number of units.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffGrid {
    NotMultiple,
    Negative,
    OutOfRange,
}

/// `value` as a whole, non-negative number of `unit`s, at most [`MAX_UNITS`].
pub fn units(value: Decimal, unit: Decimal) -> Result<i64, OffGrid> {
    let units = value.checked_div(unit).ok_or(OffGrid::OutOfRange)?;
    if !units.fract().is_zero() {
        return Err(OffGrid::NotMultiple);
    }
    match units.to_i64() {
        Some(n) if (0..=MAX_UNITS).contains(&n) => Ok(n),
        Some(n) if n < 0 => Err(OffGrid::Negative),
        _ => Err(OffGrid::OutOfRange),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_whole_multiples_in_range_pass() {
        let d = |s: &str| s.parse::<Decimal>().unwrap_or_default();
        assert_eq!(units(d("229.90"), d("0.01")), Ok(22_990));
        assert_eq!(units(d("0"), d("0.01")), Ok(0));
        assert_eq!(units(d("1.005"), d("0.01")), Err(OffGrid::NotMultiple));
        assert_eq!(units(d("-1"), d("0.01")), Err(OffGrid::Negative));
        assert_eq!(units(Decimal::MAX, d("0.0001")), Err(OffGrid::OutOfRange));
        assert_eq!(
            units(d("10000000000000.01"), d("0.01")),
            Err(OffGrid::OutOfRange)
        );
    }
}
