//! A connection's encoding on the client side (`--encoding json|bin`): the subprotocol to offer,
//! and frames to and from messages. JSON text frames are read on either encoding.

use protocol::binary::{self, ServerDecoder, SymbolIds};
use protocol::{ClientMessage, DecodeError, Decoder, Encoding, ServerMessage, encode_client};
use tokio_tungstenite::tungstenite::Message;

/// Frames to messages and back, for one connection (binary ids come from its `hello`).
#[derive(Debug)]
pub struct Codec {
    pub encoding: Encoding,
    json: Decoder,
    bin: ServerDecoder,
    ids: SymbolIds,
}

impl Clone for Codec {
    /// The same encoding and ids, with decoders of its own.
    fn clone(&self) -> Self {
        Self {
            encoding: self.encoding,
            json: Decoder::new(),
            bin: self.bin.clone(),
            ids: self.ids.clone(),
        }
    }
}

impl Codec {
    pub fn new(encoding: Encoding) -> Self {
        Self {
            encoding,
            json: Decoder::new(),
            bin: ServerDecoder::new(),
            ids: SymbolIds::default(),
        }
    }

    /// Takes symbol ids from a `hello` read elsewhere (as the bench reads it once for all).
    pub fn learn(&mut self, symbols: &[protocol::Symbol]) {
        self.ids = SymbolIds::new(symbols);
    }

    /// Appends the messages of a data frame to `out`; other frames add nothing.
    pub fn decode(
        &mut self,
        frame: &Message,
        out: &mut Vec<ServerMessage>,
    ) -> Result<(), DecodeError> {
        match frame {
            Message::Text(text) => self.json.server_frame(text.as_bytes(), out),
            Message::Binary(bytes) => {
                let before = out.len();
                self.bin.frame(bytes, out)?;
                if out[before..]
                    .iter()
                    .any(|m| matches!(m, ServerMessage::Hello(_)))
                {
                    self.ids = SymbolIds::new(self.bin.symbols());
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// A client message as a frame of this connection's encoding. A binary frame needs the
    /// symbol's id from `hello`; a symbol without one goes as JSON text, which the server also
    /// takes on a binary connection (and answers as it would any unknown symbol).
    pub fn encode(&self, message: &ClientMessage) -> Message {
        if self.encoding == Encoding::Bin
            && let Ok(frame) = binary::encode_client(message, &self.ids)
        {
            return Message::binary(frame);
        }
        Message::text(encode_client(message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use protocol::{Hello, Ping, ServerInfo, Subscribe};

    #[test]
    fn binary_requests_use_the_ids_of_the_last_hello() {
        let mut codec = Codec::new(Encoding::Bin);
        let hello = ServerMessage::Hello(Hello {
            protocol: "tickwire.v1.bin".into(),
            server: ServerInfo {
                name: "n".into(),
                version: "v".into(),
            },
            symbols: vec!["AAPL".into(), "MSFT".into()],
            heartbeat_ms: 1,
            ts_ns: 1,
            source: None,
            auth_required: false,
            epoch: None,
        });
        let mut frame = Vec::new();
        binary::encode_server(&hello, &SymbolIds::default(), &mut frame).unwrap();
        let mut out = Vec::new();
        codec.decode(&Message::binary(frame), &mut out).unwrap();
        assert_eq!(out, vec![hello]);
        let subscribe = ClientMessage::Subscribe(Subscribe::to(vec!["MSFT".into()]));
        let Message::Binary(bytes) = codec.encode(&subscribe) else {
            panic!("not binary");
        };
        let names: Vec<protocol::Symbol> = vec!["AAPL".into(), "MSFT".into()];
        assert_eq!(binary::decode_client(&bytes, &names).unwrap(), subscribe);
        // A symbol the server did not list goes as JSON.
        let unknown = ClientMessage::Subscribe(Subscribe::to(vec!["ZZZ".into()]));
        assert!(matches!(codec.encode(&unknown), Message::Text(_)));
        let json = Codec::new(Encoding::Json);
        assert!(matches!(
            json.encode(&ClientMessage::Ping(Ping { sent_ns: 1 })),
            Message::Text(_)
        ));
    }
}
