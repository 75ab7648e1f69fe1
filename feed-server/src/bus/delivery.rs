//! One sequenced event on its way to the edges, with its encodings made once and shared.

use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use protocol::binary::{self, SymbolIds};
use protocol::{Encoding, ServerMessage, encode_server};

use crate::market::Sequenced;

/// An event the core sequenced, its message, and that message's encodings, each made by the
/// first edge that needs it.
#[derive(Debug)]
pub struct Delivery {
    pub sequenced: Sequenced,
    pub message: ServerMessage,
    json: OnceLock<Bytes>,
    bin: OnceLock<Bytes>,
}

/// The events of one batch, shared by every edge.
pub type Batch = Arc<[Delivery]>;

impl Delivery {
    pub fn new(sequenced: Sequenced, message: ServerMessage) -> Self {
        Self {
            sequenced,
            message,
            json: OnceLock::new(),
            bin: OnceLock::new(),
        }
    }

    /// The message in `encoding`, encoded on first use.
    pub fn encoded(&self, encoding: Encoding, ids: &SymbolIds) -> Bytes {
        match encoding {
            Encoding::Json => self
                .json
                .get_or_init(|| Bytes::from(encode_server(&self.message)))
                .clone(),
            Encoding::Bin => self
                .bin
                .get_or_init(|| {
                    let mut out = Vec::with_capacity(64);
                    if let Err(e) = binary::encode_server(&self.message, ids, &mut out) {
                        // The server's own symbols all have ids: this would be a bug.
                        tracing::error!(
                            "cannot encode {} in binary: {e}",
                            self.message.type_name()
                        );
                    }
                    Bytes::from(out)
                })
                .clone(),
        }
    }
}
