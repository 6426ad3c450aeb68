//! QUIT: says goodbye and closes.

use tern_proto::smtp::reply;
use tokio::io::{AsyncRead, AsyncWrite};

use super::session::{Flow, Session};

/// Handles `QUIT`.
pub fn handle_quit<S: AsyncRead + AsyncWrite + Unpin + Send>(s: &mut Session<S>) -> Flow {
    let host = s.ctx.hostname.clone();
    s.reply(reply::bye(&host));
    Flow::Close
}
