//! COMPRESS (RFC 4978): after the tagged OK, sent in clear, both directions of the connection
//! are raw DEFLATE (see `net/deflate.rs`); once on, it stays on for the connection.

use tern_proto::imap::{
    response::Extra,
    types::{core::Tag, response::Code},
};
use tokio::io::{AsyncRead, AsyncWrite};

use super::session::{Flow, Session};

/// Handles `COMPRESS DEFLATE` (the only algorithm the parser takes).
pub async fn handle_compress<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Session<S>,
    tag: Tag<'static>,
) -> Flow {
    let Some(level) = s.ctx.config.compress_level else {
        return s.bad(
            &tag,
            Some(Extra::Cannot.code()),
            "COMPRESS is turned off on this server (no COMPRESS=DEFLATE capability); nothing was done",
        );
    };
    if s.conn.is_compressed() {
        return s.no(
            &tag,
            Some(Code::CompressionActive),
            "DEFLATE is already active",
        );
    }
    s.ok(&tag, None, "DEFLATE active");
    if s.conn.flush().await.is_err() {
        return Flow::Close;
    }
    let early = s.reader.take_unframed();
    s.conn.start_deflate(level, &early);
    super::metrics::METRICS.compress_sessions.inc();
    tracing::debug!(session = %s.id, level, "COMPRESS DEFLATE started");
    Flow::Continue
}
