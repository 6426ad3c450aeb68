//! HELO: the RFC 821 greeting, without extensions.

use tern_proto::smtp::reply;
use tokio::io::{AsyncRead, AsyncWrite};

use super::session::{Flow, Session};
use crate::policy::Stage;

/// Handles `HELO host`.
pub async fn handle_helo<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Session<S>,
    host: String,
) -> Flow {
    if host.trim().is_empty() {
        return s.refuse("HELO", reply::syntax("HELO needs a host name"));
    }
    s.state.helo = Some(host);
    s.state.esmtp = false;
    s.state.mail = None;
    if let Some(r) = s.policy(Stage::Ehlo, None, None).await {
        s.state.helo = None;
        return s.reject("HELO", "policy", r);
    }
    let (me, peer) = (s.ctx.hostname.clone(), s.peer.ip().to_string());
    s.reply(reply::helo(&me, &peer));
    Flow::Continue
}
