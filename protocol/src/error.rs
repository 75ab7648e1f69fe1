//! What can go wrong decoding a message, in terms a server can turn into an `error` reply.

use crate::types::ErrorCode;

/// Why a frame could not be decoded. Every variant maps to an [`ErrorCode`] through
/// [`DecodeError::code`], and its `Display` is a message for people that names what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The frame is bigger than the decoder accepts. Send smaller messages.
    #[error("message is {size} bytes, over the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    /// The bytes are not UTF-8. Send JSON text.
    #[error("message is not valid UTF-8")]
    InvalidUtf8,
    /// The bytes are not one JSON value. Fix the JSON.
    #[error("malformed JSON: {0}")]
    Syntax(String),
    /// The object has no string `type` field. Add one.
    #[error("message has no string `type` field")]
    MissingType,
    /// The `type` is not one this side understands. Check the spelling against PROTOCOL.md.
    #[error("unknown message type `{0}`")]
    UnknownType(String),
    /// The `type` is known but a field is missing or has the wrong type or value.
    #[error("invalid `{kind}` message: {detail}")]
    Invalid { kind: String, detail: String },
}

impl DecodeError {
    /// The machine-readable code for an `error` reply.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::UnknownType(_) => ErrorCode::UnknownType,
            Self::TooLarge { .. }
            | Self::InvalidUtf8
            | Self::Syntax(_)
            | Self::MissingType
            | Self::Invalid { .. } => ErrorCode::BadRequest,
        }
    }
}
