//! STLS (RFC 2595): TLS on port 110. Input pipelined after the command is discarded.

use tern_proto::pop3::reply;
use tokio::io::{AsyncRead, AsyncWrite};

use super::session::{Flow, Phase, Session};

/// Handles `STLS`.
pub async fn handle_stls<S: AsyncRead + AsyncWrite + Unpin + Send>(s: &mut Session<S>) -> Flow {
    let Some(tls) = s.ctx.tls.clone().filter(|_| !s.conn.is_tls()) else {
        let active = s.conn.is_tls();
        return s.refuse(reply::tls_unavailable(active));
    };
    s.reply(reply::stls_ready());
    if s.conn.flush().await.is_err() {
        return Flow::Close;
    }
    s.conn.discard_input();
    match s.conn.start_tls(&tls).await {
        Ok(()) => {
            s.phase = Phase::Authorization { user: None };
            Flow::Continue
        }
        Err(e) => {
            tracing::info!(session = %s.id, error = %e, "STLS handshake failed");
            Flow::Close
        }
    }
}
