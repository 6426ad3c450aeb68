//! EHLO: names the client (asking the policy checks), resets the transaction and lists the
//! extensions on offer.

use tern_proto::smtp::reply;
use tokio::io::{AsyncRead, AsyncWrite};

use super::session::{Flow, Session};
use crate::policy::Stage;

/// Handles `EHLO host`.
pub async fn handle_ehlo<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Session<S>,
    host: String,
) -> Flow {
    if host.trim().is_empty() {
        return s.refuse("EHLO", reply::syntax("EHLO needs a host name"));
    }
    s.state.helo = Some(host);
    s.state.esmtp = true;
    s.state.mail = None;
    if let Some(r) = s.policy(Stage::Ehlo, None, None).await {
        s.state.helo = None;
        return s.reject("EHLO", "policy", r);
    }
    let mut caps = vec![
        "PIPELINING".to_string(),
        format!("SIZE {}", s.ctx.config.max_message_bytes),
        "8BITMIME".into(),
        "SMTPUTF8".into(),
        "ENHANCEDSTATUSCODES".into(),
        "CHUNKING".into(),
        "DSN".into(),
    ];
    if s.ctx.tls.is_some() && !s.is_tls() {
        caps.push("STARTTLS".into());
    }
    if s.auth_allowed() && s.state.account.is_none() {
        caps.push("AUTH PLAIN LOGIN".into());
    }
    caps.push("HELP".into());
    let peer = s.peer.ip().to_string();
    let host = s.ctx.hostname.clone();
    s.reply(reply::ehlo(&host, &peer, caps));
    Flow::Continue
}
