//! EXPUNGE and UID EXPUNGE (UIDPLUS): removes messages marked `\Deleted` (only those in the
//! set, for UID EXPUNGE) in bounded transactions; the EXPUNGE or VANISHED responses come from
//! the session's sync, like any other change.

use tern_proto::imap::{
    sequence::resolve,
    types::{core::Tag, response::Code, sequence::SequenceSet},
};
use tern_store::model::{Directory, ModelError, ModelResult, message, message::Flags};
use tokio::io::{AsyncRead, AsyncWrite};

use super::{
    selected::Selected,
    session::{Flow, Session},
};

/// Removes the `\Deleted` messages of the view (restricted to `only` UIDs when given).
pub async fn remove_deleted(
    dir: &Directory,
    account: u64,
    sel: &Selected,
    only: Option<&[u32]>,
) -> ModelResult<Vec<u32>> {
    let candidates: Vec<u32> = match only {
        Some(uids) => uids.to_vec(),
        None => sel.uids(),
    };
    let mailbox = sel.mailbox.id;
    let mut removed = Vec::new();
    for batch in candidates.chunks(500) {
        let done = dir
            .db()
            .transact(|tx| async move {
                let mut marked = Vec::new();
                for &uid in batch {
                    if let Some(m) = message::get(&tx, mailbox, uid).await?
                        && m.flags.contains(Flags::DELETED)
                    {
                        marked.push(uid);
                    }
                }
                Ok::<_, ModelError>(message::expunge(&tx, account, mailbox, &marked).await?)
            })
            .await?;
        removed.extend(done);
    }
    Ok(removed)
}

/// Handles `EXPUNGE` (`set` None) and `UID EXPUNGE set`.
pub async fn handle_expunge<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Session<S>,
    tag: Tag<'static>,
    set: Option<SequenceSet>,
) -> Flow {
    let account = s.account().id;
    let Some(sel) = s.selected.as_ref() else {
        return s.bad(&tag, None, "no mailbox selected");
    };
    if sel.read_only {
        return s.no(
            &tag,
            Some(Code::ReadOnly),
            "the mailbox is open read-only (EXAMINE)",
        );
    }
    let only: Option<Vec<u32>> = set.map(|set| {
        let uids = sel.uids();
        resolve(&set, &uids, true)
            .into_iter()
            .map(|i| uids[i])
            .collect()
    });
    let dir = s.ctx.dir.clone();
    let _permit = sel.sub.writing().await;
    let result = remove_deleted(&dir, account, sel, only.as_deref()).await;
    match result {
        Ok(removed) => {
            tracing::info!(session = %s.id, removed = removed.len(), "IMAP expunge");
            if let Some(sel) = &s.selected {
                sel.sub.committed();
            }
            s.done(&tag, None, "EXPUNGE completed").await
        }
        Err(e) => s.fail(&tag, e),
    }
}
