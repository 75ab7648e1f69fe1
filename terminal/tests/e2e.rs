//! End to end: the real `terminal` binary in a pseudo-terminal (tmux, 80x24) against a real feed
//! server: quotes appear, `b` then Enter yields an acknowledged order with a round-trip time, and
//! `q` exits with status 0 and the terminal restored.
#![allow(clippy::unwrap_used)]

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

#[test]
fn quotes_appear_an_order_is_acknowledged_and_q_exits_cleanly() {
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
    let dir = std::env::temp_dir().join(format!("tickwire-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let exit_file = dir.join("exit");
    let command = format!(
        "{} --url {} --symbols AAPL,MSFT --log-file {}; echo EXIT=$? > {}; sleep 30",
        env!("CARGO_BIN_EXE_terminal"),
        server.url(),
        dir.join("terminal.log").display(),
        exit_file.display()
    );
    let tmux = Tmux {
        socket: format!("tickwire-e2e-{}", std::process::id()),
        session: "e2e",
    };
    tmux.run(&[
        "new-session",
        "-d",
        "-s",
        tmux.session,
        "-x",
        "80",
        "-y",
        "24",
        &command,
    ]);

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
    assert_eq!(
        std::fs::read_to_string(&exit_file).unwrap().trim(),
        "EXIT=0"
    );
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
