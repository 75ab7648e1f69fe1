//! The terminal's settings file (TOML) and its location.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::Deserialize;

/// `$XDG_CONFIG_HOME/tickwire/terminal.toml` (`~/.config/...` without it); every field is
/// optional.
///
/// ```toml
/// watchlist = ["AAPL", "MSFT", "NVDA"]
/// default_qty = 100          # or "100", or "0.5" for fractional lots
/// confirm_notional = 250000  # orders worth more ask for a confirmation
/// bell = true                # ring the terminal bell when an alert fires
///
/// [watchlists]               # more lists, switched with the number keys 2, 3, ...
/// banks = ["JPM", "V"]
///
/// [[alerts]]                 # set with `A`; the terminal keeps this list up to date
/// symbol = "AAPL"
/// above = "230"              # or below = "..."
/// ```
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub watchlist: Option<Vec<String>>,
    pub watchlists: Option<BTreeMap<String, Vec<String>>>,
    pub default_qty: Option<Number>,
    pub confirm_notional: Option<Number>,
    pub url: Option<String>,
    pub bell: Option<bool>,
    pub alerts: Option<Vec<AlertEntry>>,
}

/// A price alert as the settings file keeps it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertEntry {
    pub symbol: String,
    pub above: Option<Number>,
    pub below: Option<Number>,
}

/// What the terminal writes back: the watchlists (main first) and the alerts.
#[derive(Debug, Clone, Default)]
pub struct Saved {
    /// (name, symbols); the first is `watchlist`, the others `[watchlists]`.
    pub lists: Vec<(String, Vec<String>)>,
    /// (symbol, price, above).
    pub alerts: Vec<(String, String, bool)>,
}

/// Writes the watchlists and alerts into the settings file at `path`, keeping every other key
/// and the user's comments (toml_edit), through a temporary file renamed over the old one so
/// that a crash never leaves half a file.
pub fn save(path: &Path, saved: &Saved) -> anyhow::Result<()> {
    use toml_edit::{Array, ArrayOfTables, DocumentMut, Item, Table, value};
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let mut doc: DocumentMut = text
        .parse()
        .with_context(|| format!("{} is not valid TOML; not overwriting it", path.display()))?;
    let array = |symbols: &[String]| {
        let mut a = Array::new();
        for s in symbols {
            a.push(s.as_str());
        }
        a
    };
    if let Some((_, main)) = saved.lists.first() {
        doc["watchlist"] = value(array(main));
    }
    if saved.lists.len() > 1 {
        let table = doc
            .entry("watchlists")
            .or_insert_with(|| Item::Table(Table::new()));
        if let Some(table) = table.as_table_mut() {
            for (name, symbols) in &saved.lists[1..] {
                table[name.as_str()] = value(array(symbols));
            }
        }
    }
    if saved.alerts.is_empty() {
        doc.remove("alerts");
    } else {
        let mut tables = ArrayOfTables::new();
        for (symbol, price, above) in &saved.alerts {
            let mut t = Table::new();
            t["symbol"] = value(symbol.as_str());
            t[if *above { "above" } else { "below" }] = value(price.as_str());
            tables.push(t);
        }
        doc["alerts"] = Item::ArrayOfTables(tables);
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let temp = path.with_extension(format!("toml.tmp-{}", std::process::id()));
    std::fs::write(&temp, doc.to_string())
        .with_context(|| format!("cannot write {}", temp.display()))?;
    std::fs::rename(&temp, path).with_context(|| format!("cannot replace {}", path.display()))
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
    // An empty XDG_CONFIG_HOME counts as unset, as the XDG spec says.
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("tickwire").join("terminal.toml"))
}

/// Reads a settings file; a missing default file is not an error, a broken one is.
pub fn load(path: Option<&Path>) -> anyhow::Result<FileConfig> {
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

    #[test]
    fn saving_keeps_the_users_comments_and_other_keys() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("terminal.toml");
        std::fs::write(
            &path,
            "# my settings\nurl = \"ws://example:9001/ws\" # the lab\nwatchlist = [\"AAPL\"]\n\n[watchlists]\n# banks\nbanks = [\"JPM\"]\n",
        )
        .unwrap();
        let saved = Saved {
            lists: vec![
                ("main".into(), vec!["AAPL".into(), "KO".into()]),
                ("banks".into(), vec!["JPM".into(), "V".into()]),
            ],
            alerts: vec![("AAPL".into(), "230.5".into(), true)],
        };
        save(&path, &saved).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        for kept in [
            "# my settings",
            "# the lab",
            "# banks",
            "ws://example:9001/ws",
        ] {
            assert!(text.contains(kept), "{kept} in\n{text}");
        }
        let c = load(Some(&path)).unwrap();
        assert_eq!(c.watchlist.unwrap(), ["AAPL", "KO"]);
        assert_eq!(c.watchlists.unwrap()["banks"], ["JPM", "V"]);
        let alerts = c.alerts.unwrap();
        assert_eq!(alerts[0].symbol, "AAPL");
        assert_eq!(
            alerts[0].above.as_ref().map(Number::text).as_deref(),
            Some("230.5")
        );
        assert!(
            std::fs::read_dir(dir.path()).unwrap().count() == 1,
            "no temporary file left"
        );
        // A file that is not TOML is left alone.
        std::fs::write(&path, "watchlist = [").unwrap();
        assert!(save(&path, &saved).is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "watchlist = [");
    }
}
