//! UIDL: the unique id (`UIDVALIDITY.UID`) of one message or of every message not marked
//! deleted; stable across sessions, so "leave messages on server" clients never download twice.

use tern_proto::pop3::reply;
use tokio::io::{AsyncRead, AsyncWrite};

use super::session::{Flow, Session};

/// Handles `UIDL [msg]`.
pub fn handle_uidl<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Session<S>,
    n: Option<u32>,
) -> Flow {
    let Some(m) = s.maildrop() else {
        return Flow::Continue;
    };
    match n {
        Some(n) => match m.get(n).map(|e| m.uidl(e)) {
            Some(id) => s.reply(reply::scan(n, &id)),
            None => return s.refuse(reply::no_such_message(n)),
        },
        None => {
            let lines: Vec<String> = m
                .live()
                .map(|(n, e)| format!("{n} {}", m.uidl(e)))
                .collect();
            s.listing(lines);
        }
    }
    Flow::Continue
}
