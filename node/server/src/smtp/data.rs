//! DATA: receives a dot-terminated body (discarding past the size limit) and hands it to
//! delivery, which answers only after the store committed it.

use tern_proto::smtp::{BodyKind, reply};
use tokio::io::{AsyncRead, AsyncWrite};

use super::{
    deliver,
    session::{Flow, ReadError, Session},
};

/// Handles `DATA`.
pub async fn handle_data<S: AsyncRead + AsyncWrite + Unpin + Send>(s: &mut Session<S>) -> Flow {
    let Some(mail) = s.state.mail.as_ref() else {
        return s.refuse(
            "DATA",
            reply::bad_sequence("send MAIL and RCPT before DATA"),
        );
    };
    if mail.chunking {
        return s.refuse("DATA", reply::bad_sequence("DATA cannot follow BDAT"));
    }
    if mail.recipients.is_empty() {
        return s.refuse("DATA", reply::no_valid_recipients());
    }
    s.reply(reply::start_data());
    match s.read_body(BodyKind::Data).await {
        Err(ReadError::Timeout) => {
            let host = s.ctx.hostname.clone();
            s.reply(reply::timeout(&host));
            Flow::Close
        }
        Err(ReadError::Closed) => {
            tracing::info!(session = %s.id, "connection lost during DATA; nothing was stored");
            Flow::Close
        }
        Ok(true) => too_big(s),
        Ok(false) => deliver::accept(s).await,
    }
}

/// Refuses an oversize message and ends its transaction.
pub fn too_big<S: AsyncRead + AsyncWrite + Unpin + Send>(s: &mut Session<S>) -> Flow {
    s.state.mail = None;
    let max = s.ctx.config.max_message_bytes;
    s.reject("DATA", "too_big", reply::message_too_big(max))
}
