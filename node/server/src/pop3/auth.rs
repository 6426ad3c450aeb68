//! AUTH (RFC 5034): lists mechanisms without an argument; PLAIN with or without an initial
//! response.

use tern_proto::{
    pop3::reply,
    smtp::sasl::{self, SaslError},
};
use tokio::io::{AsyncRead, AsyncWrite};

use super::session::{Flow, MAX_SASL_LINE, Session};

/// Handles `AUTH [mechanism [initial-response]]`.
pub async fn handle_auth<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Session<S>,
    mechanism: Option<String>,
    initial: Option<String>,
) -> Flow {
    let Some(mechanism) = mechanism else {
        s.reply(reply::ok("SASL mechanisms follow"));
        let list: &[u8] = if s.plaintext_allowed() {
            b"PLAIN\r\n.\r\n"
        } else {
            b".\r\n"
        };
        s.conn.out().extend_from_slice(list);
        return Flow::Continue;
    };
    if !s.plaintext_allowed() {
        return s.refuse(reply::plaintext_disabled());
    }
    if mechanism != "PLAIN" {
        return s.refuse(reply::mechanism_unsupported());
    }
    let response = match initial {
        Some(r) => Some(r),
        None => {
            s.conn
                .out()
                .extend_from_slice(reply::sasl_challenge("").as_bytes());
            let idle = s.ctx.config.idle_timeout;
            let line = s.conn.read_line(MAX_SASL_LINE, idle).await;
            if s.traced() {
                crate::trace::sasl(&s.id, crate::trace::Protocol::Pop3);
            }
            match line {
                Ok(line) => line,
                Err(_) => return Flow::Close,
            }
        }
    };
    let credentials = response
        .ok_or(SaslError::Malformed)
        .and_then(|r| sasl::decode(&r))
        .and_then(|m| sasl::plain(&m));
    match credentials {
        Ok(c) if c.authzid.is_none() => s.login(&c.login, c.password).await,
        Ok(_) => s.refuse(reply::auth_failed(false)),
        Err(_) => s.refuse(reply::sasl_aborted()),
    }
}
