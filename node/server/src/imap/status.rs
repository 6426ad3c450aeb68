//! STATUS: counters of a mailbox without selecting it (MESSAGES, UIDNEXT, UIDVALIDITY,
//! UNSEEN, HIGHESTMODSEQ, SIZE (RFC 8438), RECENT — the messages no session has seen as recent yet — and DELETED
//! and DELETED-STORAGE by scanning flags).

use tern_proto::imap::types::{
    core::Tag,
    mailbox::Mailbox,
    response::Data,
    status::{StatusDataItem, StatusDataItemName},
};
use tern_store::model::{Directory, ModelError, message, message::Flags};
use tokio::io::{AsyncRead, AsyncWrite};

use super::{
    convert::nz,
    session::{Flow, Missing, Session},
};

/// The STATUS items of `m`.
pub async fn items_for(
    dir: &Directory,
    m: &tern_store::model::Mailbox,
    items: &[StatusDataItemName],
) -> Result<Vec<StatusDataItem>, ModelError> {
    let st = dir.mailbox_status(m).await?;
    let needs_scan = items.iter().any(|i| {
        matches!(
            i,
            StatusDataItemName::Deleted | StatusDataItemName::DeletedStorage
        )
    });
    let mut recent = 0u32;
    if items.contains(&StatusDataItemName::Recent) {
        let id = m.id;
        recent = dir
            .db()
            .run(|tx| async move {
                Ok(
                    match tern_store::model::recent::unclaimed_from(&tx, id).await? {
                        Some(from) => message::list(&tx, id, from, None).await?.len() as u32,
                        None => 0,
                    },
                )
            })
            .await?;
    }
    let (mut deleted, mut deleted_bytes) = (0u32, 0u64);
    if needs_scan {
        let id = m.id;
        let metas = dir
            .db()
            .run(|tx| async move { message::list(&tx, id, 1, None).await })
            .await?;
        for meta in metas.iter().filter(|m| m.flags.contains(Flags::DELETED)) {
            deleted += 1;
            deleted_bytes += meta.size;
        }
    }
    Ok(items
        .iter()
        .map(|i| match i {
            StatusDataItemName::Messages => StatusDataItem::Messages(st.messages.max(0) as u32),
            StatusDataItemName::Recent => StatusDataItem::Recent(recent),
            StatusDataItemName::UidNext => StatusDataItem::UidNext(nz(st.uidnext)),
            StatusDataItemName::UidValidity => StatusDataItem::UidValidity(nz(st.uidvalidity)),
            StatusDataItemName::Unseen => StatusDataItem::Unseen(st.unseen.max(0) as u32),
            StatusDataItemName::Deleted => StatusDataItem::Deleted(deleted),
            StatusDataItemName::DeletedStorage => StatusDataItem::DeletedStorage(deleted_bytes),
            StatusDataItemName::HighestModSeq => StatusDataItem::HighestModSeq(st.highest_modseq),
            StatusDataItemName::Size => StatusDataItem::Size(st.bytes.max(0) as u64),
        })
        .collect())
}

/// An item name as LIST-STATUS writes it.
pub fn item_name(name: &str) -> Option<StatusDataItemName> {
    Some(match name {
        "MESSAGES" => StatusDataItemName::Messages,
        "RECENT" => StatusDataItemName::Recent,
        "UIDNEXT" => StatusDataItemName::UidNext,
        "UIDVALIDITY" => StatusDataItemName::UidValidity,
        "UNSEEN" => StatusDataItemName::Unseen,
        "DELETED" => StatusDataItemName::Deleted,
        "DELETED-STORAGE" => StatusDataItemName::DeletedStorage,
        "HIGHESTMODSEQ" => StatusDataItemName::HighestModSeq,
        "SIZE" => StatusDataItemName::Size,
        _ => return None,
    })
}

/// Handles `STATUS name (items)`.
pub async fn handle_status<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Session<S>,
    tag: Tag<'static>,
    name: Mailbox<'static>,
    items: Vec<StatusDataItemName>,
) -> Flow {
    let name = match s.name_in(&tag, &name) {
        Ok(n) => n,
        Err(flow) => return flow,
    };
    let Some(m) = s.mailbox_named(&tag, &name, Missing::Nonexistent).await else {
        return Flow::Continue;
    };
    let out = match items_for(&s.ctx.dir, &m, &items).await {
        Ok(out) => out,
        Err(e) => return s.fail(&tag, e),
    };
    s.data(Data::Status {
        mailbox: s.name_out(&m.name),
        items: out.into(),
    });
    s.done(&tag, None, "STATUS completed").await
}
