//! The layout's rule (ARCHITECTURE.md), checked on the source so that it stays true: no two
//! modules of the library import each other, directly or around a loop, and the parts depend on
//! each other one way only: `feed` on none of `market`, `edge`, `hub`; `market` on neither
//! `edge` nor `hub`; `edge` not on `hub`.
//!
//! A path names the module that defines the item: the longest prefix of `crate::a::b::Item` (or
//! of the path `super::` and `self::` resolve to) that is a file of the library. Unit tests at
//! the bottom of a file, and the `drill` harness, are test code and not counted.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Every library module (a file) by its path from the crate root, with its code.
fn modules() -> BTreeMap<Vec<String>, String> {
    fn walk(dir: &Path, prefix: &[String], out: &mut BTreeMap<Vec<String>, String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                let mut inner = prefix.to_vec();
                inner.push(name);
                walk(&path, &inner, out);
            } else if path.extension().is_some_and(|e| e == "rs") && name != "main" {
                let mut module = prefix.to_vec();
                if name != "mod" && name != "lib" {
                    module.push(name);
                }
                let text = std::fs::read_to_string(&path).unwrap();
                // Unit tests sit at the bottom of their file.
                let code = match text.find("#[cfg(test)]\nmod tests") {
                    Some(at) => text[..at].to_owned(),
                    None => text,
                };
                out.insert(module, code);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &[],
        &mut out,
    );
    out.retain(|module, _| module.first().is_none_or(|m| m != "drill"));
    out
}

/// The paths a file names, as written: every path of two or more segments, with `use` groups
/// (`a::{b, c::d}`) expanded. Which of them are the library's is for [`target`] to say.
fn paths(code: &str) -> Vec<Vec<String>> {
    let code: String = code
        .lines()
        .map(|l| l.split("//").next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = code.as_bytes();
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let starts_ident =
            ident(bytes[at]) && (at == 0 || !(ident(bytes[at - 1]) || bytes[at - 1] == b':'));
        if starts_ident {
            let (found, used) = parse_path(&code[at..]);
            out.extend(found.into_iter().filter(|p| p.len() >= 2));
            at += used.max(1);
        } else {
            at += 1;
        }
    }
    out
}

/// Reads one path (with a `{...}` group) at the start of `text`: the paths and the bytes used.
fn parse_path(text: &str) -> (Vec<Vec<String>>, usize) {
    let mut prefix = Vec::new();
    let mut at = 0;
    loop {
        let ident: String = text[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        at += ident.len();
        if !ident.is_empty() {
            prefix.push(ident);
        }
        if text[at..].starts_with("::{") {
            at += 3;
            let mut out = Vec::new();
            loop {
                at += text[at..].len() - text[at..].trim_start().len();
                if text[at..].is_empty() {
                    break;
                }
                if text[at..].starts_with('}') {
                    at += 1;
                    break;
                }
                let (inner, used) = parse_path(&text[at..]);
                at += used;
                for p in inner {
                    let mut full = prefix.clone();
                    full.extend(p);
                    out.push(full);
                }
                let skipped =
                    text[at..].len() - text[at..].trim_start_matches([',', ' ', '\n']).len();
                at += skipped;
                if used == 0 && skipped == 0 && !text[at..].starts_with('}') {
                    at += text[at..].chars().next().map_or(1, char::len_utf8);
                }
            }
            return (out, at);
        }
        if text[at..].starts_with("::") && !ident_is_empty(&text[at + 2..]) {
            at += 2;
            continue;
        }
        return (vec![prefix], at);
    }
}

fn ident_is_empty(text: &str) -> bool {
    !text
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '{')
}

/// The module a path in `module` refers to: the longest prefix that is a library module, from
/// the crate root (`crate::`), this module (`self::`, or a child's name) or its parent
/// (`super::`). `None` for paths into other crates.
fn target(
    module: &[String],
    path: &[String],
    known: &BTreeSet<Vec<String>>,
) -> Option<Vec<String>> {
    let (first, mut rest) = path.split_first()?;
    let mut at: Vec<String> = match first.as_str() {
        "crate" => Vec::new(),
        "self" => module.to_vec(),
        "super" => module[..module.len().saturating_sub(1)].to_vec(),
        _ => {
            let mut child = module.to_vec();
            child.push(first.clone());
            if !known.contains(&child) {
                return None;
            }
            child
        }
    };
    while let Some((head, tail)) = rest.split_first()
        && head == "super"
    {
        at.pop();
        rest = tail;
    }
    let mut best = known.contains(&at).then(|| at.clone());
    for part in rest {
        at.push(part.clone());
        if known.contains(&at) {
            best = Some(at.clone());
        }
    }
    best
}

/// Every edge `module -> module it names`, without self-edges.
fn graph() -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let modules = modules();
    let known: BTreeSet<Vec<String>> = modules.keys().cloned().collect();
    let mut graph = BTreeMap::new();
    for (module, code) in &modules {
        let edges: BTreeSet<Vec<String>> = paths(code)
            .iter()
            .filter_map(|p| target(module, p, &known))
            .filter(|t| t != module)
            .collect();
        graph.insert(module.clone(), edges);
    }
    graph
}

/// A cycle in `graph`, if there is one.
fn cycle<N: Ord + Clone>(graph: &BTreeMap<N, BTreeSet<N>>) -> Option<Vec<N>> {
    fn visit<N: Ord + Clone>(
        node: &N,
        graph: &BTreeMap<N, BTreeSet<N>>,
        done: &mut BTreeSet<N>,
        stack: &mut Vec<N>,
    ) -> Option<Vec<N>> {
        if let Some(i) = stack.iter().position(|n| n == node) {
            let mut found = stack[i..].to_vec();
            found.push(node.clone());
            return Some(found);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.clone());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(found) = visit(next, graph, done, stack) {
                return Some(found);
            }
        }
        stack.pop();
        done.insert(node.clone());
        None
    }
    let mut done = BTreeSet::new();
    graph
        .keys()
        .find_map(|n| visit(n, graph, &mut done, &mut Vec::new()))
}

fn name(module: &[String]) -> String {
    if module.is_empty() {
        "crate".to_owned()
    } else {
        module.join("::")
    }
}

#[test]
fn no_two_modules_import_each_other() {
    let graph = graph();
    assert!(graph.len() > 40, "{} modules found", graph.len());
    if let Some(found) = cycle(&graph) {
        let names: Vec<String> = found.iter().map(|m| name(m)).collect();
        panic!("import cycle: {}", names.join(" -> "));
    }
}

#[test]
fn the_parts_depend_on_each_other_one_way() {
    let mut parts: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, targets) in graph() {
        let from = module
            .first()
            .cloned()
            .unwrap_or_else(|| "crate".to_owned());
        let entry = parts.entry(from.clone()).or_default();
        for t in targets {
            let to = t.first().cloned().unwrap_or_else(|| "crate".to_owned());
            if to != from && to != "crate" {
                entry.insert(to);
            }
        }
    }
    if let Some(found) = cycle(&parts) {
        panic!(
            "the top-level modules import each other: {}",
            found.join(" -> ")
        );
    }
    let forbidden = [
        ("feed", &["market", "edge", "hub", "server", "config"][..]),
        ("market", &["edge", "hub", "server", "config"][..]),
        ("edge", &["hub", "server", "config"][..]),
    ];
    for (part, never) in forbidden {
        let uses = &parts[part];
        for other in never {
            assert!(
                !uses.contains(*other),
                "`{part}` imports `{other}`: {uses:?}"
            );
        }
    }
    assert!(
        parts
            .iter()
            .all(|(part, uses)| part == "crate" || !uses.contains("server")),
        "nothing but the crate root (re-exporting its handles) imports `server`: {parts:?}"
    );
}

#[test]
fn the_path_reader_expands_groups_and_resolves_parents() {
    let found = paths(
        "use super::{Command, ending::Ending};\nlet x = crate::feed::walk::Synthesizer::new(); // crate::hub\nfn f(h: handler::Context) {}\n",
    );
    assert_eq!(
        found,
        [
            vec!["super", "Command"],
            vec!["super", "ending", "Ending"],
            vec!["crate", "feed", "walk", "Synthesizer", "new"],
            vec!["handler", "Context"],
        ]
    );
    let known: BTreeSet<Vec<String>> = [
        vec![],
        vec!["edge".into()],
        vec!["edge".into(), "ending".into()],
    ]
    .into_iter()
    .collect();
    let module = vec!["edge".to_owned(), "handler".to_owned()];
    let to = |p: &[&str]| {
        target(
            &module,
            &p.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>(),
            &known,
        )
    };
    assert_eq!(
        to(&["super", "ending", "Ending"]),
        Some(vec!["edge".into(), "ending".into()])
    );
    assert_eq!(to(&["super", "Command"]), Some(vec!["edge".into()]));
    assert_eq!(to(&["crate", "bitset", "BitSet"]), Some(vec![]));
    assert_eq!(to(&["std", "sync", "Arc"]), None);
    let edge = vec!["edge".to_owned()];
    let handler = ["handler".to_owned(), "Context".to_owned()];
    let known_child: BTreeSet<Vec<String>> = [edge.clone(), vec!["edge".into(), "handler".into()]]
        .into_iter()
        .collect();
    assert_eq!(
        target(&edge, &handler, &known_child),
        Some(vec!["edge".into(), "handler".into()]),
        "a child's name is a path from this module"
    );
}
