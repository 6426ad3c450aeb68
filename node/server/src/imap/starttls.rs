//! STARTTLS: upgrades the connection; input the client pipelined after the command is dropped
//! (it must not be trusted), and the session starts again unauthenticated.

use tern_proto::imap::{response::Extra, types::core::Tag};
use tokio::io::{AsyncRead, AsyncWrite};

use super::session::{Flow, Session};

/// Handles `STARTTLS`.
pub async fn handle_starttls<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Session<S>,
    tag: Tag<'static>,
) -> Flow {
    if s.conn.is_tls() {
        return s.bad(&tag, None, "TLS is already active");
    }
    let Some(tls) = s.ctx.tls.clone() else {
        return s.no(
            &tag,
            Some(Extra::Unavailable.code()),
            "TLS is not configured on this server",
        );
    };
    s.ok(&tag, None, "begin TLS negotiation now");
    if s.conn.flush().await.is_err() {
        return Flow::Close;
    }
    s.conn.discard_input();
    s.reader.reset();
    match s.conn.start_tls(&tls).await {
        Ok(()) => Flow::Continue,
        Err(e) => {
            tracing::info!(session = %s.id, error = %e, "STARTTLS handshake failed");
            Flow::Close
        }
    }
}
