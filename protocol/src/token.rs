//! The order-entry token (`--order-token`, `--order-token-file`): quotes stay public, orders and
//! cancels need an `auth` message carrying it. Browsers cannot set headers on a WebSocket, which
//! is why it is a message and not an HTTP header.

use std::fmt;
use std::io::Read;
use std::path::Path;
use std::str::FromStr;

use subtle::ConstantTimeEq;

/// Longest token, in bytes (fixed): a token file larger than this is refused.
pub const MAX_TOKEN_BYTES: usize = 1_024;

/// A secret that never shows in logs or `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<hidden>)")
    }
}

impl FromStr for Token {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let token = s.trim();
        if token.is_empty() {
            return Err("the order token is empty".to_owned());
        }
        if token.len() > MAX_TOKEN_BYTES {
            return Err(format!(
                "the order token is {} bytes; at most {MAX_TOKEN_BYTES}",
                token.len()
            ));
        }
        Ok(Self(token.to_owned()))
    }
}

impl Token {
    /// Compares in time that does not depend on where `given` differs, so the token cannot be
    /// found a byte at a time by timing answers. (Its length can be: that is not the secret.)
    pub fn matches(&self, given: &str) -> bool {
        self.0.as_bytes().ct_eq(given.as_bytes()).into()
    }

    /// The token itself, to send it: keep it out of logs.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Reads a token from a file: its content, without surrounding whitespace.
    pub fn from_file(path: &Path) -> Result<Self, String> {
        let mut text = String::new();
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_TOKEN_BYTES as u64 * 2).read_to_string(&mut text))
            .map_err(|e| format!("cannot read the order token from {}: {e}", path.display()))?;
        text.parse()
            .map_err(|e: String| format!("{}: {e}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_matches_only_itself_and_never_prints() {
        let token: Token = " s3cret\n".parse().unwrap();
        assert!(token.matches("s3cret"));
        for wrong in ["s3cre", "s3cretx", "S3cret", ""] {
            assert!(!token.matches(wrong), "{wrong}");
        }
        assert!(!format!("{token:?}").contains("s3cret"));
        assert!("  ".parse::<Token>().is_err());
        assert!("x".repeat(MAX_TOKEN_BYTES + 1).parse::<Token>().is_err());
    }

    #[test]
    fn a_token_file_is_read_trimmed_and_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        std::fs::write(&path, "abc\n").unwrap();
        assert!(Token::from_file(&path).unwrap().matches("abc"));
        std::fs::write(&path, "x".repeat(10_000)).unwrap();
        assert!(Token::from_file(&path).unwrap_err().contains("at most"));
        assert!(Token::from_file(&dir.path().join("missing")).is_err());
    }
}
