//! LOGIN, and the credential check AUTHENTICATE shares (through [`crate::password_check`]): by
//! full address always, by local part when it is unique across domains; failures are answered
//! after a growing delay and too many close the session.

use tern_proto::{
    Secret,
    imap::{
        response::Extra,
        types::{
            core::{AString, Tag},
            secret::Secret as ImapSecret,
        },
    },
};
use tokio::io::{AsyncRead, AsyncWrite};

use super::{
    capability,
    session::{Flow, Session},
};
use crate::password_check::{self, FULL_ADDRESS_HINT};

/// Handles `LOGIN user password`.
pub async fn handle_login<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Session<S>,
    tag: Tag<'static>,
    user: AString<'static>,
    password: ImapSecret<AString<'static>>,
) -> Flow {
    if !s.plaintext_allowed() {
        return s.no(
            &tag,
            Some(Extra::PrivacyRequired.code()),
            "LOGIN needs TLS: use STARTTLS first or port 993",
        );
    }
    let user = String::from_utf8_lossy(user.as_ref()).into_owned();
    let password = String::from_utf8_lossy(password.declassify().as_ref()).into_owned();
    check(s, &tag, &user, Secret::new(password)).await
}

/// Checks credentials and logs in, answering `tag`.
pub async fn check<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Session<S>,
    tag: &Tag<'static>,
    login: &str,
    secret: Secret<String>,
) -> Flow {
    let outcome = match password_check::check(&s.ctx.dir, s.peer.ip(), login, secret).await {
        Ok(o) => o,
        Err(e) => return s.fail(tag, e),
    };
    if let password_check::Outcome::Banned(why) = &outcome {
        tracing::info!(session = %s.id, login, reason = %why, "IMAP login refused: banned");
        tern_proto::imap::response::bye(s.conn.out(), None, why);
        return Flow::Close;
    }
    let account = outcome.account();
    let Some(account) = account else {
        s.auth_failures += 1;
        tracing::info!(session = %s.id, login, failures = s.auth_failures, "IMAP login failed");
        tokio::time::sleep(s.ctx.config.auth_failure_delay * s.auth_failures).await;
        let text = if login.contains('@') {
            "invalid user name or password".to_string()
        } else {
            format!("invalid user name or password; {FULL_ADDRESS_HINT}")
        };
        s.no(tag, Some(Extra::AuthenticationFailed.code()), &text);
        if s.auth_failures >= s.ctx.config.max_auth_failures {
            tern_proto::imap::response::bye(s.conn.out(), None, "too many failed logins");
            return Flow::Close;
        }
        return Flow::Continue;
    };
    tracing::info!(session = %s.id, account = %account.address, "IMAP login");
    if !account.utf8_names {
        match s.ctx.dir.convert_names(account.id).await {
            Ok(0) => {}
            Ok(renamed) => {
                tracing::info!(session = %s.id, account = %account.address, renamed, "mailbox names converted to UTF-8");
            }
            Err(e) => return s.fail(tag, e),
        }
    }
    s.logged_in(account);
    let caps = capability::code(s);
    s.ok(tag, Some(caps), "logged in")
}
