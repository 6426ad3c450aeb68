//! NOOP.

use tern_proto::pop3::reply;
use tokio::io::{AsyncRead, AsyncWrite};

use super::session::{Flow, Session};

/// Handles `NOOP`.
pub fn handle_noop<S: AsyncRead + AsyncWrite + Unpin + Send>(s: &mut Session<S>) -> Flow {
    s.reply(reply::ok(""));
    Flow::Continue
}
