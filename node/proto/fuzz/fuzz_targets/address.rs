//! Fuzz target: the address parser never panics, and what it accepts re-parses to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tern_proto::Address;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(addr) = Address::parse(text) {
        let again = Address::parse(&addr.to_string()).expect("a parsed address re-parses");
        assert_eq!(again, addr);
        assert!(addr.to_string().len() <= tern_proto::address::MAX_ADDRESS + 1);
    }
    let _ = tern_proto::address::parse_domain(text);
});
