//! How fast a recording replays: `--speed` of a replaying server and of `terminal bench`.

use std::fmt;
use std::str::FromStr;

/// How fast a source plays: a factor of its own clock, or as fast as the hub takes events.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Speed {
    Factor(f64),
    Max,
}

impl Default for Speed {
    fn default() -> Self {
        Self::Factor(1.0)
    }
}

impl FromStr for Speed {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("max") {
            return Ok(Self::Max);
        }
        let number = s.strip_suffix(['x', 'X']).unwrap_or(s);
        match number.parse::<f64>() {
            Ok(x) if x.is_finite() && (0.001..=1_000_000.0).contains(&x) => Ok(Self::Factor(x)),
            _ => Err(format!(
                "`{s}` is not a speed: give a factor from 0.001 to 1000000 (`1`, `10`, `0.5`) or `max`"
            )),
        }
    }
}

impl fmt::Display for Speed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Factor(x) => write!(f, "{x}"),
            Self::Max => f.write_str("max"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn speeds_parse_as_factors_or_max() {
        assert_eq!("1".parse(), Ok(Speed::Factor(1.0)));
        assert_eq!("10x".parse(), Ok(Speed::Factor(10.0)));
        assert_eq!("0.5".parse(), Ok(Speed::Factor(0.5)));
        assert_eq!("MAX".parse(), Ok(Speed::Max));
        for bad in ["0", "-1", "fast", "inf", "NaN", ""] {
            assert!(bad.parse::<Speed>().is_err(), "{bad}");
        }
    }
}
