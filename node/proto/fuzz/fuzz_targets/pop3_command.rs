//! Fuzz target: the POP3 command reader and the multi-line encoder never panic; encoded payloads
//! always end with the terminating dot and never contain a bare terminator line.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tern_proto::pop3::{CommandReader, Parsed, reply};

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else { return };
    let mut reader = CommandReader::default();
    for piece in rest.chunks(usize::from(split).max(1)) {
        let mut pos = 0;
        while pos < piece.len() {
            let (used, parsed) = reader.parse(&piece[pos..]);
            assert!(used <= piece.len() - pos);
            pos += used;
            if used == 0 && parsed == Parsed::NeedMore {
                break;
            }
        }
    }
    let mut out = Vec::new();
    reply::encode_multiline(rest, &mut out);
    assert!(out.ends_with(b".\r\n"));
    let body = &out[..out.len() - 3];
    assert!(!body.windows(5).any(|w| w == b"\r\n.\r\n"), "no early terminator");
    assert!(!body.starts_with(b".\r\n"), "no early terminator at the start");
    let _ = reply::top(rest, u32::from(split));
});
