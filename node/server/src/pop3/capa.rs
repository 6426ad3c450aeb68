//! CAPA (RFC 2449): what this session offers now.

use tern_proto::pop3::reply;
use tokio::io::{AsyncRead, AsyncWrite};

use super::session::{Flow, Phase, Session};

/// Handles `CAPA`.
pub fn handle_capa<S: AsyncRead + AsyncWrite + Unpin + Send>(s: &mut Session<S>) -> Flow {
    let mut caps = vec![
        "TOP",
        "UIDL",
        "RESP-CODES",
        "AUTH-RESP-CODE",
        "PIPELINING",
        "EXPIRE NEVER",
        "IMPLEMENTATION Tern",
    ];
    let before_login = matches!(s.phase, Phase::Authorization { .. });
    if before_login && s.plaintext_allowed() {
        caps.push("USER");
        caps.push("SASL PLAIN");
    }
    if before_login && s.ctx.tls.is_some() && !s.conn.is_tls() {
        caps.push("STLS");
    }
    s.reply(reply::capa());
    for c in caps {
        s.conn.out().extend_from_slice(c.as_bytes());
        s.conn.out().extend_from_slice(b"\r\n");
    }
    s.conn.out().extend_from_slice(b".\r\n");
    Flow::Continue
}
