//! Tern's wire formats, without I/O: mail addresses, line framing, SMTP
//! (requests, bodies, SASL, replies), POP3 (commands, replies, multi-line payloads) and IMAP
//! (framing with caps, responses, sequence sets, over imap-codec), and the PROXY protocol header
//! a load balancer puts in front of a connection. Everything here takes bytes or strings and answers values or
//! errors, so it can be unit-tested with known answers and fuzzed.

pub mod address;
pub mod date;
pub mod imap;
pub mod line;
pub mod pop3;
pub mod proxy;
pub mod secret;
pub mod smtp;

pub use address::{Address, AddressError};
pub use secret::Secret;
