//! Choosing symbols from what a server offers: `*` for all of them, or a comma-separated list
//! whose every name the server must have.

use protocol::Symbol;

/// Enough of the server's list, in an error, to show what it looks like.
const SHOWN: usize = 20;

/// The symbols `spec` names among `available` (the server's `hello`), or why it names none or
/// names some the server lacks.
pub fn pick(spec: &str, available: &[Symbol]) -> Result<Vec<Symbol>, String> {
    if spec.trim() == "*" {
        return Ok(available.to_vec());
    }
    let list: Vec<Symbol> = spec
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(Symbol::from)
        .collect();
    if list.is_empty() {
        return Err("give a comma-separated list of symbols or `*`".to_owned());
    }
    let unknown: Vec<&str> = list
        .iter()
        .filter(|s| !available.contains(s))
        .map(Symbol::as_str)
        .collect();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_star_takes_all_and_a_list_must_exist() {
        let all: Vec<Symbol> = ["AAPL", "KO"].into_iter().map(Symbol::from).collect();
        assert_eq!(pick(" * ", &all).unwrap(), all);
        assert_eq!(pick("KO, ", &all).unwrap(), vec![Symbol::from("KO")]);
        let e = pick("KO,NOPE", &all).unwrap_err();
        assert!(
            e.contains("does not have NOPE") && e.contains("AAPL, KO"),
            "{e}"
        );
        assert!(pick(" , ", &all).is_err());
    }
}
