//! Fuzz target: what a remote SMTP server answers (the outbound queue's input) — reply framing,
//! reply and EHLO parsing, and the one-line description — never panics, and framing never
//! points past the bytes it was given.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tern_proto::smtp::client::{describe, parse_ehlo, parse_reply, reply_end};

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    while let Ok(Some(end)) = reply_end(rest) {
        assert!(end > 0 && end <= rest.len());
        let reply = &rest[..end];
        if let Ok(r) = parse_reply(reply) {
            let _ = describe(&r);
        }
        let _ = parse_ehlo(reply);
        rest = &rest[end..];
    }
});
