//! VRFY: never confirms or denies an address (no directory harvesting), as RFC 5321 §3.5.3
//! allows with `252`.

use tern_proto::smtp::reply;
use tokio::io::{AsyncRead, AsyncWrite};

use super::session::{Flow, Session};

/// Handles `VRFY`.
pub fn handle_vrfy<S: AsyncRead + AsyncWrite + Unpin + Send>(s: &mut Session<S>) -> Flow {
    s.reply(reply::vrfy());
    Flow::Continue
}
