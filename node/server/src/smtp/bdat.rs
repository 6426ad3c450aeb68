//! BDAT (RFC 3030 CHUNKING): reads exactly the announced bytes (also when the command is
//! refused, so they are not taken for commands), appends them to the message, and delivers on
//! the LAST chunk. A chunk that would pass the size limit is refused unread and the connection
//! closed.

use tern_proto::smtp::{BodyKind, reply};
use tokio::io::{AsyncRead, AsyncWrite};

use super::{
    data, deliver,
    session::{BodyEnd, Flow, ReadError, Session},
};

/// Handles `BDAT size [LAST]`.
pub async fn handle_bdat<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Session<S>,
    size: usize,
    last: bool,
) -> Flow {
    let ready = s.state.mail.as_ref().map(|m| !m.recipients.is_empty());
    // The chunk's bytes follow the command at once: read them even when refusing, or they
    // would be taken for commands.
    let parked = if ready == Some(true) {
        None
    } else {
        s.state.mail.take()
    };
    if let Some(m) = s.state.mail.as_mut() {
        m.chunking = true;
    }
    let outcome = s.read_body(BodyKind::Bdat(size)).await;
    if parked.is_some() {
        s.state.mail = parked;
    }
    let end = match outcome {
        Err(ReadError::Timeout) => {
            let host = s.ctx.hostname.clone();
            s.reply(reply::timeout(&host));
            return Flow::Close;
        }
        Err(ReadError::Closed) => return Flow::Close,
        Ok(end) => end,
    };
    if end != BodyEnd::Complete {
        return data::cut_short(s, "BDAT", end).await;
    }
    match ready {
        None => s.refuse(
            "BDAT",
            reply::bad_sequence("send MAIL and RCPT before BDAT"),
        ),
        Some(false) => s.refuse("BDAT", reply::no_valid_recipients()),
        Some(true) if last => deliver::accept(s).await,
        Some(true) => {
            s.reply(reply::chunk_ok(size));
            Flow::Continue
        }
    }
}
