//! RETR: sends a whole message, dot-stuffed.

use tern_proto::pop3::reply;
use tokio::io::{AsyncRead, AsyncWrite};

use super::{
    metrics::METRICS,
    session::{Flow, Session},
};

/// Handles `RETR msg`.
pub async fn handle_retr<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Session<S>,
    n: u32,
) -> Flow {
    send(s, n, None).await
}

/// Sends message `n`, or with `lines` its header and that many body lines (TOP).
pub(super) async fn send<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Session<S>,
    n: u32,
    lines: Option<u32>,
) -> Flow {
    let dir = s.ctx.dir.clone();
    let Some(m) = s.maildrop() else {
        return Flow::Continue;
    };
    let Some(entry) = m.get(n).cloned() else {
        return s.refuse(reply::no_such_message(n));
    };
    let Some(body) = m.body(&dir, &entry).await else {
        return s.refuse(reply::message_gone(n));
    };
    let part = match lines {
        Some(l) => reply::top(&body, l),
        None => &body[..],
    };
    s.reply(reply::message_follows(part.len() as u64));
    let before = s.conn.out().len();
    reply::encode_multiline(part, s.conn.out());
    METRICS
        .bytes_sent
        .inc_by((s.conn.out().len() - before) as u64);
    Flow::Continue
}
