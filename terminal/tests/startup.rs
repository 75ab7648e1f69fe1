//! Starting the TUI where it cannot run: a clear error and exit status 1, never a panic.
#![allow(clippy::unwrap_used)]

use std::process::{Command, Stdio};

fn terminal(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_terminal"))
        .args(args)
        .args(["--log-file", "/dev/null"])
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn without_a_terminal_it_says_so_and_exits_1() {
    let out = terminal(&[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("needs an interactive terminal"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn an_unusable_url_is_refused_at_startup() {
    for url in ["garbage", "http://127.0.0.1:9001/ws"] {
        let out = terminal(&["--url", url]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{url}: {stderr}");
        assert!(stderr.contains("is not a WebSocket URL"), "{url}: {stderr}");
    }
}
