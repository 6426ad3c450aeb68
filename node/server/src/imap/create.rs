//! CREATE: a new mailbox (and its missing parents), if the account may create mailboxes.

use tern_proto::imap::{
    response::Extra,
    types::{core::Tag, mailbox::Mailbox},
};
use tern_store::model::ModelError;
use tokio::io::{AsyncRead, AsyncWrite};

use super::{
    convert::mailbox_name,
    session::{Flow, Session},
};

/// Handles `CREATE name`.
pub async fn handle_create<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Session<S>,
    tag: Tag<'static>,
    name: Mailbox<'static>,
) -> Flow {
    let account = match s.fresh_account().await {
        Ok(a) => a,
        Err(e) => return s.fail(&tag, e),
    };
    if !account.may_create_mailboxes {
        return s.no(
            &tag,
            Some(Extra::NoPerm.code()),
            "creating mailboxes is disabled for this account (account setting may_create_mailboxes)",
        );
    }
    let name = mailbox_name(&name);
    let name = name.trim_end_matches('/');
    if name.eq_ignore_ascii_case("INBOX") {
        return s.no(
            &tag,
            Some(Extra::AlreadyExists.code()),
            "INBOX always exists",
        );
    }
    let max = s.ctx.config.max_mailboxes;
    match s.ctx.dir.mailboxes(account.id).await {
        Ok(all) if all.len() >= max => {
            return s.no(
                &tag,
                Some(Extra::Limit.code()),
                &format!("an account has at most {max} mailboxes (imap.max_mailboxes)"),
            );
        }
        Ok(_) => {}
        Err(e) => return s.fail(&tag, e),
    }
    let parts: Vec<&str> = name.split('/').collect();
    for depth in 1..parts.len() {
        let parent = parts[..depth].join("/");
        match s.ctx.dir.create_mailbox(account.id, &parent).await {
            Ok(_) | Err(ModelError::AlreadyExists(_)) => {}
            Err(e) => return s.fail(&tag, e),
        }
    }
    match s.ctx.dir.create_mailbox(account.id, name).await {
        Ok(m) => {
            tracing::info!(session = %s.id, mailbox = %m.name, "IMAP mailbox created");
            s.ok(&tag, None, "CREATE completed")
        }
        Err(e) => s.fail(&tag, e),
    }
}
