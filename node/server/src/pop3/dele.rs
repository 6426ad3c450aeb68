//! DELE: marks a message for deletion at QUIT.

use tern_proto::pop3::reply;
use tokio::io::{AsyncRead, AsyncWrite};

use super::session::{Flow, Session};

/// Handles `DELE msg`.
pub fn handle_dele<S: AsyncRead + AsyncWrite + Unpin + Send>(s: &mut Session<S>, n: u32) -> Flow {
    let Some(m) = s.maildrop() else {
        return Flow::Continue;
    };
    if !m.exists(n) {
        return s.refuse(reply::no_such_message(n));
    }
    if m.get(n).is_none() {
        return s.refuse(reply::already_deleted(n));
    }
    m.delete(n);
    s.reply(reply::deleted(n));
    Flow::Continue
}
