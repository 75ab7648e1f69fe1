//! End to end: the real `terminal` binary in a pseudo-terminal (tmux, 80x24) against a real feed
//! server: quotes appear, `b` then Enter yields an acknowledged order with a round-trip time, and
//! `q` exits with status 0 and the terminal restored.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

struct Tmux {
    socket: String,
    session: &'static str,
}

impl Tmux {
    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .args(["-L", &self.socket])
            .args(args)
            .output()
            .expect("tmux is installed (.ci/run installs it)");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", self.session])
    }

    /// Polls the screen until `ok` holds; fails with the last screen after `limit`.
    fn wait_for(&self, what: &str, limit: Duration, ok: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if ok(&screen) {
                return screen;
            }
            assert!(
                start.elapsed() < limit,
                "timed out waiting for {what}; screen:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

/// A runtime with a feed server on a free loopback port.
fn feed_server() -> (tokio::runtime::Runtime, feed_server::ServerHandle) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = runtime
        .block_on(feed_server::spawn(feed_server::Config {
            listen: "127.0.0.1:0".parse().unwrap(),
            ..feed_server::Config::default()
        }))
        .unwrap();
    (runtime, server)
}

/// Starts `terminal ARGS` in a new tmux session of `width`x`height`; its exit status goes to
/// the returned file, its log into `dir`.
fn start_terminal(
    session: &'static str,
    args: &str,
    dir: &Path,
    (width, height): (u16, u16),
) -> (Tmux, PathBuf) {
    let exit_file = dir.join("exit");
    let command = format!(
        "{} {args} --log-file {}; echo EXIT=$? > {}; sleep 30",
        env!("CARGO_BIN_EXE_terminal"),
        dir.join("terminal.log").display(),
        exit_file.display()
    );
    let tmux = Tmux {
        socket: format!("tickwire-{session}-{}", std::process::id()),
        session,
    };
    let (w, h) = (width.to_string(), height.to_string());
    tmux.run(&[
        "new-session",
        "-d",
        "-s",
        session,
        "-x",
        &w,
        "-y",
        &h,
        &command,
    ]);
    (tmux, exit_file)
}

/// Waits for the terminal to exit and returns its `EXIT=status` line.
fn exit_status(tmux: &Tmux, exit_file: &Path, limit: Duration) -> String {
    let start = Instant::now();
    while !exit_file.exists() {
        assert!(
            start.elapsed() < limit,
            "terminal did not exit on q; screen:\n{}",
            tmux.screen()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(100));
    std::fs::read_to_string(exit_file)
        .unwrap()
        .trim()
        .to_owned()
}

#[test]
fn quotes_appear_an_order_is_acknowledged_and_q_exits_cleanly() {
    let (runtime, server) = feed_server();
    let dir = tempfile::tempdir().unwrap();
    let (tmux, exit_file) = start_terminal(
        "e2e",
        &format!("--url {} --symbols AAPL,MSFT", server.url()),
        dir.path(),
        (80, 24),
    );

    let limit = Duration::from_secs(20);
    tmux.wait_for("live quotes", limit, |s| {
        s.contains("connected")
            && s.contains("AAPL")
            && s.contains("msg/s")
            && s.lines().any(|l| l.contains("MSFT") && l.contains('.'))
    });
    tmux.run(&["send-keys", "-t", tmux.session, "b"]);
    tmux.wait_for("the order form", limit, |s| {
        s.contains("New order") && s.contains("BUY AAPL")
    });
    tmux.run(&["send-keys", "-t", tmux.session, "Enter"]);
    let screen = tmux.wait_for("an acknowledged order", limit, |s| {
        s.lines()
            .any(|l| l.contains("t-1") && (l.contains("filled") || l.contains("acked")))
    });
    let order = screen.lines().find(|l| l.contains("t-1")).unwrap();
    assert!(
        order.contains("us") || order.contains("ms"),
        "the order shows its round-trip time: {order}"
    );
    tmux.run(&["send-keys", "-t", tmux.session, "q"]);
    assert_eq!(exit_status(&tmux, &exit_file, limit), "EXIT=0");
    let alternate = tmux.run(&[
        "display-message",
        "-p",
        "-t",
        tmux.session,
        "#{alternate_on}",
    ]);
    assert_eq!(
        alternate.trim(),
        "0",
        "the terminal left the alternate screen"
    );
    runtime.block_on(server.stop());
}

/// Fields of the watchlist row of `symbol`: symbol, bid, ask, last, ...
fn row_of(screen: &str, symbol: &str) -> Option<Vec<String>> {
    screen.lines().find_map(|l| {
        let left = l.split('│').nth(1)?;
        let fields: Vec<String> = left.split_whitespace().map(str::to_owned).collect();
        (fields.first().map(String::as_str) == Some(symbol) && fields.len() >= 4).then_some(fields)
    })
}

#[test]
fn a_trader_session_positions_an_alert_saved_settings_and_a_lost_server() {
    let (runtime, server) = feed_server();
    let dir = tempfile::tempdir().unwrap();
    let settings = dir.path().join("terminal.toml");
    // Lower case, as people type: the server's list says AAPL.
    std::fs::write(&settings, "# my desk\nwatchlist = [\"aapl\", \"MSFT\"]\n").unwrap();
    let (tmux, exit_file) = start_terminal(
        "trader",
        &format!("--url {} --config {}", server.url(), settings.display()),
        dir.path(),
        (120, 36),
    );
    let keys = |k: &[&str]| {
        let mut args = vec!["send-keys", "-t", tmux.session];
        args.extend_from_slice(k);
        tmux.run(&args);
    };
    let limit = Duration::from_secs(20);
    let screen = tmux.wait_for("live AAPL", limit, |s| {
        s.contains("connected") && row_of(s, "AAPL").is_some_and(|r| r[3].contains('.'))
    });
    assert!(
        !screen.contains("aapl"),
        "the settings' aapl is the server's AAPL"
    );

    // A market buy fills; a limit buy far below the market rests.
    keys(&["b"]);
    tmux.wait_for("the order form", limit, |s| s.contains("MARKET"));
    keys(&["Enter"]);
    tmux.wait_for("a fill", limit, |s| {
        s.lines().any(|l| l.contains("t-1") && l.contains("filled"))
    });
    keys(&["b"]);
    tmux.wait_for("the order form", limit, |s| s.contains("New order"));
    keys(&["Tab", "1", "0", "Enter"]);
    tmux.wait_for("a resting order", limit, |s| {
        s.lines().any(|l| l.contains("t-2") && l.contains("acked"))
    });

    // Positions.
    keys(&["p"]);
    let positions = tmux.wait_for("the positions pane", limit, |s| {
        s.contains("Positions") && s.contains("P&L") && s.contains("Total")
    });
    let aapl = positions
        .lines()
        .find(|l| l.contains("AAPL") && l.contains("100") && l.contains("│Total").eq(&false))
        .unwrap_or_else(|| panic!("a position of 100 AAPL:\n{positions}"));
    assert!(aapl.contains("100"), "{aapl}");

    // An alert at the last price: the next trade that reaches it fires it.
    let last = row_of(&tmux.screen(), "AAPL").unwrap()[3].clone();
    keys(&["A"]);
    tmux.wait_for("the alert prompt", limit, |s| s.contains("Alert on AAPL"));
    for c in last.chars() {
        keys(&[&c.to_string()]);
    }
    keys(&["Enter"]);
    let fired = tmux.wait_for("the alert firing", limit, |s| {
        s.contains("ALERT AAPL traded")
    });
    assert!(
        fired.contains('!'),
        "the watchlist marks the fired alert:\n{fired}"
    );
    println!("--- positions and an alert, 120x36 ---\n{fired}");
    tmux.run(&["resize-window", "-t", tmux.session, "-x", "80", "-y", "24"]);
    // Redrawn in the stacked layout: the chart is no longer beside the watchlist.
    let stacked = |s: &str| {
        s.lines()
            .next()
            .is_some_and(|l| l.starts_with("┌ Watchlist") && !l.contains("last"))
    };
    let narrow = tmux.wait_for("positions at 80x24", limit, |s| {
        stacked(s) && s.contains("Positions") && s.contains("ALERT")
    });
    println!("--- positions and an alert, 80x24 ---\n{narrow}");
    tmux.run(&["resize-window", "-t", tmux.session, "-x", "120", "-y", "36"]);
    let saved = std::fs::read_to_string(&settings).unwrap();
    assert!(
        saved.contains("# my desk") && saved.contains("[[alerts]]"),
        "{saved}"
    );
    // Below the last trade when it was set, or above it if the market fell
    // between reading the screen and typing the price: either way at that price.
    assert!(
        saved.contains(&format!("below = \"{last}\""))
            || saved.contains(&format!("above = \"{last}\"")),
        "{saved}"
    );

    // The server goes away: prices go stale, the resting order is lost.
    keys(&["p"]);
    tmux.wait_for("the orders pane", limit, |s| s.contains("Orders (Tab"));
    runtime.block_on(server.stop());
    let gone = tmux.wait_for("the disconnected state", limit, |s| {
        s.contains("stale since") && s.contains("lost")
    });
    println!("--- disconnected, 120x36 ---\n{gone}");
    tmux.run(&["resize-window", "-t", tmux.session, "-x", "80", "-y", "24"]);
    let small = tmux.wait_for("the 80x24 layout", limit, |s| {
        stacked(s) && s.contains("stale since")
    });
    println!("--- disconnected, 80x24 ---\n{small}");

    keys(&["q"]);
    assert_eq!(exit_status(&tmux, &exit_file, limit), "EXIT=0");
}
