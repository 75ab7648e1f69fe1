#![no_main]
//! Arbitrary client scripts against the hub (connections, messages, passes, reads): it never
//! panics, and what it sends decodes with every order answered in turn. See `feed_server::drill`.
use libfuzzer_sys::fuzz_target;

fuzz_target!(|script: &[u8]| feed_server::drill::drive_hub(script));
