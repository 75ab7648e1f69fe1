//! The terminal's settings file (TOML) and its location.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// `$XDG_CONFIG_HOME/tickwire/terminal.toml` (`~/.config/...` without it); every field is
/// optional.
///
/// ```toml
/// watchlist = ["AAPL", "MSFT", "NVDA"]
/// default_qty = 100          # or "100", or "0.5" for fractional lots
/// confirm_notional = 250000  # orders worth more ask for a confirmation
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub watchlist: Option<Vec<String>>,
    pub default_qty: Option<Number>,
    pub confirm_notional: Option<Number>,
    pub url: Option<String>,
}

/// A number written either way in TOML: `100`, `0.5` or `"100"`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Number {
    Int(i64),
    Float(f64),
    Text(String),
}

impl Number {
    /// The number as text, for exact decimal parsing.
    pub fn text(&self) -> String {
        match self {
            Self::Int(i) => i.to_string(),
            Self::Float(f) => f.to_string(),
            Self::Text(t) => t.clone(),
        }
    }
}

/// Where the settings file lives unless `--config` says otherwise.
pub fn default_path() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("tickwire").join("terminal.toml"))
}

/// Reads a settings file; a missing default file is not an error, a broken one is.
pub fn load(path: Option<&Path>) -> anyhow::Result<FileConfig> {
    use anyhow::Context;
    let (path, explicit) = match path {
        Some(p) => (p.to_path_buf(), true),
        None => match default_path() {
            Some(p) => (p, false),
            None => return Ok(FileConfig::default()),
        },
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            toml::from_str(&text).with_context(|| format!("invalid settings in {}", path.display()))
        }
        Err(e) if !explicit && e.kind() == std::io::ErrorKind::NotFound => {
            Ok(FileConfig::default())
        }
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_settings_file_gives_the_watchlist_and_quantity_and_typos_are_errors() {
        let dir = std::env::temp_dir().join(format!("tickwire-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let good = dir.join("good.toml");
        std::fs::write(
            &good,
            "watchlist = [\"AAPL\", \"KO\"]\ndefault_qty = \"25\"\n",
        )
        .unwrap();
        let c = load(Some(&good)).unwrap();
        assert_eq!(c.watchlist.unwrap(), ["AAPL", "KO"]);
        assert_eq!(c.default_qty.map(|n| n.text()).as_deref(), Some("25"));
        let numbers = dir.join("numbers.toml");
        std::fs::write(&numbers, "default_qty = 25\nconfirm_notional = 2.5e5\n").unwrap();
        let c = load(Some(&numbers)).unwrap();
        assert_eq!(c.default_qty.map(|n| n.text()).as_deref(), Some("25"));
        assert_eq!(
            c.confirm_notional.map(|n| n.text()).as_deref(),
            Some("250000")
        );
        let bad = dir.join("bad.toml");
        std::fs::write(&bad, "watchlst = []\n").unwrap();
        assert!(load(Some(&bad)).is_err());
        assert!(load(Some(&dir.join("missing.toml"))).is_err());
    }
}
