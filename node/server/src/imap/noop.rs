//! NOOP and CHECK: report what changed in the selected mailbox (new mail, flags, expunges).

use tern_proto::imap::types::core::Tag;
use tokio::io::{AsyncRead, AsyncWrite};

use super::session::{Flow, Session};

/// Handles `NOOP` and `CHECK`.
pub async fn handle_noop<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Session<S>,
    tag: Tag<'static>,
) -> Flow {
    s.done(&tag, None, "NOOP completed").await
}
