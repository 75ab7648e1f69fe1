//! Numbers as the screen and the bench's report show them: whole, to the symbol's tick,
//! abbreviated when large.

use protocol::Decimal;
use rust_decimal::prelude::ToPrimitive;

/// Most decimals a price shows, however fine its tick.
const MAX_DECIMALS: u32 = 12;

/// A price to the decimals of its tick size (`229.9` with a 0.01 tick is `229.90`).
pub fn price(p: Decimal, tick: Option<Decimal>) -> String {
    match tick {
        Some(t) if !t.is_zero() => {
            // Padded by hand: rust_decimal's `{:.N}` panics when N digits do not fit.
            let dp = t.normalize().scale().min(MAX_DECIMALS);
            let rounded = p.round_dp(dp);
            let mut text = rounded.to_string();
            let have = rounded.scale();
            if have < dp {
                if have == 0 {
                    text.push('.');
                }
                text.extend(std::iter::repeat_n('0', (dp - have) as usize));
            }
            text
        }
        _ => p.normalize().to_string(),
    }
}

/// A quantity or volume in at most seven characters: `999999`, `1.05M`, `12.3B`.
pub fn quantity(q: Decimal) -> String {
    let whole = q.normalize();
    let text = whole.to_string();
    if text.len() <= 7 {
        return text;
    }
    // Fractions: fewer decimals until it fits.
    for dp in (0..6u32).rev() {
        let t = q.round_dp(dp).normalize().to_string();
        if t.len() <= 7 {
            return t;
        }
    }
    let v = q.to_f64().unwrap_or(f64::MAX).abs();
    let sign = if q.is_sign_negative() { "-" } else { "" };
    for (unit, scale) in [("T", 1e12), ("B", 1e9), ("M", 1e6), ("K", 1e3)] {
        if v >= scale {
            let x = v / scale;
            let digits = if x >= 100.0 {
                0
            } else if x >= 10.0 {
                1
            } else {
                2
            };
            let t = format!("{sign}{x:.digits$}{unit}");
            if t.len() <= 7 {
                return t;
            }
        }
    }
    "huge".to_owned()
}

/// Formats nanoseconds in at most seven characters with three significant digits.
pub fn nanos(ns: u64) -> String {
    let v = ns as f64;
    match ns {
        0 => "-".to_owned(),
        n if n < 1_000 => format!("{n}ns"),
        n if n < 10_000 => format!("{:.2}us", v / 1e3),
        n if n < 1_000_000 => format!("{:.0}us", v / 1e3),
        n if n < 10_000_000 => format!("{:.2}ms", v / 1e6),
        n if n < 1_000_000_000 => format!("{:.0}ms", v / 1e6),
        _ => format!("{:.2}s", v / 1e9),
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
    fn prices_follow_the_tick() {
        assert_eq!(price(d("229.9"), Some(d("0.01"))), "229.90");
        assert_eq!(price(d("200"), Some(d("0.01"))), "200.00");
        assert_eq!(price(d("100.026"), Some(d("0.01"))), "100.03");
        assert_eq!(price(d("0.12345"), Some(d("0.0001"))), "0.1234");
        assert_eq!(price(d("63.390"), None), "63.39");
        assert!(!price(Decimal::MAX, Some(Decimal::new(1, 28))).is_empty());
    }

    #[test]
    fn large_quantities_are_abbreviated_never_cut() {
        assert_eq!(quantity(d("1000")), "1000");
        assert_eq!(quantity(d("999999")), "999999");
        assert_eq!(quantity(d("1000000")), "1000000");
        assert_eq!(quantity(d("10500000")), "10.5M");
        assert_eq!(quantity(d("1050000000")), "1.05B");
        assert_eq!(quantity(d("0.12345678")), "0.12346");
        assert!(quantity(Decimal::MAX).len() <= 7);
    }

    #[test]
    fn durations_fit_seven_characters() {
        for (ns, text) in [
            (0, "-"),
            (999, "999ns"),
            (1_234, "1.23us"),
            (243_000, "243us"),
            (1_193_000, "1.19ms"),
            (45_600_000, "46ms"),
            (3_000_000_000, "3.00s"),
        ] {
            assert_eq!(nanos(ns), text);
            assert!(text.len() <= 7);
        }
    }
}
