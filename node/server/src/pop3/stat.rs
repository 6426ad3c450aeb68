//! STAT: count and octets of the messages not marked deleted.

use tern_proto::pop3::reply;
use tokio::io::{AsyncRead, AsyncWrite};

use super::session::{Flow, Session};

/// Handles `STAT`.
pub fn handle_stat<S: AsyncRead + AsyncWrite + Unpin + Send>(s: &mut Session<S>) -> Flow {
    let Some((count, bytes)) = s.maildrop().map(|m| m.stat()) else {
        return Flow::Continue;
    };
    s.reply(reply::stat(count, bytes));
    Flow::Continue
}
