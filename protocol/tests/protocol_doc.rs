//! PROTOCOL.md is the contract: every example in it must decode as it says, and re-encode to the
//! same message, so the document cannot drift from the code.

use protocol::{ClientMessage, Decoder, ErrorCode, encode_client, encode_server};

/// Fenced blocks of PROTOCOL.md with their info string, and the line before each block.
fn blocks() -> Vec<(String, String, String)> {
    let doc = include_str!("../PROTOCOL.md");
    let mut out = Vec::new();
    let mut lines = doc.lines().peekable();
    let mut previous_text = String::new();
    while let Some(line) = lines.next() {
        if let Some(info) = line.strip_prefix("```") {
            let mut body = String::new();
            for inner in lines.by_ref() {
                if inner.starts_with("```") {
                    break;
                }
                body.push_str(inner);
                body.push('\n');
            }
            out.push((info.trim().to_owned(), body, previous_text.clone()));
        } else if !line.trim().is_empty() {
            line.clone_into(&mut previous_text);
        }
    }
    out
}

#[test]
fn every_client_example_decodes_and_round_trips() {
    let mut seen = 0;
    for (info, body, _) in blocks().into_iter().filter(|(i, ..)| i == "json client") {
        let message = Decoder::new()
            .client(body.trim().as_bytes())
            .unwrap_or_else(|e| panic!("{info}: {body}: {e}"));
        let again: ClientMessage = Decoder::new()
            .client(encode_client(&message).as_bytes())
            .unwrap();
        assert_eq!(message, again);
        seen += 1;
    }
    assert!(seen >= 6, "only {seen} client examples found");
}

#[test]
fn every_server_example_decodes_and_round_trips() {
    let mut seen = 0;
    let mut types = std::collections::BTreeSet::new();
    for (_, body, _) in blocks().into_iter().filter(|(i, ..)| i == "json server") {
        let messages = Decoder::new()
            .server(body.trim().as_bytes())
            .unwrap_or_else(|e| panic!("{body}: {e}"));
        for m in messages {
            let text = encode_server(&m);
            types.insert(text.split('"').nth(3).unwrap_or_default().to_owned());
            assert_eq!(Decoder::new().server(text.as_bytes()).unwrap(), vec![m]);
            seen += 1;
        }
    }
    for t in [
        "hello",
        "snapshot",
        "quote",
        "trade",
        "ack",
        "reject",
        "fill",
        "canceled",
        "pong",
        "error",
        "resumed",
        "book",
        "book_update",
        "status",
    ] {
        assert!(types.contains(t), "PROTOCOL.md has no `{t}` example");
    }
    assert!(seen >= 11);
}

#[test]
fn every_invalid_example_fails_with_the_code_named_above_it() {
    let mut seen = 0;
    for (_, body, before) in blocks().into_iter().filter(|(i, ..)| i == "json invalid") {
        let err = Decoder::new()
            .client(body.trim().as_bytes())
            .expect_err(&body);
        let expected = if before.starts_with("`unknown_type`") {
            ErrorCode::UnknownType
        } else {
            assert!(
                before.starts_with("`bad_request`"),
                "no code named before {body}"
            );
            ErrorCode::BadRequest
        };
        assert_eq!(err.code(), expected, "{body}: {err}");
        seen += 1;
    }
    assert!(seen >= 3);
}

#[test]
fn every_error_and_reject_code_in_the_tables_is_a_real_code() {
    let doc = include_str!("../PROTOCOL.md");
    for (section, kind) in [("## Error codes", "error"), ("## Reject codes", "reject")] {
        let table = doc
            .split(section)
            .nth(1)
            .unwrap()
            .split("\n## ")
            .next()
            .unwrap();
        let codes: Vec<&str> = table
            .lines()
            .filter_map(|l| l.strip_prefix("| `"))
            .filter_map(|l| l.split('`').next())
            .collect();
        assert!(codes.len() >= 5, "{section}");
        for code in codes {
            let text = if kind == "error" {
                format!(r#"{{"type":"error","code":"{code}","message":"m"}}"#)
            } else {
                format!(r#"{{"type":"reject","id":"x","code":"{code}","reason":"r","ts_ns":1}}"#)
            };
            let m = Decoder::new().server(text.as_bytes()).unwrap();
            assert!(
                !format!("{m:?}").contains("Other"),
                "`{code}` in {section} is not a code the crate knows"
            );
        }
    }
}

/// Hex blocks as bytes.
fn hex(body: &str) -> Vec<u8> {
    body.split_whitespace()
        .map(|b| u8::from_str_radix(b, 16).unwrap_or_else(|e| panic!("`{b}`: {e}")))
        .collect()
}

#[test]
fn every_binary_example_is_its_json_twin_and_encodes_to_the_same_bytes() {
    use protocol::binary::{self, ServerDecoder, SymbolIds};
    let blocks = blocks();
    let mut decoder = ServerDecoder::new();
    let mut seen = 0;
    for (i, (info, body, _)) in blocks.iter().enumerate() {
        let Some(direction) = info.strip_prefix("hex ") else {
            continue;
        };
        let (twin_info, twin, _) = &blocks[i + 1];
        assert_eq!(
            twin_info,
            &format!("json {direction}"),
            "hex block {i} has no JSON twin"
        );
        let bytes = hex(body);
        let ids = SymbolIds::new(decoder.symbols());
        if direction == "server" {
            let mut decoded = Vec::new();
            decoder.frame(&bytes, &mut decoded).unwrap();
            let expected = Decoder::new().server(twin.trim().as_bytes()).unwrap();
            assert_eq!(decoded, expected, "{twin}");
            let ids = SymbolIds::new(decoder.symbols());
            let mut again = Vec::new();
            for m in &decoded {
                binary::encode_server(m, &ids, &mut again).unwrap();
            }
            assert_eq!(again, bytes, "{twin}");
        } else {
            let decoded = binary::decode_client(&bytes, decoder.symbols()).unwrap();
            let expected = Decoder::new().client(twin.trim().as_bytes()).unwrap();
            assert_eq!(decoded, expected, "{twin}");
            assert_eq!(
                binary::encode_client(&decoded, &ids).unwrap(),
                bytes,
                "{twin}"
            );
        }
        seen += 1;
    }
    assert!(seen >= 12, "only {seen} binary examples");
}

#[test]
fn the_book_examples_carry_their_own_checksums_and_apply_in_order() {
    use protocol::ServerMessage;
    use protocol::book::{BookStep, OrderBook};
    let mut book = OrderBook::new(3);
    let mut applied = 0;
    for (_, body, _) in blocks().into_iter().filter(|(i, ..)| i == "json server") {
        for m in Decoder::new().server(body.trim().as_bytes()).unwrap() {
            let step = match &m {
                ServerMessage::Book(b) => book.apply(b, true),
                ServerMessage::BookUpdate(b) => book.apply(b, false),
                _ => continue,
            };
            assert!(
                matches!(step, BookStep::InSync | BookStep::Stale),
                "{body}: {step:?}"
            );
            applied += 1;
        }
    }
    assert!(applied >= 2, "only {applied} book examples");
}
