//! Fuzz target: the PROXY header parser never panics, a complete header never claims more
//! bytes than it was given or than the limits allow, and bytes that do not begin a header are
//! never taken for one.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tern_proto::proxy::{self, Parsed, Start, V1_MAX, V2_MAX};

fuzz_target!(|data: &[u8]| {
    let started = proxy::start(data);
    match proxy::parse(data) {
        Parsed::Complete(h) => {
            assert!(h.len <= data.len());
            assert!(h.len <= if h.version == 1 { V1_MAX } else { V2_MAX });
            assert_eq!(started, Start::Header);
            // The header alone parses to the same.
            assert_eq!(proxy::parse(&data[..h.len]), Parsed::Complete(h));
        }
        Parsed::Incomplete => assert_ne!(started, Start::Other),
        Parsed::Invalid(_) => {}
    }
});
