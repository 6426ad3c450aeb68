//! COPY, MOVE (RFC 6851) and their UID forms: copies share the body blob; quota is checked
//! against the bytes added (`[OVERQUOTA]`); COPYUID (UIDPLUS) pairs source and new UIDs. MOVE
//! copies and expunges in the same transaction, so a message is never in both or neither.
//! Copying or moving into Junk, or out of it, is reported to the spam learner.

use tern_proto::imap::{
    sequence::to_uid_set,
    types::{
        core::Tag,
        mailbox::Mailbox,
        response::{Code, StatusKind},
        sequence::SequenceSet,
    },
};
use tern_store::model::message;

use crate::policy::learn::{MAX_PER_COMMAND, Report};
use tokio::io::{AsyncRead, AsyncWrite};

use super::{
    convert::nz,
    filing::{FilingError, check_quota},
    session::{Flow, Missing, Session},
};

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
    let Some((uids, positions)) = s.named_messages(&tag, &set, by_uid, moving) else {
        return Flow::Continue;
    };
    let sel = s
        .selected
        .as_ref()
        .expect("named_messages checked the selection");
    let source = sel.mailbox.id;
    let source_mailbox = sel.mailbox.clone();
    let sources: Vec<u32> = positions.into_iter().map(|i| uids[i]).collect();
    let name = match s.name_in(&tag, &target) {
        Ok(n) => n,
        Err(flow) => return flow,
    };
    let Some(target) = s.mailbox_named(&tag, &name, Missing::TryCreate).await else {
        return Flow::Continue;
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
    let report = s
        .ctx
        .learner
        .as_ref()
        .and_then(|_| Report::of_move(&source_mailbox, &target));
    let (mut from, mut to, mut learned) = (Vec::new(), Vec::new(), Vec::new());
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
                    check_quota(&tx, account_id, bytes).await?;
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
                Ok((pairs, metas.iter().map(|m| m.blob).collect::<Vec<_>>()))
            })
            .await;
        match result {
            Ok((pairs, blobs)) => {
                for (a, b) in pairs {
                    from.push(a);
                    to.push(b);
                }
                if report.is_some() && learned.len() < MAX_PER_COMMAND {
                    learned.extend(blobs);
                }
            }
            Err(FilingError::OverQuota) => {
                return s.no(
                    &tag,
                    Some(Code::OverQuota),
                    &format!("copying would put {} over its quota", account.address),
                );
            }
            Err(FilingError::Model(e)) => return s.fail(&tag, e),
        }
    }
    s.ctx.hub.poke(target.id).await;
    if let (Some(learner), Some(report)) = (&s.ctx.learner, report) {
        learner.learn(account.id, &account.address, report, learned);
    }
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
