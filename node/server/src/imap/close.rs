//! CLOSE and UNSELECT: leave the selected mailbox; CLOSE first removes its `\Deleted`
//! messages silently (unless it was opened read-only).

use tern_proto::imap::types::core::Tag;
use tokio::io::{AsyncRead, AsyncWrite};

use super::session::{Flow, Session};

/// Handles `CLOSE` (`expunge`: removes `\Deleted` messages silently first, unless read-only)
/// and `UNSELECT`.
pub async fn handle_close<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Session<S>,
    tag: Tag<'static>,
    expunge: bool,
) -> Flow {
    let Some(sel) = s.selected.take() else {
        return s.bad(&tag, None, "no mailbox selected");
    };
    if expunge && !sel.read_only {
        let account = s.account().id;
        let _permit = sel.sub.writing().await;
        if let Err(e) = super::expunge::remove_deleted(&s.ctx.dir, account, &sel, None).await {
            return s.fail(&tag, e);
        }
        sel.sub.committed();
    }
    s.ok(
        &tag,
        None,
        if expunge {
            "CLOSE completed"
        } else {
            "UNSELECT completed"
        },
    )
}
