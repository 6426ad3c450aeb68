//! Fuzz target: the SMTP request framer/parser and the body receivers never panic, never consume
//! more than they are given, and keep their caps whatever the bytes and however they are split.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tern_proto::smtp::{Body, BodyKind, Parsed, RequestReader};

fuzz_target!(|data: &[u8]| {
    let Some((&split, rest)) = data.split_first() else { return };
    let step = usize::from(split).max(1);
    let mut reader = RequestReader::default();
    for piece in rest.chunks(step) {
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
    for kind in [BodyKind::Data, BodyKind::Bdat(rest.len() / 2)] {
        let mut body = Body::new(kind, 0, 1024);
        let mut buf = Vec::new();
        for piece in rest.chunks(step) {
            let (used, done) = body.ingest(piece, &mut buf);
            assert!(used <= piece.len());
            assert!(buf.len() <= 1024, "the cap holds");
            if done {
                break;
            }
        }
    }
});
