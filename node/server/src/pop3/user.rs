//! USER: names the login; the password follows.

use tern_proto::pop3::reply;
use tokio::io::{AsyncRead, AsyncWrite};

use super::session::{Flow, Phase, Session};

/// Handles `USER name`.
pub fn handle_user<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Session<S>,
    name: String,
) -> Flow {
    if !s.plaintext_allowed() {
        return s.refuse(reply::plaintext_disabled());
    }
    s.phase = Phase::Authorization { user: Some(name) };
    s.reply(reply::user_ok());
    Flow::Continue
}
