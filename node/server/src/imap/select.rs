//! SELECT and EXAMINE (with CONDSTORE and QRESYNC parameters).
//! Selecting joins the mailbox's actor; a QRESYNC select reports what vanished and what
//! changed since the client's MODSEQ, so a client resyncs without fetching everything.

use std::num::{NonZeroU32, NonZeroU64};

use tern_proto::imap::{
    response::Extra,
    sequence::{resolve, to_set},
    types::{
        command::SelectParameter,
        core::{Tag, Vec1},
        fetch::MessageDataItem,
        mailbox::Mailbox,
        response::{Code, Data, StatusKind},
    },
};
use tern_store::model::message;
use tokio::io::{AsyncRead, AsyncWrite};

use super::{
    convert::{fetch_flags, nz},
    selected::Selected,
    session::{Flow, Missing, Session},
};

/// Handles `SELECT` (`read_only` false) and `EXAMINE` (true).
pub async fn handle_select<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Session<S>,
    tag: Tag<'static>,
    name: Mailbox<'static>,
    params: Vec<SelectParameter>,
    read_only: bool,
) -> Flow {
    if s.selected.take().is_some() {
        s.reply(
            None,
            StatusKind::Ok,
            Some(Code::Closed),
            "previous mailbox closed",
        );
    }
    let name = match s.name_in(&tag, &name) {
        Ok(n) => n,
        Err(flow) => return flow,
    };
    let Some(mailbox) = s.mailbox_named(&tag, &name, Missing::Nonexistent).await else {
        return Flow::Continue;
    };
    let mut qresync = None;
    for p in params {
        match p {
            SelectParameter::CondStore => s.reporting.condstore = true,
            SelectParameter::QResync {
                uid_validity,
                mod_sequence_value,
                known_uids,
                ..
            } => {
                if !s.reporting.qresync {
                    return s.bad(&tag, None, "QRESYNC parameter without ENABLE QRESYNC");
                }
                qresync = Some((uid_validity, mod_sequence_value, known_uids));
            }
        }
    }
    // An IMAP4rev2 session has no `\Recent` (RFC 9051): it takes none, leaving them to
    // IMAP4rev1 sessions.
    let claims = !read_only && !s.reporting.rev2;
    let sub = match s.ctx.hub.join(mailbox.id, claims).await {
        Ok(sub) => sub,
        Err(e) => {
            tracing::error!(session = %s.id, error = %e, "cannot join a mailbox actor");
            return s.no(
                &tag,
                Some(Extra::ServerBug.code()),
                "cannot open the mailbox now",
            );
        }
    };
    let db = s.ctx.dir.db().clone();
    let sel = match Selected::open(&db, mailbox, read_only, claims, sub).await {
        Ok(sel) => sel,
        Err(e) => return s.fail(&tag, e.into()),
    };
    let (uidvalidity, uidnext) = (sel.mailbox.uidvalidity, sel.uidnext);
    sel.write_flags(s.conn.out());
    s.data(Data::Exists(sel.uids.len() as u32));
    if !s.reporting.rev2 {
        s.data(Data::Recent(sel.recent_count()));
    }
    if let Some(n) = sel.first_unseen {
        s.reply(
            None,
            StatusKind::Ok,
            Some(Code::Unseen(nz(n))),
            "first unseen",
        );
    }
    s.reply(
        None,
        StatusKind::Ok,
        Some(Code::UidValidity(nz(uidvalidity))),
        "UIDs valid",
    );
    s.reply(
        None,
        StatusKind::Ok,
        Some(Code::UidNext(nz(uidnext))),
        "predicted next UID",
    );
    s.reply(
        None,
        StatusKind::Ok,
        Some(Code::HighestModSeq(
            NonZeroU64::new(sel.modseq).unwrap_or(NonZeroU64::MIN),
        )),
        "highest MODSEQ",
    );
    let id = sel.mailbox.id;
    let uids = sel.uids();
    s.selected = Some(sel);
    if let Some((validity, since, known)) = qresync
        && validity.get() == uidvalidity
    {
        let since = since.get();
        let changes = db
            .run(|tx| async move {
                let vanished = message::expunged_since(&tx, id, since).await?;
                let changed = message::changed_since(&tx, id, since).await?;
                Ok((vanished, changed))
            })
            .await;
        let (mut vanished, changed) = match changes {
            Ok(c) => c,
            Err(e) => return s.fail(&tag, e.into()),
        };
        if let Some(known) = known {
            let mut all = vanished.clone();
            all.sort_unstable();
            let named: Vec<u32> = resolve(&known, &all, true)
                .iter()
                .map(|i| all[*i])
                .collect();
            vanished = named;
        }
        if let Some(set) = to_set(&vanished) {
            s.data(Data::Vanished {
                earlier: true,
                known_uids: set,
            });
        }
        for m in changed {
            let Ok(i) = uids.binary_search(&m.uid) else {
                continue;
            };
            let items = vec![
                MessageDataItem::Uid(nz(m.uid)),
                MessageDataItem::Flags(fetch_flags(
                    m.flags,
                    &m.keywords,
                    s.selected.as_ref().is_some_and(|sel| sel.is_recent(m.uid)),
                )),
                MessageDataItem::ModSeq(NonZeroU64::new(m.modseq).unwrap_or(NonZeroU64::MIN)),
            ];
            s.data(Data::Fetch {
                seq: NonZeroU32::new(i as u32 + 1).unwrap_or(NonZeroU32::MIN),
                items: Vec1::try_from(items).expect("non-empty"),
            });
        }
    }
    let (code, verb) = if read_only {
        (Code::ReadOnly, "EXAMINE")
    } else {
        (Code::ReadWrite, "SELECT")
    };
    s.ok(&tag, Some(code), &format!("{verb} completed"))
}
