#![no_main]
//! Any bytes, both directions, every back end and both encodings (JSON, and tickwire.v1.bin):
//! decoding returns or errors, never panics, and what decodes re-encodes to something that decodes
//! to the same message.
use libfuzzer_sys::fuzz_target;
use protocol::binary::{self, ServerDecoder, SymbolIds};
use protocol::codec::Backend;
use protocol::{Decoder, Symbol, encode_client, encode_server};

fuzz_target!(|data: &[u8]| {
    for backend in [Backend::Serde, Backend::Simd] {
        let mut d = Decoder::with_backend(backend);
        if let Ok(m) = d.client(data) {
            assert_eq!(d.client(encode_client(&m).as_bytes()).ok(), Some(m));
        }
        if let Ok(ms) = d.server(data) {
            for m in ms {
                assert_eq!(d.server(encode_server(&m).as_bytes()).ok(), Some(vec![m]));
            }
        }
    }
    let symbols: Vec<Symbol> = vec!["AAPL".into(), "MSFT".into()];
    let ids = SymbolIds::new(&symbols);
    if let Ok(m) = binary::decode_client(data, &symbols)
        && let Ok(frame) = binary::encode_client(&m, &ids)
    {
        assert_eq!(binary::decode_client(&frame, &symbols).ok(), Some(m));
    }
    let mut decoder = ServerDecoder::new();
    let mut out = Vec::new();
    if decoder.frame(data, &mut out).is_ok() {
        let ids = SymbolIds::new(decoder.symbols());
        let mut frame = Vec::new();
        if out
            .iter()
            .filter(|m| !matches!(m, protocol::ServerMessage::Hello(_)))
            .all(|m| binary::encode_server(m, &ids, &mut frame).is_ok())
        {
            let mut again = Vec::new();
            let mut same = decoder.clone();
            assert!(same.frame(&frame, &mut again).is_ok());
        }
    }
});
