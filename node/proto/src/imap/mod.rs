//! IMAP wire format on top of `imap-codec`: command framing with hard caps on lines and
//! literals ([`reader`]), response encoding helpers and Tern's response codes ([`response`]),
//! and sequence-set resolution against a mailbox's UID list ([`sequence`]). No I/O.

pub mod catenate;
pub mod extensions;
mod feed;
pub mod mutf7;
pub mod notify;
pub mod reader;
pub mod response;
pub mod sequence;
pub mod uidmap;

pub use imap_codec;
pub use imap_codec::imap_types as types;
