//! PASS: the password for the name given by USER.

use tern_proto::{Secret, pop3::reply};
use tokio::io::{AsyncRead, AsyncWrite};

use super::session::{Flow, Phase, Session};

/// Handles `PASS secret`.
pub async fn handle_pass<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Session<S>,
    password: Secret<String>,
) -> Flow {
    if !s.plaintext_allowed() {
        return s.refuse(reply::plaintext_disabled());
    }
    let Phase::Authorization { user: Some(login) } = &s.phase else {
        return s.refuse(reply::pass_without_user());
    };
    let login = login.clone();
    s.login(&login, password).await
}
