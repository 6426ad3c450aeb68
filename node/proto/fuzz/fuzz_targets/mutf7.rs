//! Fuzz target: modified UTF-7 mailbox names. Decoding never panics; what decodes is the one
//! canonical encoding of its text (encoding the text gives the input back); any text encodes
//! to something that decodes to it again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tern_proto::imap::mutf7;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    if let Ok(text) = mutf7::decode(s) {
        assert_eq!(mutf7::encode(&text), s, "canonical");
    }
    assert_eq!(mutf7::decode(&mutf7::encode(s)).as_deref(), Ok(s), "round trip");
});
