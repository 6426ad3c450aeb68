//! Tern's wire formats, without I/O: mail addresses today; SMTP, IMAP and POP3 framing and
//! parsing as their issues land. Everything here takes bytes or strings and answers values or
//! errors, so it can be unit-tested with known answers and fuzzed.

pub mod address;
pub mod secret;

pub use address::{Address, AddressError};
pub use secret::Secret;
