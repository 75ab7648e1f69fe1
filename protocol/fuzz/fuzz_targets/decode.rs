#![no_main]
//! Any bytes, both directions, every back end: decoding returns or errors, never panics, and what
//! decodes re-encodes to something that decodes to the same message.
use libfuzzer_sys::fuzz_target;
use protocol::codec::Backend;
use protocol::{Decoder, encode_client, encode_server};

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
});
