//! AUTH PLAIN and LOGIN (RFC 4954): refused before TLS unless configured otherwise, limited in
//! failures, with the password check (Argon2id) off the async threads.

use smtp_proto::{AUTH_LOGIN, AUTH_PLAIN};
use tern_proto::{
    Secret,
    smtp::{
        reply,
        sasl::{self, Credentials, SaslError},
    },
};
use tern_store::model::Directory;
use tokio::io::{AsyncRead, AsyncWrite};

use super::{
    metrics::METRICS,
    session::{Flow, ReadError, Session},
};

/// Handles `AUTH mechanism [initial-response]`.
pub async fn handle_auth<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Session<S>,
    mechanism: u64,
    initial: String,
) -> Flow {
    if s.state.account.is_some() {
        return s.refuse("AUTH", reply::already_authenticated());
    }
    if !s.auth_allowed() {
        return s.refuse("AUTH", reply::encryption_required());
    }
    if s.state.mail.is_some() {
        return s.refuse(
            "AUTH",
            reply::bad_sequence("AUTH is not allowed during a mail transaction"),
        );
    }
    let credentials = match mechanism {
        AUTH_PLAIN => plain(s, initial).await,
        AUTH_LOGIN => login(s, initial).await,
        _ => return s.refuse("AUTH", reply::auth_mechanism_unsupported()),
    };
    let credentials = match credentials {
        Ok(c) => c,
        Err(Step::Read(ReadError::Timeout)) => {
            let host = s.ctx.hostname.clone();
            s.reply(reply::timeout(&host));
            return Flow::Close;
        }
        Err(Step::Read(ReadError::Closed)) => return Flow::Close,
        Err(Step::Sasl(SaslError::Cancelled)) => return s.refuse("AUTH", reply::auth_cancelled()),
        Err(Step::Sasl(SaslError::Malformed)) => return s.refuse("AUTH", reply::auth_malformed()),
    };
    let dir = s.ctx.dir.clone();
    match verify(&dir, s.peer.ip(), &credentials).await {
        Ok(Outcome::Banned(why)) => {
            METRICS.auth.with_label_values(&["banned"]).inc();
            tracing::info!(session = %s.id, login = %credentials.login, reason = %why, "authentication refused: banned");
            s.reply(reply::login_banned(why));
            Flow::Close
        }
        Ok(Outcome::Accepted(account)) => {
            let account = *account;
            METRICS.auth.with_label_values(&["ok"]).inc();
            tracing::info!(session = %s.id, account = %account.address, "authenticated");
            s.state.account = Some(account);
            s.reply(reply::auth_ok());
            Flow::Continue
        }
        Ok(Outcome::Refused) => {
            METRICS.auth.with_label_values(&["failed"]).inc();
            s.state.auth_failures += 1;
            tracing::info!(session = %s.id, login = %credentials.login, failures = s.state.auth_failures, "authentication failed");
            if s.state.auth_failures >= s.ctx.config.max_auth_failures {
                let host = s.ctx.hostname.clone();
                s.reply(reply::too_many_auth_failures(&host));
                return Flow::Close;
            }
            s.refuse("AUTH", reply::auth_failed())
        }
        Err(e) => {
            METRICS.auth.with_label_values(&["error"]).inc();
            tracing::error!(session = %s.id, error = %e, "authentication lookup failed");
            s.reply(reply::internal_error());
            Flow::Continue
        }
    }
}

enum Step {
    Read(ReadError),
    Sasl(SaslError),
}

async fn response<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Session<S>,
    challenge: &str,
) -> Result<Vec<u8>, Step> {
    s.reply(reply::auth_challenge(challenge));
    let line = s.read_line().await.map_err(Step::Read)?;
    sasl::decode(&line.ok_or(Step::Sasl(SaslError::Malformed))?).map_err(Step::Sasl)
}

async fn plain<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Session<S>,
    initial: String,
) -> Result<Credentials, Step> {
    let message = if initial.is_empty() {
        response(s, "").await?
    } else {
        sasl::decode(&initial).map_err(Step::Sasl)?
    };
    sasl::plain(&message).map_err(Step::Sasl)
}

async fn login<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Session<S>,
    initial: String,
) -> Result<Credentials, Step> {
    let user = if initial.is_empty() {
        response(s, &sasl::encode(b"Username:")).await?
    } else {
        sasl::decode(&initial).map_err(Step::Sasl)?
    };
    let password = response(s, &sasl::encode(b"Password:")).await?;
    let text = |b: Vec<u8>| String::from_utf8(b).map_err(|_| Step::Sasl(SaslError::Malformed));
    Ok(Credentials {
        authzid: None,
        login: text(user)?,
        password: Secret::new(text(password)?),
    })
}

use crate::password_check::Outcome;

async fn verify(
    dir: &Directory,
    peer: std::net::IpAddr,
    c: &Credentials,
) -> Result<Outcome, tern_store::model::ModelError> {
    if c.authzid.is_some() {
        // Proxy authorization is not offered.
        return Ok(Outcome::Refused);
    }
    crate::password_check::check(dir, peer, &c.login, c.password.clone()).await
}
