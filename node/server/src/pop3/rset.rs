//! RSET: unmarks every message marked for deletion.

use tern_proto::pop3::reply;
use tokio::io::{AsyncRead, AsyncWrite};

use super::session::{Flow, Session};

/// Handles `RSET`.
pub fn handle_rset<S: AsyncRead + AsyncWrite + Unpin + Send>(s: &mut Session<S>) -> Flow {
    let Some(m) = s.maildrop() else {
        return Flow::Continue;
    };
    m.undelete_all();
    let count = m.entries.len();
    s.reply(reply::reset(count));
    Flow::Continue
}
