//! FETCH and UID FETCH: flags, dates, sizes, ENVELOPE and BODYSTRUCTURE from the cached
//! summary, BODY[section]<partial> / BODY.PEEK / RFC822.* / BINARY from the body, UID and
//! MODSEQ; CHANGEDSINCE and VANISHED (CONDSTORE/QRESYNC). Messages are read in batches and
//! responses flushed as they grow, so a large FETCH does not hold the mailbox in memory; a
//! FETCH of record items only (flags, UID, MODSEQ, sizes, dates) reads the mailbox's index.

use std::num::{NonZeroU32, NonZeroU64};

use tern_proto::imap::{
    response,
    sequence::{resolve, to_set},
    types::{
        command::FetchModifier,
        core::{LiteralMode, NString8, Tag, Vec1},
        extensions::binary::Literal8,
        fetch::{MacroOrMessageDataItemNames, MessageDataItem, MessageDataItemName},
        response::{Code, Data},
        sequence::SequenceSet,
    },
};
use tern_store::{
    blob,
    model::{MessageMeta, Summary, message, message::Flags},
};
use tokio::io::{AsyncRead, AsyncWrite};

use super::{
    convert::{body_structure, date_time, envelope, fetch_flags, literal, nz},
    index, section,
    session::{Flow, Session},
};

/// Messages read per store transaction.
const BATCH: usize = 200;
/// Output flushed once it passes this many bytes.
const FLUSH_AT: usize = 256 * 1024;

struct Wants {
    names: Vec<MessageDataItemName<'static>>,
    summary: bool,
    body: bool,
    marks_seen: bool,
}

fn wants(names: Vec<MessageDataItemName<'static>>, read_only: bool) -> Wants {
    use MessageDataItemName as N;
    // RFC822.HEADER and RFC822.TEXT split the message where the summary says its body starts.
    let summary = names.iter().any(|n| {
        matches!(
            n,
            N::Envelope
                | N::BodyStructure
                | N::Body
                | N::BodyExt { .. }
                | N::Binary { .. }
                | N::BinarySize { .. }
                | N::Rfc822Header
                | N::Rfc822Text
        )
    });
    let body = names.iter().any(|n| {
        matches!(
            n,
            N::BodyExt { .. }
                | N::Rfc822
                | N::Rfc822Header
                | N::Rfc822Text
                | N::Binary { .. }
                | N::BinarySize { .. }
        )
    });
    let marks_seen = !read_only
        && names.iter().any(|n| {
            matches!(
                n,
                N::BodyExt { peek: false, .. }
                    | N::Rfc822
                    | N::Rfc822Text
                    | N::Binary { peek: false, .. }
            )
        });
    Wants {
        names,
        summary,
        body,
        marks_seen,
    }
}

/// Decoded content for BINARY: a literal8 (`~{n}`) when it holds NUL, which a literal cannot
/// carry (RFC 3516 §4.2), a literal otherwise.
fn binary(bytes: Vec<u8>) -> NString8<'static> {
    if bytes.contains(&0) {
        NString8::Literal8(Literal8 {
            data: bytes.into(),
            mode: LiteralMode::Sync,
        })
    } else {
        NString8::NString(literal(bytes))
    }
}

/// Why one message's items could not be built.
enum ItemError {
    UnknownCte,
}

fn items(
    meta: &MessageMeta,
    summary: Option<&Summary>,
    raw: Option<&[u8]>,
    wants: &Wants,
    with_flags: bool,
    recent: bool,
) -> Result<Vec<MessageDataItem<'static>>, ItemError> {
    use MessageDataItemName as N;
    let mut out = Vec::with_capacity(wants.names.len() + 1);
    let raw = raw.unwrap_or_default();
    let structure = summary.map(|s| &s.structure);
    for name in &wants.names {
        let item = match name {
            N::Uid => MessageDataItem::Uid(nz(meta.uid)),
            N::Flags => MessageDataItem::Flags(fetch_flags(meta.flags, &meta.keywords, recent)),
            N::InternalDate => MessageDataItem::InternalDate(date_time(meta.internal_date)),
            N::Rfc822Size => MessageDataItem::Rfc822Size(meta.size as u32),
            N::ModSeq => {
                MessageDataItem::ModSeq(NonZeroU64::new(meta.modseq).unwrap_or(NonZeroU64::MIN))
            }
            N::Envelope => MessageDataItem::Envelope(envelope(
                &summary.map(|s| s.envelope.clone()).unwrap_or_default(),
            )),
            N::BodyStructure => MessageDataItem::BodyStructure(body_structure(
                structure.map_or(&Default::default(), |s| s),
                true,
            )),
            N::Body => MessageDataItem::Body(body_structure(
                structure.map_or(&Default::default(), |s| s),
                false,
            )),
            N::Rfc822 => MessageDataItem::Rfc822(literal(raw.to_vec())),
            N::Rfc822Header => {
                let end = structure
                    .map_or(raw.len(), |s| s.body_start as usize)
                    .min(raw.len());
                MessageDataItem::Rfc822Header(literal(raw[..end].to_vec()))
            }
            N::Rfc822Text => {
                let start = structure
                    .map_or(0, |s| s.body_start as usize)
                    .min(raw.len());
                MessageDataItem::Rfc822Text(literal(raw[start..].to_vec()))
            }
            N::BodyExt {
                section, partial, ..
            } => {
                let bytes = structure
                    .and_then(|st| section::extract(raw, st, section.as_ref()))
                    .unwrap_or_default();
                MessageDataItem::BodyExt {
                    section: section.clone(),
                    origin: partial.map(|(o, _)| o),
                    data: literal(section::partial(bytes, *partial)),
                }
            }
            N::Binary { section: path, .. } | N::BinarySize { section: path }
                if structure.is_some() =>
            {
                let st = structure.expect("checked");
                let nums: Vec<u32> = path.iter().map(|n| n.get()).collect();
                let decoded = match section::locate(st, &nums) {
                    Some(p) => {
                        let body = raw
                            .get(p.body_start as usize..(p.body_end as usize).min(raw.len()))
                            .unwrap_or_default();
                        let whole = nums.is_empty();
                        let body = if whole { raw } else { body };
                        let enc = if whole { "7bit" } else { p.encoding.as_str() };
                        section::decode_transfer(body, enc).ok_or(ItemError::UnknownCte)?
                    }
                    None => Vec::new(),
                };
                match name {
                    N::BinarySize { .. } => MessageDataItem::BinarySize {
                        section: path.clone(),
                        size: decoded.len() as u32,
                    },
                    N::Binary { partial, .. } => MessageDataItem::Binary {
                        section: path.clone(),
                        value: binary(section::partial(decoded, *partial)),
                    },
                    _ => continue,
                }
            }
            N::Binary { .. } | N::BinarySize { .. } => continue,
        };
        out.push(item);
    }
    if with_flags && !wants.names.contains(&N::Flags) {
        out.push(MessageDataItem::Flags(fetch_flags(
            meta.flags,
            &meta.keywords,
            recent,
        )));
    }
    Ok(out)
}

/// Writes `* n FETCH (names)` for each of `uids` (messages of the selected mailbox), reading
/// without setting `\Seen`: what NOTIFY's `MessageNew (attributes)` sends for new mail
/// (RFC 5465 §5.2). A message gone meanwhile is left out.
pub(super) async fn announce<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Session<S>,
    uids: &[u32],
    names: Vec<MessageDataItemName<'static>>,
) -> Result<(), tern_store::StoreError> {
    let Some(mailbox) = s.selected.as_ref().map(|sel| sel.mailbox.id) else {
        return Ok(());
    };
    let wants = wants(names, true);
    let db = s.ctx.dir.db().clone();
    for &uid in uids {
        let with_summary = wants.summary;
        let read = db
            .run(|tx| async move {
                let Some(meta) = message::get(&tx, mailbox, uid).await? else {
                    return Ok(None);
                };
                let summary = match with_summary {
                    true => message::summary(&tx, meta.blob).await?,
                    false => None,
                };
                Ok(Some((meta, summary)))
            })
            .await?;
        let Some((meta, summary)) = read else {
            continue;
        };
        let raw = match wants.body || (wants.summary && summary.is_none()) {
            true => Some(blob::read(&db, meta.blob).await?),
            false => None,
        };
        let summary =
            summary.or_else(|| raw.as_deref().filter(|_| wants.summary).map(Summary::parse));
        let Some(sel) = s.selected.as_ref() else {
            break;
        };
        let Some(seq) = sel.seq_of(uid) else { continue };
        let recent = sel.is_recent(uid);
        let Ok(list) = items(
            &meta,
            summary.as_ref(),
            raw.as_deref(),
            &wants,
            false,
            recent,
        ) else {
            continue;
        };
        if let Ok(list) = Vec1::try_from(list) {
            response::fetch_with_origins(s.conn.out(), nz(seq), list, &[]);
        }
    }
    Ok(())
}

/// Handles `FETCH` and `UID FETCH`.
pub async fn handle_fetch<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Session<S>,
    tag: Tag<'static>,
    set: SequenceSet,
    names: MacroOrMessageDataItemNames<'static>,
    by_uid: bool,
    modifiers: Vec<FetchModifier>,
) -> Flow {
    let Some((uids, positions)) = s.named_messages(&tag, &set, by_uid, false) else {
        return Flow::Continue;
    };
    let sel = s
        .selected
        .as_ref()
        .expect("named_messages checked the selection");
    let mailbox = sel.mailbox.id;
    let read_only = sel.read_only;
    let mut names: Vec<MessageDataItemName<'static>> = match names {
        MacroOrMessageDataItemNames::Macro(m) => m
            .expand()
            .into_iter()
            .map(tern_proto::imap::types::IntoStatic::into_static)
            .collect(),
        MacroOrMessageDataItemNames::MessageDataItemNames(v) => v,
    };
    let mut changed_since = None;
    let mut vanished = false;
    for m in modifiers {
        match m {
            FetchModifier::ChangedSince(n) => changed_since = Some(n.get()),
            FetchModifier::Vanished => vanished = true,
        }
    }
    if vanished && !(by_uid && s.reporting.qresync && changed_since.is_some()) {
        return s.bad(
            &tag,
            None,
            "VANISHED needs UID FETCH, CHANGEDSINCE and ENABLE QRESYNC",
        );
    }
    if by_uid && !names.contains(&MessageDataItemName::Uid) {
        names.insert(0, MessageDataItemName::Uid);
    }
    if changed_since.is_some() && !names.contains(&MessageDataItemName::ModSeq) {
        names.push(MessageDataItemName::ModSeq);
    }
    if names.contains(&MessageDataItemName::ModSeq) {
        super::enable::condstore(s);
    }
    let wants = wants(names, read_only);
    // A partial BINARY is answered with its origin (RFC 3516 §4.2).
    let origins: Vec<(Vec<NonZeroU32>, u32)> = wants
        .names
        .iter()
        .filter_map(|n| match n {
            MessageDataItemName::Binary {
                section,
                partial: Some((origin, _)),
                ..
            } => Some((section.clone(), *origin)),
            _ => None,
        })
        .collect();
    let db = s.ctx.dir.db().clone();
    if let (true, Some(since)) = (vanished, changed_since) {
        match db
            .run(|tx| async move { message::expunged_since(&tx, mailbox, since).await })
            .await
        {
            Ok(mut gone) => {
                gone.sort_unstable();
                let named: Vec<u32> = resolve(&set, &gone, true)
                    .iter()
                    .map(|i| gone[*i])
                    .collect();
                if let Some(set) = to_set(&named) {
                    s.data(Data::Vanished {
                        earlier: true,
                        known_uids: set,
                    });
                }
            }
            Err(e) => return s.fail(&tag, e.into()),
        }
    }
    let _permit = match (&s.selected, wants.marks_seen) {
        (Some(sel), true) => Some(sel.sub.writing().await),
        _ => None,
    };
    let mut marked_seen = 0usize;
    let mut unknown_cte = false;
    let mut gone = 0;
    // Records only (flags, UID, MODSEQ, size, date): from the mailbox's index when current.
    let published = s
        .selected
        .as_ref()
        .and_then(|sel| sel.sub.rx.borrow().index.clone());
    let index = match published {
        Some(published) if !wants.summary && !wants.body && !wants.marks_seen => {
            match index::current(&db, mailbox, Some(published)).await {
                Ok(index) => index,
                Err(e) => return s.fail(&tag, e.into()),
            }
        }
        _ => None,
    };
    for chunk in positions.chunks(BATCH) {
        let batch: Vec<u32> = chunk.iter().map(|i| uids[*i]).collect();
        let batch = &batch;
        let with_summary = wants.summary;
        let marks_seen = wants.marks_seen;
        let read = match &index {
            Some(index) => Ok(batch
                .iter()
                .filter_map(|uid| index.get(*uid))
                .filter(|m| changed_since.is_none_or(|n| m.modseq > n))
                .map(|m| (m.clone(), None, false))
                .collect()),
            None => {
                db.run(|tx| async move {
                    let mut out = Vec::with_capacity(batch.len());
                    for &uid in batch {
                        let Some(mut meta) = message::get(&tx, mailbox, uid).await? else {
                            continue;
                        };
                        if changed_since.is_some_and(|n| meta.modseq <= n) {
                            continue;
                        }
                        let mut newly_seen = false;
                        if marks_seen && !meta.flags.contains(Flags::SEEN) {
                            let flags = meta.flags.union(Flags::SEEN);
                            if let Some(m) =
                                message::set_flags(&tx, mailbox, uid, flags, meta.keywords.clone())
                                    .await?
                            {
                                meta = m;
                                newly_seen = true;
                            }
                        }
                        let summary = if with_summary {
                            message::summary(&tx, meta.blob).await?
                        } else {
                            None
                        };
                        out.push((meta, summary, newly_seen));
                    }
                    Ok(out)
                })
                .await
            }
        };
        let read: Vec<_> = match read {
            Ok(r) => r,
            Err(e) => return s.fail(&tag, e.into()),
        };
        // Without CHANGEDSINCE only a record that is gone is left out: a message expunged by
        // another session that this one has not been told of yet.
        if changed_since.is_none() {
            gone += batch.len() - read.len();
        }
        for (meta, summary, newly_seen) in read {
            let raw = if wants.body || (wants.summary && summary.is_none()) {
                match blob::read(&db, meta.blob).await {
                    Ok(b) => Some(b),
                    Err(e) => {
                        tracing::warn!(session = %s.id, uid = meta.uid, error = %e, "message body unreadable");
                        continue;
                    }
                }
            } else {
                None
            };
            let summary = match (summary, &raw) {
                (Some(sm), _) => Some(sm),
                (None, Some(r)) if wants.summary => Some(Summary::parse(r)),
                _ => None,
            };
            if newly_seen {
                marked_seen += 1;
                if let Some(sel) = s.selected.as_mut() {
                    sel.note(&meta);
                }
            }
            let Some(sel) = s.selected.as_ref() else {
                continue;
            };
            let Some(seq) = sel.seq_of(meta.uid) else {
                continue;
            };
            let recent = sel.is_recent(meta.uid);
            let list = match items(
                &meta,
                summary.as_ref(),
                raw.as_deref(),
                &wants,
                newly_seen,
                recent,
            ) {
                Ok(l) => l,
                Err(ItemError::UnknownCte) => {
                    unknown_cte = true;
                    continue;
                }
            };
            if let Ok(list) = Vec1::try_from(list) {
                let seq = NonZeroU32::new(seq).unwrap_or(NonZeroU32::MIN);
                response::fetch_with_origins(s.conn.out(), seq, list, &origins);
            }
            if s.conn.out().len() > FLUSH_AT && s.conn.flush().await.is_err() {
                return Flow::Close;
            }
        }
    }
    if marked_seen > 0
        && let Some(sel) = &s.selected
    {
        sel.sub.committed();
    }
    if unknown_cte {
        return s.no(
            &tag,
            Some(Code::UnknownCte),
            "a part has a Content-Transfer-Encoding this server cannot decode for BINARY",
        );
    }
    if gone > 0 {
        // RFC 2180 §4.1.2, as Dovecot answers: the rest was sent, the expunge is told later.
        if let Err(e) = s.sync().await {
            return s.fail(&tag, e.into());
        }
        return s.no(
            &tag,
            None,
            &format!(
                "{gone} of the requested messages no longer exist (expunged in another session)"
            ),
        );
    }
    s.done(&tag, None, "FETCH completed").await
}
