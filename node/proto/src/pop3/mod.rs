//! POP3 wire format without I/O (RFC 1939, RFC 2449 CAPA, RFC 2595 STLS, RFC 5034 AUTH): command
//! parsing over capped lines, every response in [`reply`] with RFC 3206 codes, and multi-line
//! payload encoding with dot-stuffing.

pub mod command;
pub mod reply;

pub use command::{Command, CommandReader, Parsed};
pub use reply::Reply;
