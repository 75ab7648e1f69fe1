//! Choosing symbols from what a server offers: `*` for all of them, or names the server must
//! have, matched as typed or else in upper case (so `aapl` finds `AAPL`, while a venue whose
//! symbols are lower case keeps them). `terminal record`, `terminal bench` and the TUI's
//! watchlist all match this way.

use std::collections::HashSet;
use std::hash::BuildHasher;

use protocol::Symbol;

/// Enough of the server's list, in an error, to show what it looks like.
const SHOWN: usize = 20;

/// The symbols `spec` names among `available` (the server's `hello`), or why it names none or
/// names some the server lacks.
pub fn pick(spec: &str, available: &[Symbol]) -> Result<Vec<Symbol>, String> {
    if spec.trim() == "*" {
        return Ok(available.to_vec());
    }
    let typed: Vec<&str> = spec
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if typed.is_empty() {
        return Err("give a comma-separated list of symbols or `*`".to_owned());
    }
    let offered: HashSet<&str> = available.iter().map(Symbol::as_str).collect();
    let mut list = Vec::new();
    let mut unknown = Vec::new();
    for name in typed {
        match resolve(name, &offered) {
            Some(symbol) => list.push(symbol),
            None => unknown.push(name),
        }
    }
    if unknown.is_empty() {
        return Ok(list);
    }
    let some: Vec<&str> = available.iter().take(SHOWN).map(Symbol::as_str).collect();
    Err(format!(
        "the server does not have {} (it has {}{})",
        unknown.join(", "),
        some.join(", "),
        if available.len() > SHOWN { ", ..." } else { "" }
    ))
}

/// The server's name for a typed symbol: as typed, or else in upper case.
pub fn resolve<S: BuildHasher>(typed: &str, offered: &HashSet<&str, S>) -> Option<Symbol> {
    if offered.contains(typed) {
        return Some(Symbol::from(typed));
    }
    let upper = typed.to_ascii_uppercase();
    offered
        .contains(upper.as_str())
        .then(|| Symbol::from(upper))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_star_takes_all_and_a_list_must_exist() {
        let all: Vec<Symbol> = ["AAPL", "KO"].into_iter().map(Symbol::from).collect();
        assert_eq!(pick(" * ", &all).unwrap(), all);
        assert_eq!(pick("KO, ", &all).unwrap(), vec![Symbol::from("KO")]);
        assert_eq!(
            pick("ko,AAPL", &all).unwrap(),
            all[..].iter().rev().cloned().collect::<Vec<_>>()
        );
        let e = pick("KO,NOPE", &all).unwrap_err();
        assert!(
            e.contains("does not have NOPE") && e.contains("AAPL, KO"),
            "{e}"
        );
        assert!(pick(" , ", &all).is_err());
    }
}
