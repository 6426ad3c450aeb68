//! RSET: abandons the mail transaction.

use tern_proto::smtp::reply;
use tokio::io::{AsyncRead, AsyncWrite};

use super::session::{Flow, Session};

/// Handles `RSET`.
pub fn handle_rset<S: AsyncRead + AsyncWrite + Unpin + Send>(s: &mut Session<S>) -> Flow {
    s.state.mail = None;
    s.reply(reply::ok());
    Flow::Continue
}
