//! How a connection ended: who started it, the close code and reason, and a fixed word for the
//! metrics. The connection task completes the close handshake accordingly.

use protocol::close_code;

/// Who ended a connection, which decides how the close handshake goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Initiator {
    /// The client sent a Close frame: answer it, then close the socket.
    Client,
    /// The server closes: send a Close frame, wait for the answer.
    Server,
    /// The socket ended without a Close frame: nothing to send.
    Transport,
}

/// Why a connection ended, for the close frame, the log line and the metrics.
#[derive(Debug)]
pub struct Ending {
    pub code: u16,
    pub reason: String,
    pub by: Initiator,
    /// A word from a fixed set, for `tickwire_clients_closed_total{reason}`.
    pub kind: &'static str,
}

impl Ending {
    pub fn server(code: u16, reason: impl Into<String>) -> Self {
        let kind = match code {
            close_code::NORMAL => "normal",
            close_code::GOING_AWAY => "shutdown",
            close_code::POLICY => "policy",
            close_code::TOO_BIG => "too_big",
            close_code::INVALID_DATA => "invalid_data",
            close_code::INTERNAL => "internal",
            close_code::SERVICE_RESTART => "restart",
            _ => "protocol_error",
        };
        Self {
            code,
            reason: reason.into(),
            by: Initiator::Server,
            kind,
        }
    }

    pub fn client(code: u16, reason: String) -> Self {
        Self {
            code,
            reason,
            by: Initiator::Client,
            kind: "client_close",
        }
    }

    pub fn transport(reason: impl Into<String>) -> Self {
        Self {
            code: close_code::ABNORMAL,
            reason: reason.into(),
            by: Initiator::Transport,
            kind: "transport",
        }
    }

    /// Names the reason more finely than the close code does.
    #[must_use]
    pub fn because(mut self, kind: &'static str) -> Self {
        self.kind = kind;
        self
    }
}
