//! COPY, MOVE (RFC 6851) and their UID forms: copies share the body blob; quota is checked
//! against the bytes added (`[OVERQUOTA]`); COPYUID (UIDPLUS) pairs source and new UIDs. MOVE
//! copies and expunges in the same transaction, so a message is never in both or neither.

use tern_proto::imap::{
    sequence::{out_of_range, resolve, to_uid_set},
    types::{
        core::Tag,
        mailbox::Mailbox,
        response::{Code, StatusKind},
        sequence::SequenceSet,
    },
};
use tern_store::model::{ModelError, account, message};
use tokio::io::{AsyncRead, AsyncWrite};

use super::{
    convert::{mailbox_name, nz},
    session::{Flow, Session},
};
use crate::delivery::exceeds;

enum CopyError {
    OverQuota,
    Model(ModelError),
}

impl From<tern_store::StoreError> for CopyError {
    fn from(e: tern_store::StoreError) -> Self {
        CopyError::Model(e.into())
    }
}

impl tern_store::TxError for CopyError {
    fn as_store(&self) -> Option<&tern_store::StoreError> {
        match self {
            CopyError::Model(ModelError::Store(e)) => Some(e),
            _ => None,
        }
    }
}

/// Handles `COPY` / `MOVE` (`moving`) by sequence number or UID.
pub async fn handle_copy<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Session<S>,
    tag: Tag<'static>,
    set: SequenceSet,
    target: Mailbox<'static>,
    by_uid: bool,
    moving: bool,
) -> Flow {
    let verb = if moving { "MOVE" } else { "COPY" };
    let account = s.account().clone();
    let Some(sel) = s.selected.as_ref() else {
        return s.bad(&tag, None, "no mailbox selected");
    };
    if moving && sel.read_only {
        return s.no(
            &tag,
            Some(Code::ReadOnly),
            "the mailbox is open read-only (EXAMINE)",
        );
    }
    let uids = sel.uids();
    if !by_uid && out_of_range(&set, uids.len()) {
        return s.bad(
            &tag,
            None,
            &format!(
                "no message with that sequence number (the mailbox has {})",
                uids.len()
            ),
        );
    }
    let source = sel.mailbox.id;
    let sources: Vec<u32> = resolve(&set, &uids, by_uid)
        .into_iter()
        .map(|i| uids[i])
        .collect();
    let name = mailbox_name(&target);
    let target = match s.ctx.dir.mailbox(account.id, &name).await {
        Ok(Some(m)) => m,
        Ok(None) => {
            return s.no(
                &tag,
                Some(Code::TryCreate),
                &format!("no mailbox named {name}; create it first"),
            );
        }
        Err(e) => return s.fail(&tag, e),
    };
    let db = s.ctx.dir.db().clone();
    // This node's write permits on both mailboxes, taken in id order so two opposite moves
    // cannot wait on each other.
    let mut ids = vec![target.id];
    if moving && source != target.id {
        ids.push(source);
    }
    ids.sort_unstable();
    let mut _permits = Vec::new();
    for id in ids {
        _permits.push(s.ctx.hub.writing(id).await);
    }
    let (mut from, mut to) = (Vec::new(), Vec::new());
    for batch in sources.chunks(200) {
        let target_id = target.id;
        let account_id = account.id;
        let result = db
            .transact(|tx| async move {
                let mut metas = Vec::new();
                for &uid in batch {
                    if let Some(m) = message::get(&tx, source, uid).await? {
                        metas.push(m);
                    }
                }
                if !moving && !metas.is_empty() {
                    let bytes: u64 = metas.iter().map(|m| m.size).sum();
                    let acct = account::get(&tx, account_id)
                        .await?
                        .ok_or_else(|| CopyError::Model(ModelError::NotFound("account".into())))?;
                    let usage = account::usage(&tx, account_id).await?;
                    if exceeds(&acct, usage, bytes) {
                        return Err(CopyError::OverQuota);
                    }
                }
                let mut pairs = Vec::new();
                for m in &metas {
                    let new =
                        message::copy(&tx, account_id, target_id, m, m.flags, m.keywords.clone())
                            .await?;
                    pairs.push((m.uid, new.uid));
                }
                if moving {
                    let moved: Vec<u32> = metas.iter().map(|m| m.uid).collect();
                    message::expunge(&tx, account_id, source, &moved).await?;
                }
                Ok(pairs)
            })
            .await;
        match result {
            Ok(pairs) => {
                for (a, b) in pairs {
                    from.push(a);
                    to.push(b);
                }
            }
            Err(CopyError::OverQuota) => {
                return s.no(
                    &tag,
                    Some(Code::OverQuota),
                    &format!("copying would put {} over its quota", account.address),
                );
            }
            Err(CopyError::Model(e)) => return s.fail(&tag, e),
        }
    }
    s.ctx.hub.poke(target.id).await;
    if moving && let Some(sel) = &s.selected {
        sel.sub.committed();
    }
    tracing::info!(session = %s.id, verb, messages = from.len(), target = %target.name, "IMAP copy");
    let code = match (to_uid_set(&from), to_uid_set(&to)) {
        (Some(source), Some(destination)) => Some(Code::CopyUid {
            uid_validity: nz(target.uidvalidity),
            source,
            destination,
        }),
        _ => None,
    };
    if moving {
        if let Some(code) = code {
            s.reply(None, StatusKind::Ok, Some(code), "moved");
        }
        return s.done(&tag, None, "MOVE completed").await;
    }
    s.done(&tag, code, "COPY completed").await
}
