//! LIST: sizes of one message or of every message not marked deleted.

use tern_proto::pop3::reply;
use tokio::io::{AsyncRead, AsyncWrite};

use super::session::{Flow, Session};

/// Handles `LIST [msg]`.
pub fn handle_list<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Session<S>,
    n: Option<u32>,
) -> Flow {
    let Some(m) = s.maildrop() else {
        return Flow::Continue;
    };
    match n {
        Some(n) => match m.get(n).map(|e| e.size) {
            Some(size) => s.reply(reply::scan(n, &size.to_string())),
            None => return s.refuse(reply::no_such_message(n)),
        },
        None => {
            let lines: Vec<String> = m.live().map(|(n, e)| format!("{n} {}", e.size)).collect();
            s.listing(lines);
        }
    }
    Flow::Continue
}
