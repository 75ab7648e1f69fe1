//! Frame payloads in a connection's encoding: JSON text (`tickwire.v1.json`) or binary messages
//! (`tickwire.v1.bin`). Each event is encoded once per encoding in use; a frame for many events
//! joins encoded messages without encoding them again.

use bytes::{BufMut, Bytes, BytesMut};
use protocol::binary::{self, SymbolIds};
use protocol::{Encoding, ServerMessage, encode_server};

/// One message in `encoding`.
pub fn encode(encoding: Encoding, message: &ServerMessage, ids: &SymbolIds) -> Bytes {
    match encoding {
        Encoding::Json => Bytes::from(encode_server(message)),
        Encoding::Bin => {
            let mut out = Vec::with_capacity(64);
            if let Err(e) = binary::encode_server(message, ids, &mut out) {
                // The server's own symbols all have ids: this would be a bug, not bad input.
                tracing::error!("cannot encode {} in binary: {e}", message.type_name());
            }
            Bytes::from(out)
        }
    }
}

/// Several messages as one frame.
pub fn encode_all(encoding: Encoding, messages: &[ServerMessage], ids: &SymbolIds) -> Bytes {
    if let [one] = messages {
        return encode(encoding, one, ids);
    }
    let parts: Vec<Bytes> = messages.iter().map(|m| encode(encoding, m, ids)).collect();
    join(encoding, parts.iter())
}

/// Joins encoded messages into one frame: a JSON array (a single message stays a plain object,
/// shared rather than copied), or binary messages back to back.
pub fn join<'a>(encoding: Encoding, parts: impl Iterator<Item = &'a Bytes> + Clone) -> Bytes {
    let mut count = 0;
    let mut bytes = 0;
    let mut only = None;
    for part in parts.clone() {
        count += 1;
        bytes += part.len() + 1;
        only = Some(part);
    }
    match (count, only) {
        (0, _) | (_, None) => match encoding {
            Encoding::Json => Bytes::from_static(b"[]"),
            Encoding::Bin => Bytes::new(),
        },
        (1, Some(one)) => one.clone(),
        _ => {
            let mut out = BytesMut::with_capacity(bytes + 2);
            match encoding {
                Encoding::Json => {
                    out.put_u8(b'[');
                    for (i, part) in parts.enumerate() {
                        if i > 0 {
                            out.put_u8(b',');
                        }
                        out.put_slice(part);
                    }
                    out.put_u8(b']');
                }
                Encoding::Bin => {
                    for part in parts {
                        out.put_slice(part);
                    }
                }
            }
            out.freeze()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joined_json_is_an_array_and_binary_is_concatenated() {
        let parts = [
            Bytes::from_static(b"{\"a\":1}"),
            Bytes::from_static(b"{\"b\":2}"),
        ];
        assert_eq!(
            &join(Encoding::Json, parts.iter())[..],
            b"[{\"a\":1},{\"b\":2}]"
        );
        assert_eq!(&join(Encoding::Json, parts[..1].iter())[..], b"{\"a\":1}");
        assert_eq!(&join(Encoding::Json, parts[..0].iter())[..], b"[]");
        let bin = [
            Bytes::from_static(&[1, 3, 0]),
            Bytes::from_static(&[2, 3, 0]),
        ];
        assert_eq!(&join(Encoding::Bin, bin.iter())[..], &[1, 3, 0, 2, 3, 0]);
    }
}
