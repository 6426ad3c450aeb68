//! GETQUOTA and GETQUOTAROOT (RFC 9208): one quota root per account, named "", with STORAGE
//! (in KiB) and MESSAGE when the account has limits.

use tern_proto::imap::{
    response::Extra,
    types::{
        core::{AString, Tag, Vec1},
        extensions::quota::{QuotaGet, Resource},
        mailbox::Mailbox,
        response::Data,
    },
};
use tokio::io::{AsyncRead, AsyncWrite};

use super::session::{Flow, Missing, Session};

fn root() -> AString<'static> {
    AString::try_from("").expect("empty string is valid")
}

async fn write_quota<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Session<S>,
) -> Result<(), tern_store::model::ModelError> {
    let account = s.fresh_account().await?;
    let usage = s.ctx.dir.usage(account.id).await?;
    let mut quotas = Vec::new();
    if let Some(q) = account.quota_bytes {
        quotas.push(QuotaGet::new(
            Resource::Storage,
            usage.bytes.max(0) as u64 / 1024,
            q / 1024,
        ));
    }
    if let Some(q) = account.quota_messages {
        quotas.push(QuotaGet::new(
            Resource::Message,
            usage.messages.max(0) as u64,
            q,
        ));
    }
    if let Ok(quotas) = Vec1::try_from(quotas) {
        s.data(Data::Quota {
            root: root(),
            quotas,
        });
    }
    Ok(())
}

/// Handles `GETQUOTA root`.
pub async fn handle_getquota<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Session<S>,
    tag: Tag<'static>,
    name: AString<'static>,
) -> Flow {
    if !AsRef::<[u8]>::as_ref(&name).is_empty() {
        return s.no(
            &tag,
            Some(Extra::Nonexistent.code()),
            "the only quota root is \"\"",
        );
    }
    match write_quota(s).await {
        Ok(()) => s.ok(&tag, None, "GETQUOTA completed"),
        Err(e) => s.fail(&tag, e),
    }
}

/// Handles `GETQUOTAROOT mailbox`.
pub async fn handle_getquotaroot<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Session<S>,
    tag: Tag<'static>,
    name: Mailbox<'static>,
) -> Flow {
    let name = match s.name_in(&tag, &name) {
        Ok(n) => n,
        Err(flow) => return flow,
    };
    if s.mailbox_named(&tag, &name, Missing::Nonexistent)
        .await
        .is_none()
    {
        return Flow::Continue;
    }
    s.data(Data::QuotaRoot {
        mailbox: s.name_out(&name),
        roots: vec![root()],
    });
    match write_quota(s).await {
        Ok(()) => s.ok(&tag, None, "GETQUOTAROOT completed"),
        Err(e) => s.fail(&tag, e),
    }
}
