//! DATA: receives a dot-terminated body and hands it to delivery, which answers only after the
//! store committed it. A body past the size limit, or one the node has no memory for, is
//! answered at once and the connection closed: the rest is never read.

use tern_proto::smtp::{BodyKind, reply};
use tokio::io::{AsyncRead, AsyncWrite};

use super::session::{BodyEnd, Flow, ReadError, Session};
use crate::smtp::deliver;

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
        Ok(BodyEnd::Complete) => deliver::accept(s).await,
        Ok(end) => cut_short(s, "DATA", end).await,
    }
}

/// Refuses a body that was not read to its end (too big, or no memory for it), ends the
/// transaction and closes the connection after the client has had a chance to read why.
pub async fn cut_short<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Session<S>,
    verb: &'static str,
    end: BodyEnd,
) -> Flow {
    s.state.mail = None;
    let host = s.ctx.hostname.clone();
    if end == BodyEnd::NoMemory {
        crate::net::budget::refused("smtp");
        tracing::warn!(session = %s.id, "message refused: the node's input memory budget is used up");
        s.reject(verb, "no_memory", reply::no_memory(&host));
    } else {
        let max = s.ctx.config.max_message_bytes;
        tracing::info!(session = %s.id, max, "message refused: over the size limit");
        s.reject(verb, "too_big", reply::message_too_big(max));
    }
    s.close_draining().await;
    Flow::Close
}
