//! Tern's wire formats, without I/O: mail addresses, SMTP (requests, bodies,
//! SASL, replies); IMAP and POP3 as their issues land. Everything here takes bytes or strings and answers values or
//! errors, so it can be unit-tested with known answers and fuzzed.

pub mod address;
pub mod date;
pub mod line;
pub mod secret;
pub mod smtp;

pub use address::{Address, AddressError};
pub use secret::Secret;
