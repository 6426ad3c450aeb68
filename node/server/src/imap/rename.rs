//! RENAME: renames a mailbox and every mailbox below it; renaming the INBOX is refused.

use tern_proto::imap::{
    response::Extra,
    types::{core::Tag, mailbox::Mailbox},
};
use tokio::io::{AsyncRead, AsyncWrite};

use super::session::{Flow, Session};

/// Handles `RENAME from to`.
pub async fn handle_rename<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Session<S>,
    tag: Tag<'static>,
    from: Mailbox<'static>,
    to: Mailbox<'static>,
) -> Flow {
    let account = s.account().id;
    let from = match s.name_in(&tag, &from) {
        Ok(n) => n,
        Err(flow) => return flow,
    };
    let to = match s.name_in(&tag, &to) {
        Ok(n) => n,
        Err(flow) => return flow,
    };
    if from == "INBOX" {
        return s.no(
            &tag,
            Some(Extra::Cannot.code()),
            "renaming INBOX is not supported; move its messages instead",
        );
    }
    let to = to.trim_end_matches('/').to_string();
    let children = match s.ctx.dir.mailboxes(account).await {
        Ok(all) => all
            .into_iter()
            .filter(|m| m.name.starts_with(&format!("{from}/")))
            .map(|m| m.name)
            .collect::<Vec<_>>(),
        Err(e) => return s.fail(&tag, e),
    };
    if let Err(e) = s.ctx.dir.rename_mailbox(account, &from, &to).await {
        return s.fail(&tag, e);
    }
    for child in children {
        let new = format!("{to}{}", &child[from.len()..]);
        if let Err(e) = s.ctx.dir.rename_mailbox(account, &child, &new).await {
            return s.fail(&tag, e);
        }
    }
    tracing::info!(session = %s.id, from = %from, to = %to, "IMAP mailbox renamed");
    s.ok(&tag, None, "RENAME completed")
}
