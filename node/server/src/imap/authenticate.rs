//! AUTHENTICATE PLAIN (RFC 4616), with the initial response on the command line (SASL-IR) or
//! after an empty continuation; `*` cancels.

use tern_proto::{
    imap::{
        reader::{Event, Mode},
        response::{self, Extra},
        types::{
            auth::{AuthMechanism, AuthenticateData},
            core::Tag,
            secret::Secret as ImapSecret,
        },
    },
    smtp::sasl,
};
use tokio::io::{AsyncRead, AsyncWrite};

use super::{
    login,
    session::{Flow, Session},
};

/// Handles `AUTHENTICATE mechanism [initial-response]`.
pub async fn handle_authenticate<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Session<S>,
    tag: Tag<'static>,
    mechanism: AuthMechanism<'static>,
    initial: Option<ImapSecret<std::borrow::Cow<'static, [u8]>>>,
) -> Flow {
    if !s.plaintext_allowed() {
        return s.no(
            &tag,
            Some(Extra::PrivacyRequired.code()),
            "AUTHENTICATE needs TLS: use STARTTLS first or port 993",
        );
    }
    if mechanism != AuthMechanism::Plain {
        return s.no(
            &tag,
            Some(Extra::Cannot.code()),
            &format!("SASL mechanism {mechanism} is not supported; use PLAIN"),
        );
    }
    let message = match initial {
        Some(i) => i.declassify().to_vec(),
        None => {
            response::sasl_continuation(s.conn.out());
            s.reader.mode = Mode::Authenticate;
            let event = s.next_event().await;
            s.reader.mode = Mode::Command;
            if s.traced() {
                crate::trace::sasl(&s.id, crate::trace::Protocol::Imap);
            }
            match event {
                Ok(Event::AuthData(AuthenticateData::Continue(d))) => d.declassify().to_vec(),
                Ok(Event::AuthData(AuthenticateData::Cancel)) => {
                    return s.bad(&tag, None, "authentication cancelled");
                }
                Ok(_) => return s.bad(&tag, None, "the SASL response is not valid base64"),
                Err(_) => return Flow::Close,
            }
        }
    };
    match sasl::plain(&message) {
        Ok(c) if c.authzid.as_deref().is_none_or(|z| z == c.login) => {
            login::check(s, &tag, &c.login, c.password).await
        }
        Ok(_) => s.no(
            &tag,
            Some(Extra::AuthenticationFailed.code()),
            "authorization identity differs from the login; not supported",
        ),
        Err(_) => s.bad(&tag, None, "malformed PLAIN response"),
    }
}
