//! MAIL FROM: opens a transaction, checking order, authentication on submission listeners, the
//! declared size, the address, (for authenticated users) that they own the sender, and the
//! policy checks.

use smtp_proto::{MAIL_BODY_8BITMIME, MAIL_RET_FULL, MAIL_RET_HDRS, MAIL_SMTPUTF8, MailFrom};
use tern_proto::{Address, smtp::reply};
use tern_store::model::queue::Ret;
use tokio::io::{AsyncRead, AsyncWrite};

use super::session::{Flow, MailTransaction, Session};
use crate::{net::budget::Reservation, policy::Stage};

/// Handles `MAIL FROM:<address> [parameters]`.
pub async fn handle_mail<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Session<S>,
    from: MailFrom<String>,
) -> Flow {
    if s.state.helo.is_none() {
        return s.refuse("MAIL", reply::bad_sequence("send EHLO or HELO first"));
    }
    if s.state.mail.is_some() {
        return s.refuse("MAIL", reply::bad_sequence("nested MAIL command"));
    }
    if s.kind.requires_auth() && s.state.account.is_none() {
        return s.refuse("MAIL", reply::auth_required());
    }
    let max = s.ctx.config.max_message_bytes;
    if from.size > max {
        return s.reject("MAIL", "too_big", reply::message_too_big(max));
    }
    if let Err(why) = s.ctx.headroom.check("smtp") {
        tracing::info!(session = %s.id, shortage = %why, "MAIL refused: low on storage");
        return s.reject("MAIL", "storage", reply::insufficient_storage());
    }
    let smtputf8 = from.flags & MAIL_SMTPUTF8 != 0;
    let sender = from.address.trim().to_string();
    if !sender.is_empty() {
        let address = match Address::from_smtp(&sender) {
            Ok(a) => a,
            Err(e) => return s.refuse("MAIL", reply::bad_address(&e.to_string())),
        };
        if !smtputf8 && !sender.is_ascii() {
            return s.refuse("MAIL", reply::utf8_not_declared());
        }
        if let Some(account) = s.state.account.clone() {
            let exempt = s.ctx.config.allow_any_sender || account.may_send_as_any;
            if !exempt {
                match s.ctx.dir.may_send_as(&account, &address).await {
                    Ok(true) => {}
                    Ok(false) => {
                        tracing::info!(session = %s.id, account = %account.address, sender = %sender, "sender not owned");
                        return s.reject(
                            "MAIL",
                            "sender_not_owned",
                            reply::sender_not_owned(&sender),
                        );
                    }
                    Err(e) => {
                        tracing::error!(session = %s.id, error = %e, "sender check failed");
                        s.reply(reply::internal_error());
                        return Flow::Continue;
                    }
                }
            }
        }
    }
    if let Some(r) = s.policy(Stage::Mail, Some(&sender), None).await {
        return s.reject("MAIL", "policy", r);
    }
    let ret = if from.flags & MAIL_RET_FULL != 0 {
        Some(Ret::Full)
    } else if from.flags & MAIL_RET_HDRS != 0 {
        Some(Ret::Headers)
    } else {
        None
    };
    s.state.mail = Some(MailTransaction {
        from: sender,
        declared_size: from.size,
        ret,
        envid: from.env_id,
        smtputf8,
        body_8bit: from.flags & MAIL_BODY_8BITMIME != 0,
        memory: Some(Reservation::new(s.ctx.budget.clone())),
        marks: s.state.marks.clone(),
        ..MailTransaction::default()
    });
    s.reply(reply::sender_ok());
    Flow::Continue
}
