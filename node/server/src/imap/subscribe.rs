//! SUBSCRIBE and UNSUBSCRIBE: the subscription flag LSUB (and LIST's \Subscribed) report.

use tern_proto::imap::types::{core::Tag, mailbox::Mailbox};
use tokio::io::{AsyncRead, AsyncWrite};

use super::session::{Flow, Session};

/// Handles `SUBSCRIBE name` (`on`) and `UNSUBSCRIBE name`.
pub async fn handle_subscribe<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Session<S>,
    tag: Tag<'static>,
    name: Mailbox<'static>,
    on: bool,
) -> Flow {
    let account = s.account().id;
    let name = match s.name_in(&tag, &name) {
        Ok(n) => n,
        Err(flow) => return flow,
    };
    match s.ctx.dir.set_subscribed(account, &name, on).await {
        Ok(()) => s.ok(
            &tag,
            None,
            if on {
                "SUBSCRIBE completed"
            } else {
                "UNSUBSCRIBE completed"
            },
        ),
        Err(e) => s.fail(&tag, e),
    }
}
