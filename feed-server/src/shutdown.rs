//! Stopping: the operator's signal (SIGINT or SIGTERM), and the state every task consults when
//! it ends: running, shutting down, or failed (and why).

use std::sync::OnceLock;

use tokio_util::sync::CancellationToken;

/// Whether the server is stopping, and why it failed if it did.
#[derive(Debug, Default)]
pub struct Shutdown {
    token: CancellationToken,
    failure: OnceLock<String>,
    /// Why the market behind this edge restarted, when it did: clients are told to reconnect.
    restart: OnceLock<String>,
}

impl Shutdown {
    /// Stops when `token` is cancelled (by the operator, or the embedding program).
    pub fn new(token: CancellationToken) -> Self {
        Self {
            token,
            failure: OnceLock::new(),
            restart: OnceLock::new(),
        }
    }

    /// Asks every task to stop.
    pub fn stop(&self) {
        self.token.cancel();
    }

    /// Records why the server failed (the first reason stays) and stops it.
    pub fn fail(&self, why: String) {
        let _ = self.failure.set(why);
        self.token.cancel();
    }

    /// Records that the market restarted (the first reason stays) and stops this edge, whose
    /// clients are closed with 1012 to reconnect into the new epoch.
    pub fn restart(&self, why: String) {
        let _ = self.restart.set(why);
        self.token.cancel();
    }

    /// Why the market restarted, once it has.
    pub fn restarted(&self) -> Option<&str> {
        self.restart.get().map(String::as_str)
    }

    pub fn is_stopping(&self) -> bool {
        self.token.is_cancelled()
    }

    /// Why the server failed, once it has.
    pub fn failure(&self) -> Option<&str> {
        self.failure.get().map(String::as_str)
    }

    /// Resolves once the server is stopping.
    pub async fn stopping(&self) {
        self.token.cancelled().await;
    }

    /// The token itself, for tasks that take one.
    pub fn token(&self) -> &CancellationToken {
        &self.token
    }
}

/// Resolves on Ctrl-C or, on Unix, SIGTERM.
pub async fn signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(e) => {
                tracing::warn!("cannot listen for SIGTERM ({e}); stop with Ctrl-C");
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
