//! STARTTLS (RFC 3207): the TLS handshake on a clear-text connection. Anything the client sent
//! after the command is discarded (it was not protected), and the session starts over.

use tern_proto::smtp::reply;
use tokio::io::{AsyncRead, AsyncWrite};

use super::session::{Flow, Session, State};

/// Handles `STARTTLS`.
pub async fn handle_starttls<S: AsyncRead + AsyncWrite + Unpin + Send>(s: &mut Session<S>) -> Flow {
    if s.is_tls() {
        return s.refuse("STARTTLS", reply::tls_already_active());
    }
    let Some(tls) = s.ctx.tls.clone() else {
        return s.refuse("STARTTLS", reply::tls_unavailable());
    };
    s.reply(reply::starttls_ready());
    if s.flush().await.is_err() {
        return Flow::Close;
    }
    let dropped = s.conn.discard_input();
    if dropped > 0 {
        tracing::warn!(session = %s.id, bytes = dropped, "discarded data pipelined after STARTTLS");
    }
    match s.conn.start_tls(&tls).await {
        Ok(()) => {
            // RFC 3207 §4.2: forget everything learnt before the handshake.
            s.state = State {
                errors: s.state.errors,
                ..State::default()
            };
            tracing::info!(session = %s.id, tls = s.conn.tls_description().unwrap_or_default(), "STARTTLS completed");
            Flow::Continue
        }
        Err(e) => {
            tracing::info!(session = %s.id, error = %e, "STARTTLS handshake failed");
            Flow::Close
        }
    }
}
