//! APPEND, MULTIAPPEND (RFC 3502) and CATENATE (RFC 4469, built in `catenate.rs`): stores one
//! or more messages in a mailbox with their flags and internal dates, all in one transaction
//! (all or none), after the quota check (`[OVERQUOTA]`), and answers with APPENDUID (UIDPLUS)
//! only after the commit.

use tern_proto::imap::{
    response::Extra,
    sequence::to_uid_set,
    types::{
        command::{Command, CommandBody},
        core::Tag,
        datetime::DateTime,
        extensions::binary::LiteralOrLiteral8,
        flag::Flag,
        mailbox::Mailbox,
        response::Code,
    },
};
use tern_store::{
    blob::{self, Staged},
    model::{
        Summary,
        message::{self, Flags, NewMessage},
        now,
        summary::MAX_MIME_DEPTH,
    },
};
use tokio::io::{AsyncRead, AsyncWrite};

use super::{
    convert::{MAX_KEYWORDS, nz, split_flags},
    filing::{FilingError, check_quota},
    session::{Flow, Missing, Session},
};

/// One message of an APPEND.
struct Part {
    flags: Flags,
    keywords: Vec<String>,
    date: i64,
    body: Vec<u8>,
}

fn part(
    flags: &[Flag<'_>],
    date: Option<&DateTime>,
    message: &LiteralOrLiteral8<'_>,
) -> Option<Part> {
    let (flags, keywords) = split_flags(flags)?;
    let body = match message {
        LiteralOrLiteral8::Literal(l) => l.data().to_vec(),
        LiteralOrLiteral8::Literal8(l) => l.data.to_vec(),
    };
    Some(Part {
        flags,
        keywords,
        date: date.map(|d| d.as_ref().timestamp()).unwrap_or_else(now),
        body,
    })
}

/// Handles `APPEND name [flags] [date] literal` and its MULTIAPPEND continuation (`more`).
pub async fn handle_append<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Session<S>,
    tag: Tag<'static>,
    name: Mailbox<'static>,
    first: (
        Vec<Flag<'static>>,
        Option<DateTime>,
        LiteralOrLiteral8<'static>,
    ),
    more: Vec<Command<'static>>,
    catenate: Option<Vec<tern_proto::imap::catenate::Part>>,
) -> Flow {
    let account = s.account().clone();
    let name = match s.name_in(&tag, &name) {
        Ok(n) => n,
        Err(flow) => return flow,
    };
    let mut catenated = match catenate {
        Some(parts) => match s.catenate(&tag, parts).await {
            Ok(bytes) => Some(bytes),
            Err(flow) => return flow,
        },
        None => None,
    };
    let mut parts = Vec::with_capacity(1 + more.len());
    let mut all = vec![first];
    for c in more {
        if let CommandBody::Append {
            flags,
            date,
            message,
            ..
        } = c.body
        {
            all.push((flags, date, message));
        }
    }
    for (flags, date, message) in &all {
        let Some(mut p) = part(flags, date.as_ref(), message) else {
            return s.bad(
                &tag,
                None,
                "only \\Seen \\Answered \\Flagged \\Deleted \\Draft and keywords can be set",
            );
        };
        if let Some(body) = catenated.take() {
            p.body = body;
        }
        if p.keywords.len() > MAX_KEYWORDS {
            return s.no(
                &tag,
                Some(Extra::Limit.code()),
                &format!("a message carries at most {MAX_KEYWORDS} keywords"),
            );
        }
        if p.body.is_empty() {
            return s.no(
                &tag,
                Some(Extra::Cannot.code()),
                "an empty message cannot be appended",
            );
        }
        parts.push(p);
    }
    let Some(target) = s.mailbox_named(&tag, &name, Missing::TryCreate).await else {
        return Flow::Continue;
    };
    if let Err(why) = s.ctx.headroom.check("imap") {
        tracing::info!(session = %s.id, shortage = %why, "APPEND refused: low on storage");
        return s.no(&tag, Some(Code::OverQuota), super::session::NO_SPACE);
    }
    let db = s.ctx.dir.db().clone();
    let mut summaries: Vec<Summary> = Vec::with_capacity(parts.len());
    for p in &parts {
        let summary = crate::delivery::summarize(&p.body).await;
        if summary.too_deep() {
            return s.no(
                &tag,
                Some(Extra::Limit.code()),
                &format!(
                    "the message nests MIME parts {} levels deep; at most {MAX_MIME_DEPTH} are accepted",
                    summary.depth
                ),
            );
        }
        summaries.push(summary);
    }
    let mut staged: Vec<Staged<'_>> = Vec::with_capacity(parts.len());
    for p in &parts {
        match blob::stage(&db, &p.body).await {
            Ok(st) => staged.push(st),
            Err(e) => return s.fail(&tag, e.into()),
        }
    }
    let total: u64 = parts.iter().map(|p| p.body.len() as u64).sum();
    let (staged, summaries, parts_ref) = (&staged, &summaries, &parts);
    let (account_id, target_id) = (account.id, target.id);
    let permit = s.ctx.hub.writing(target_id).await;
    let result = db
        .transact(|tx| async move {
            check_quota(&tx, account_id, total).await?;
            let mut uids = Vec::with_capacity(parts_ref.len());
            for ((p, st), summary) in parts_ref.iter().zip(staged).zip(summaries) {
                let new = NewMessage {
                    body: st,
                    summary: Some(summary),
                    flags: p.flags,
                    keywords: p.keywords.clone(),
                    internal_date: p.date,
                };
                uids.push(message::append(&tx, account_id, target_id, &new).await?.uid);
            }
            Ok(uids)
        })
        .await;
    drop(permit);
    match result {
        Ok(uids) => {
            for (st, summary) in staged.iter().zip(summaries) {
                s.ctx.envelopes.remember(st.id, summary.envelope.clone());
            }
            s.ctx.hub.poke(target_id).await;
            tracing::info!(session = %s.id, mailbox = %name, messages = uids.len(), bytes = total, "IMAP append");
            let code = match (uids.as_slice(), to_uid_set(&uids)) {
                ([uid], _) => Some(Code::AppendUid {
                    uid_validity: nz(target.uidvalidity),
                    uid: nz(*uid),
                }),
                (_, Some(set)) => Some(Code::Other(
                    tern_proto::imap::types::response::CodeOther::unvalidated(
                        format!("APPENDUID {} {}", target.uidvalidity, uid_set_text(&set))
                            .into_bytes(),
                    ),
                )),
                _ => None,
            };
            s.done(&tag, code, "APPEND completed").await
        }
        Err(FilingError::OverQuota) => s.no(
            &tag,
            Some(Code::OverQuota),
            &format!(
                "the message ({total} bytes) would put {} over its quota",
                account.address
            ),
        ),
        Err(FilingError::Model(e)) => s.fail(&tag, e),
    }
}

fn uid_set_text(set: &tern_proto::imap::types::extensions::uidplus::UidSet) -> String {
    use tern_proto::imap::types::extensions::uidplus::UidElement;
    set.0
        .as_ref()
        .iter()
        .map(|e| match e {
            UidElement::Single(a) => a.to_string(),
            UidElement::Range(a, b) => format!("{a}:{b}"),
        })
        .collect::<Vec<_>>()
        .join(",")
}
