//! APPEND: stores a message in a mailbox with flags and an internal date, after the quota
//! check (`[OVERQUOTA]`), and answers with APPENDUID (UIDPLUS) only after the commit.

use tern_proto::imap::{
    response::Extra,
    types::{
        core::Tag, datetime::DateTime, extensions::binary::LiteralOrLiteral8, flag::Flag,
        mailbox::Mailbox, response::Code,
    },
};
use tern_store::{
    blob,
    model::{
        ModelError, Summary, account,
        message::{self, NewMessage},
        now,
    },
};
use tokio::io::{AsyncRead, AsyncWrite};

use super::{
    convert::{mailbox_name, nz, split_flags},
    session::{Flow, Session},
};
use crate::delivery::exceeds;

/// Why an append did not happen.
enum AppendError {
    OverQuota,
    Model(ModelError),
}

impl From<tern_store::StoreError> for AppendError {
    fn from(e: tern_store::StoreError) -> Self {
        AppendError::Model(e.into())
    }
}

impl tern_store::TxError for AppendError {
    fn as_store(&self) -> Option<&tern_store::StoreError> {
        match self {
            AppendError::Model(ModelError::Store(e)) => Some(e),
            _ => None,
        }
    }
}

/// Handles `APPEND name [flags] [date] literal`.
pub async fn handle<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Session<S>,
    tag: Tag<'static>,
    name: Mailbox<'static>,
    flags: Vec<Flag<'static>>,
    date: Option<DateTime>,
    message: LiteralOrLiteral8<'static>,
) -> Flow {
    let account = s.account().clone();
    let name = mailbox_name(&name);
    let Some((flags, keywords)) = split_flags(&flags) else {
        return s.bad(
            &tag,
            None,
            "only \\Seen \\Answered \\Flagged \\Deleted \\Draft and keywords can be set",
        );
    };
    let body: Vec<u8> = match message {
        LiteralOrLiteral8::Literal(l) => l.data().to_vec(),
        LiteralOrLiteral8::Literal8(l) => l.data.into_owned(),
    };
    if body.is_empty() {
        return s.no(
            &tag,
            Some(Extra::Cannot.code()),
            "an empty message cannot be appended",
        );
    }
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
    let internal_date = date.map(|d| d.as_ref().timestamp()).unwrap_or_else(now);
    let summary = Summary::parse(&body);
    let db = s.ctx.dir.db().clone();
    let staged = match blob::stage(&db, &body).await {
        Ok(st) => st,
        Err(e) => return s.fail(&tag, e.into()),
    };
    let (staged, summary, target_id, keywords) = (&staged, &summary, target.id, &keywords);
    let account_id = account.id;
    let result = db
        .transact(|tx| async move {
            let acct = account::get(&tx, account_id)
                .await?
                .ok_or_else(|| AppendError::Model(ModelError::NotFound("account".into())))?;
            let usage = account::usage(&tx, account_id).await?;
            if exceeds(&acct, usage, staged.size) {
                return Err(AppendError::OverQuota);
            }
            let new = NewMessage {
                body: staged,
                summary: Some(summary),
                flags,
                keywords: keywords.clone(),
                internal_date,
            };
            let meta = message::append(&tx, account_id, target_id, &new).await?;
            Ok(meta.uid)
        })
        .await;
    match result {
        Ok(uid) => {
            s.ctx.hub.poke(target_id).await;
            tracing::info!(session = %s.id, mailbox = %name, uid, bytes = body.len(), "IMAP append");
            let code = Code::AppendUid {
                uid_validity: nz(target.uidvalidity),
                uid: nz(uid),
            };
            s.done(&tag, Some(code), "APPEND completed").await
        }
        Err(AppendError::OverQuota) => s.no(
            &tag,
            Some(Code::OverQuota),
            &format!(
                "the message ({} bytes) would put {} over its quota",
                body.len(),
                account.address
            ),
        ),
        Err(AppendError::Model(e)) => s.fail(&tag, e),
    }
}
