//! STORE and UID STORE: FLAGS / +FLAGS / -FLAGS (.SILENT), with UNCHANGEDSINCE (CONDSTORE):
//! messages changed since the given MODSEQ are left alone and named in `[MODIFIED]`.

use std::num::{NonZeroU32, NonZeroU64};

use tern_proto::imap::{
    sequence::to_set,
    types::{
        command::StoreModifier,
        core::{Tag, Vec1},
        fetch::MessageDataItem,
        flag::{Flag, StoreResponse, StoreType},
        response::{Code, Data},
        sequence::SequenceSet,
    },
};
use tern_store::model::{MessageMeta, message};
use tokio::io::{AsyncRead, AsyncWrite};

use tern_proto::imap::response::Extra;

use super::{
    convert::{MAX_KEYWORDS, fetch_flags, nz, split_flags},
    session::{Flow, Session},
};

/// Handles `STORE set (+|-)FLAGS[.SILENT] [(UNCHANGEDSINCE n)] (flags)`.
#[allow(clippy::too_many_arguments)]
pub async fn handle_store<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Session<S>,
    tag: Tag<'static>,
    set: SequenceSet,
    kind: StoreType,
    response: StoreResponse,
    flags: Vec<Flag<'static>>,
    by_uid: bool,
    modifiers: Vec<StoreModifier>,
) -> Flow {
    let Some((uids, positions)) = s.named_messages(&tag, &set, by_uid, true) else {
        return Flow::Continue;
    };
    let unchanged_since = modifiers
        .iter()
        .map(|StoreModifier::UnchangedSince(n)| *n)
        .next();
    if unchanged_since.is_some() {
        super::enable::condstore(s);
    }
    let sel = s
        .selected
        .as_ref()
        .expect("named_messages checked the selection");
    let Some((system, keywords)) = split_flags(&flags) else {
        return s.bad(
            &tag,
            None,
            "only \\Seen \\Answered \\Flagged \\Deleted \\Draft and keywords can be stored",
        );
    };
    if keywords.len() > MAX_KEYWORDS {
        return s.no(
            &tag,
            Some(Extra::Limit.code()),
            &format!("a message carries at most {MAX_KEYWORDS} keywords"),
        );
    }
    let mailbox = sel.mailbox.id;
    let targets: Vec<u32> = positions.into_iter().map(|i| uids[i]).collect();
    let db = s.ctx.dir.db().clone();
    let _permit = sel.sub.writing().await;
    let mut stored: Vec<MessageMeta> = Vec::new();
    let mut modified: Vec<u32> = Vec::new();
    let mut over_limit = 0usize;
    for batch in targets.chunks(500) {
        let (system, keywords) = (system, &keywords);
        let result = db
            .run(|tx| async move {
                let mut stored = Vec::new();
                let mut changes = Vec::new();
                let mut modified = Vec::new();
                let mut limited = 0usize;
                for &uid in batch {
                    let Some(meta) = message::get(&tx, mailbox, uid).await? else {
                        continue;
                    };
                    if unchanged_since.is_some_and(|n| meta.modseq > n) {
                        modified.push(uid);
                        continue;
                    }
                    let (new_flags, new_keywords) = match kind {
                        StoreType::Replace => (system, keywords.clone()),
                        StoreType::Add => {
                            let mut k = meta.keywords.clone();
                            for kw in keywords {
                                if !k.iter().any(|x| x.eq_ignore_ascii_case(kw)) {
                                    k.push(kw.clone());
                                }
                            }
                            (meta.flags.union(system), k)
                        }
                        StoreType::Remove => (
                            meta.flags.without(system),
                            meta.keywords
                                .iter()
                                .filter(|x| !keywords.iter().any(|k| k.eq_ignore_ascii_case(x)))
                                .cloned()
                                .collect(),
                        ),
                    };
                    if new_keywords.len() > MAX_KEYWORDS {
                        limited += 1;
                        continue;
                    }
                    if new_flags == meta.flags && new_keywords == meta.keywords {
                        stored.push(meta);
                        continue;
                    }
                    changes.push((meta, new_flags, new_keywords));
                }
                stored.extend(message::set_flags_of(&tx, mailbox, changes).await?);
                stored.sort_unstable_by_key(|m| m.uid);
                Ok((stored, modified, limited))
            })
            .await;
        match result {
            Ok((st, md, lim)) => {
                stored.extend(st);
                modified.extend(md);
                over_limit += lim;
            }
            Err(e) => return s.fail(&tag, e.into()),
        }
    }
    if let Some(sel) = s.selected.as_mut() {
        sel.announce_keywords(s.conn.out(), &stored);
        for m in &stored {
            sel.note(m);
        }
        sel.sub.committed();
    }
    let condstore = s.reporting.condstore;
    if response == StoreResponse::Answer || condstore {
        for m in &stored {
            let Some(seq) = s.selected.as_ref().and_then(|sel| sel.seq_of(m.uid)) else {
                continue;
            };
            let mut items = Vec::new();
            if response == StoreResponse::Answer {
                let recent = s.selected.as_ref().is_some_and(|sel| sel.is_recent(m.uid));
                items.push(MessageDataItem::Flags(fetch_flags(
                    m.flags,
                    &m.keywords,
                    recent,
                )));
            }
            if by_uid {
                items.push(MessageDataItem::Uid(nz(m.uid)));
            }
            if condstore {
                items.push(MessageDataItem::ModSeq(
                    NonZeroU64::new(m.modseq).unwrap_or(NonZeroU64::MIN),
                ));
            }
            if let Ok(items) = Vec1::try_from(items) {
                s.data(Data::Fetch {
                    seq: NonZeroU32::new(seq).unwrap_or(NonZeroU32::MIN),
                    items,
                });
            }
        }
    }
    let modified: Vec<u32> = if by_uid {
        modified
    } else {
        modified
            .iter()
            .filter_map(|u| s.selected.as_ref().and_then(|sel| sel.seq_of(*u)))
            .collect()
    };
    if over_limit > 0 {
        if let Err(e) = s.sync().await {
            return s.fail(&tag, e.into());
        }
        return s.no(
            &tag,
            Some(Extra::Limit.code()),
            &format!("{over_limit} messages would carry more than {MAX_KEYWORDS} keywords and were left unchanged"),
        );
    }
    let code = to_set(&modified).map(Code::Modified);
    let text = if code.is_some() {
        "STORE completed except for messages changed meanwhile"
    } else {
        "STORE completed"
    };
    s.done(&tag, code, text).await
}
