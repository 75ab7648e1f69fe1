//! What a symbol may be: the one rule every part of Tickwire checks names against.
//!
//! Real venues name instruments with more than letters: `BRK.B`, `BTC-USD`, `ETH_PERP`,
//! `EUR/USD`, `XNAS:AAPL`, `ESH1`. A symbol is 1 to [`MAX_SYMBOL_BYTES`] of ASCII letters, digits
//! and `.` `-` `_` `/` `:`. The bound keeps every symbol inline in a [`crate::Symbol`] and every
//! reply that names one small.

/// The longest symbol, in bytes.
pub const MAX_SYMBOL_BYTES: usize = 24;

/// Whether `c` may appear in a symbol.
pub fn is_symbol_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '/' | ':')
}

/// Checks a symbol against the rule; the error says what is wrong, for people.
pub fn check_symbol(symbol: &str) -> Result<(), String> {
    if symbol.is_empty() {
        return Err("a symbol cannot be empty".to_owned());
    }
    if symbol.len() > MAX_SYMBOL_BYTES {
        return Err(format!(
            "symbol `{}...` is longer than {MAX_SYMBOL_BYTES} bytes",
            symbol.get(..MAX_SYMBOL_BYTES).unwrap_or("")
        ));
    }
    if let Some(bad) = symbol.chars().find(|&c| !is_symbol_char(c)) {
        return Err(format!(
            "symbol `{}` has `{}`; symbols are ASCII letters, digits and . - _ / :",
            symbol.escape_debug(),
            bad.escape_debug()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn venue_names_pass_and_anything_else_is_refused_with_a_reason() {
        for ok in [
            "AAPL",
            "BRK.B",
            "BTC-USD",
            "ETH_PERP",
            "EUR/USD",
            "XNAS:AAPL",
            "ESH1",
        ] {
            assert_eq!(check_symbol(ok), Ok(()), "{ok}");
        }
        assert!(check_symbol("").is_err());
        assert!(check_symbol("A B").unwrap_err().contains("` `"));
        assert!(check_symbol("ÄPFEL").is_err());
        assert!(
            check_symbol(&"X".repeat(25))
                .unwrap_err()
                .contains("longer")
        );
        assert_eq!(check_symbol(&"X".repeat(24)), Ok(()));
    }
}
