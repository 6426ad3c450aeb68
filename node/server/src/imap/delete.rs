//! DELETE: removes a mailbox and its messages; the INBOX and special-use mailboxes (Trash,
//! Sent, ...) stay, since clients rely on them.

use tern_proto::imap::{
    response::Extra,
    types::{core::Tag, mailbox::Mailbox},
};
use tokio::io::{AsyncRead, AsyncWrite};

use super::session::{Flow, Missing, Session};

/// Handles `DELETE name`.
pub async fn handle_delete<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Session<S>,
    tag: Tag<'static>,
    name: Mailbox<'static>,
) -> Flow {
    let account = s.account().id;
    let name = match s.name_in(&tag, &name) {
        Ok(n) => n,
        Err(flow) => return flow,
    };
    let Some(mailbox) = s.mailbox_named(&tag, &name, Missing::Nonexistent).await else {
        return Flow::Continue;
    };
    if let Some(role) = mailbox.special_use {
        return s.no(
            &tag,
            Some(Extra::Cannot.code()),
            &format!(
                "{} is the account's {role:?} mailbox and cannot be deleted",
                mailbox.name
            ),
        );
    }
    if s.selected
        .as_ref()
        .is_some_and(|sel| sel.mailbox.id == mailbox.id)
    {
        s.selected = None;
    }
    match s.ctx.dir.delete_mailbox(account, &name).await {
        Ok(()) => {
            tracing::info!(session = %s.id, mailbox = %name, "IMAP mailbox deleted");
            s.ok(&tag, None, "DELETE completed")
        }
        Err(e) => s.fail(&tag, e),
    }
}
