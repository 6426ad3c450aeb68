//! RCPT TO: resolves the recipient (aliases, forwards and catch-all first; the bare `postmaster`
//! to the postmaster address), refuses relaying for unauthenticated clients, unknown local
//! users, full mailboxes and too many recipients, and asks the policy checks.

use smtp_proto::{
    RCPT_NOTIFY_DELAY, RCPT_NOTIFY_FAILURE, RCPT_NOTIFY_NEVER, RCPT_NOTIFY_SUCCESS, RcptTo,
};
use tern_proto::{Address, smtp::reply};
use tern_store::model::{queue::Notify, resolve::Recipient as Resolved};
use tokio::io::{AsyncRead, AsyncWrite};

use super::{
    metrics::METRICS,
    postmaster,
    session::{Flow, Recipient, Session},
};
use crate::policy::Stage;

/// Handles `RCPT TO:<address> [parameters]`.
pub async fn handle_rcpt<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Session<S>,
    to: RcptTo<String>,
) -> Flow {
    let Some(mail) = s.state.mail.as_ref() else {
        return s.refuse("RCPT", reply::bad_sequence("send MAIL before RCPT"));
    };
    let max = s.ctx.config.max_recipients;
    if mail.recipients.len() >= max {
        METRICS
            .messages
            .with_label_values(&["too_many_recipients"])
            .inc();
        s.reply(reply::too_many_recipients(max));
        return Flow::Continue;
    }
    let (smtputf8, declared) = (mail.smtputf8, mail.declared_size);
    let raw = to.address.trim().to_string();
    let parsed = if postmaster::is_bare(&raw) {
        match postmaster::address(
            &s.ctx.dir,
            s.ctx.config.postmaster.as_deref(),
            &s.ctx.hostname,
        )
        .await
        {
            Ok(Some(a)) => Ok(a),
            Ok(None) => {
                tracing::warn!(session = %s.id, "mail to the bare postmaster, but no domain is set up");
                return s.reject("RCPT", "unknown_user", reply::unknown_user(&raw));
            }
            Err(e) => {
                tracing::error!(session = %s.id, error = %e, "postmaster lookup failed");
                s.reply(reply::internal_error());
                return Flow::Continue;
            }
        }
    } else {
        Address::from_smtp(&raw)
    };
    let address = match parsed {
        Ok(a) => a,
        Err(e) => return s.refuse("RCPT", reply::bad_address(&e.to_string())),
    };
    if !smtputf8 && !raw.is_ascii() {
        return s.refuse("RCPT", reply::utf8_not_declared());
    }
    let resolved = match s.ctx.dir.resolve(&address).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(session = %s.id, error = %e, "recipient lookup failed");
            s.reply(reply::internal_error());
            return Flow::Continue;
        }
    };
    let (accounts, remote) = match resolved {
        Resolved::NotLocal if s.state.account.is_some() => {
            (Default::default(), [address.to_string()].into())
        }
        Resolved::NotLocal => {
            tracing::info!(session = %s.id, recipient = %raw, "relaying denied");
            return s.reject("RCPT", "relay_denied", reply::relay_denied(&raw));
        }
        Resolved::Unknown if postmaster::is_bare(&raw) => {
            tracing::warn!(session = %s.id, postmaster = %address, "mail to the bare postmaster: {address} does not exist; set server.postmaster or create it");
            return s.reject("RCPT", "unknown_user", reply::unknown_user(&raw));
        }
        Resolved::Unknown => return s.reject("RCPT", "unknown_user", reply::unknown_user(&raw)),
        Resolved::Local(r) => (r.accounts, r.remote),
    };
    match crate::delivery::over_quota(&s.ctx.dir, &accounts, declared as u64).await {
        Ok(false) => {}
        Ok(true) => {
            let r = if s.ctx.config.quota_permanent {
                reply::mailbox_full_permanent(&raw)
            } else {
                reply::mailbox_full_temporary(&raw)
            };
            return s.reject("RCPT", "quota", r);
        }
        Err(e) => {
            tracing::error!(session = %s.id, error = %e, "quota lookup failed");
            s.reply(reply::internal_error());
            return Flow::Continue;
        }
    }
    let mut notify = 0u8;
    for (flag, bit) in [
        (RCPT_NOTIFY_SUCCESS, Notify::SUCCESS),
        (RCPT_NOTIFY_FAILURE, Notify::FAILURE),
        (RCPT_NOTIFY_DELAY, Notify::DELAY),
        (RCPT_NOTIFY_NEVER, Notify::NEVER),
    ] {
        if to.flags & flag != 0 {
            notify |= bit;
        }
    }
    // smtp-proto hands ORCPT over without its address type; DSNs need `type;address`.
    let orcpt = to.orcpt.map(|o| {
        if o.contains(';') {
            o
        } else {
            format!("rfc822;{o}")
        }
    });
    let recipient = Recipient {
        address: address.to_string(),
        accounts,
        remote,
        orcpt,
        notify: Notify(notify),
    };
    if let Some(r) = s.policy(Stage::Rcpt, None, Some(&recipient.address)).await {
        return s.reject("RCPT", "policy", r);
    }
    if let Some(mail) = s.state.mail.as_mut() {
        mail.recipients.push(recipient);
    }
    s.reply(reply::recipient_ok());
    Flow::Continue
}
