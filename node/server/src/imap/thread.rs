//! THREAD and UID THREAD (RFC 5256): the SEARCH matches threaded by ORDEREDSUBJECT or
//! REFERENCES (the algorithms are in `threading.rs`).

use tern_proto::imap::types::{
    core::{Charset, Tag, Vec1},
    extensions::thread::ThreadingAlgorithm,
    response::Data,
    search::SearchKey,
};
use tokio::io::{AsyncRead, AsyncWrite};

use super::{
    search::{bad_charset, matching},
    session::{Flow, Session},
    threading::{self, Message},
};

/// The message ids of a header value, without angle brackets.
fn ids(value: &str) -> impl Iterator<Item = String> + '_ {
    value
        .split(['<', '>', ' ', ','])
        .filter(|id| id.contains('@'))
        .map(str::to_string)
}

/// Handles `THREAD algorithm charset search-criteria` and `UID THREAD`.
pub async fn handle_thread<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Session<S>,
    tag: Tag<'static>,
    algorithm: ThreadingAlgorithm<'static>,
    charset: Charset<'static>,
    criteria: Vec1<SearchKey<'static>>,
    by_uid: bool,
) -> Flow {
    let thread: fn(&[Message]) -> Vec<_> = match algorithm {
        ThreadingAlgorithm::OrderedSubject => threading::ordered_subject,
        ThreadingAlgorithm::References => threading::references,
        ThreadingAlgorithm::Other(other) => {
            let name = other.as_ref().to_string();
            return s.bad(
                &tag,
                None,
                &format!("unknown threading algorithm {name} (THREAD=ORDEREDSUBJECT and THREAD=REFERENCES are offered)"),
            );
        }
    };
    if bad_charset(s, &tag, Some(&charset)) {
        return Flow::Continue;
    }
    let hits = match matching(s, criteria, true).await {
        Ok(h) => h,
        Err(e) => return s.fail(&tag, e.into()),
    };
    let messages: Vec<Message> = hits
        .iter()
        .map(|h| {
            let env = h.envelope.as_deref();
            // RFC 5256: References, else the first id of In-Reply-To.
            let references = match env {
                Some(e) if !e.references.is_empty() => e.references.clone(),
                Some(e) => e
                    .in_reply_to
                    .as_deref()
                    .and_then(|v| ids(v).next())
                    .into_iter()
                    .collect(),
                None => Vec::new(),
            };
            Message {
                id: if by_uid { h.meta.uid } else { h.seq },
                date: env
                    .and_then(|e| e.timestamp)
                    .unwrap_or(h.meta.internal_date),
                subject: env.and_then(|e| e.subject.clone()).unwrap_or_default(),
                message_id: env
                    .and_then(|e| e.message_id.as_deref())
                    .and_then(|v| ids(v).next()),
                references,
            }
        })
        .collect();
    s.data(Data::Thread(thread(&messages)));
    s.done(&tag, None, "THREAD completed").await
}
