//! Fuzz target: the IMAP reader (framing with caps, command / SASL / IDLE decoding) never
//! panics on input split at any point, always makes progress, and every command it returns
//! encodes to bytes that decode and encode to the same bytes again (sets like `1:1` may come
//! back as `1`, so the check is on the encoding, not on the parsed value).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tern_proto::imap::{
    imap_codec::{CommandCodec, decode::Decoder, encode::Encoder},
    reader::{Event, Limits, Mode, Reader},
};

fuzz_target!(|data: &[u8]| {
    let Some((&control, rest)) = data.split_first() else { return };
    let mut reader = Reader::new(Limits {
        max_line: 512,
        max_literal: 4096,
    });
    reader.mode = match control % 3 {
        0 => Mode::Command,
        1 => Mode::Authenticate,
        _ => Mode::Idle,
    };
    for piece in rest.chunks(usize::from(control >> 2).max(1)) {
        reader.push(piece);
        for _ in 0..=piece.len() + 1 {
            match reader.next_event() {
                Event::NeedMore => break,
                Event::Command(c, _) => {
                    let bytes = CommandCodec::default().encode(&c).dump();
                    if let Ok((_, again)) = CommandCodec::default().decode(&bytes) {
                        let twice = CommandCodec::default().encode(&again).dump();
                        assert_eq!(twice, bytes, "round trip");
                    }
                }
                _ => {}
            }
        }
    }
});
