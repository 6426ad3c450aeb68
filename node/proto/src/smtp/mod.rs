//! SMTP wire format without I/O: requests (parsed by `smtp-proto`, with its 4096-byte line cap),
//! message bodies for DATA and BDAT with a hard size cap, SASL PLAIN/LOGIN decoding, and every
//! reply the server sends, in [`reply`]; the client side for the outbound queue in [`client`].

pub mod body;
pub mod client;
pub mod reply;
pub mod request;
pub mod sasl;

pub use body::{Body, BodyKind};
pub use reply::Reply;
pub use request::{Parsed, RequestReader};
