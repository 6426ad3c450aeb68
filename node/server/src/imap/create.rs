//! CREATE: a new mailbox (and its missing parents), if the account may create mailboxes;
//! with `USE (\Sent)` it gets that role (CREATE-SPECIAL-USE, RFC 6154).

use tern_proto::imap::{
    response::Extra,
    types::{core::Tag, mailbox::Mailbox},
};
use tern_store::model::{ModelError, SpecialUse};
use tokio::io::{AsyncRead, AsyncWrite};

use super::session::{Flow, Session};

/// The role a special-use attribute names (the roles Tern keeps).
fn role(attribute: &str) -> Option<SpecialUse> {
    Some(match attribute.to_ascii_lowercase().as_str() {
        "\\sent" => SpecialUse::Sent,
        "\\drafts" => SpecialUse::Drafts,
        "\\trash" => SpecialUse::Trash,
        "\\junk" => SpecialUse::Junk,
        "\\archive" => SpecialUse::Archive,
        _ => return None,
    })
}

/// Handles `CREATE name` and `CREATE name (USE (attributes))`.
pub async fn handle_create<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Session<S>,
    tag: Tag<'static>,
    name: Mailbox<'static>,
    uses: Option<Vec<String>>,
) -> Flow {
    let role = match uses.as_deref() {
        None | Some([]) => None,
        Some([one]) => match role(one) {
            Some(r) => Some(r),
            None => {
                return s.no(
                    &tag,
                    Some(Extra::UseAttr.code()),
                    &format!("{one} is not a special use offered here (\\Sent, \\Drafts, \\Trash, \\Junk, \\Archive); nothing was created"),
                );
            }
        },
        Some(_) => {
            return s.no(
                &tag,
                Some(Extra::UseAttr.code()),
                "a mailbox has one special use here; nothing was created",
            );
        }
    };
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
    let name = match s.name_in(&tag, &name) {
        Ok(n) => n,
        Err(flow) => return flow,
    };
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
    match s.ctx.dir.create_mailbox_as(account.id, name, role).await {
        Ok(m) => {
            tracing::info!(session = %s.id, mailbox = %m.name, "IMAP mailbox created");
            s.ok(&tag, None, "CREATE completed")
        }
        Err(e) => s.fail(&tag, e),
    }
}
