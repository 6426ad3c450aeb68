//! IDLE (RFC 2177): waits for `DONE` while the mailbox actor's notifications are turned into
//! untagged responses as they come (new mail from SMTP, flag changes and expunges by other
//! sessions or nodes), and measures how long each took from commit to the client. With NOTIFY,
//! the followed mailboxes and names are told too.

use tern_proto::imap::{
    reader::{Event, Mode},
    response,
    types::core::Tag,
};
use tokio::io::{AsyncRead, AsyncWrite};

use super::{
    metrics::METRICS,
    session::{Flow, Session},
};
use crate::net::conn::ReadError;

/// Handles `IDLE` up to `DONE`.
pub async fn handle_idle<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &mut Session<S>,
    tag: Tag<'static>,
) -> Flow {
    if let Err(e) = Box::pin(s.sync()).await {
        return s.fail(&tag, e.into());
    }
    response::continuation(s.conn.out(), "idling");
    if s.conn.flush().await.is_err() {
        return Flow::Close;
    }
    s.conn.release_buffers();
    METRICS.idle.inc();
    s.reader.mode = Mode::Idle;
    let mut rx = s.selected.as_ref().map(|sel| sel.sub.rx.clone());
    let followed = s.notify.as_ref().map(|n| n.receiver());
    let mailbox = s.selected.as_ref().map(|sel| sel.mailbox.name.as_str());
    s.live.state(&format!("idle {}", mailbox.unwrap_or("")));
    let stopped = s.live.stopped(&s.ctx.shutdown);
    tokio::pin!(stopped);
    // One autologout clock for the whole IDLE (RFC 2177: clients re-issue it within 29
    // minutes), armed once rather than with each read that a wake-up cancels.
    let autologout = tokio::time::sleep(s.ctx.config.idle_timeout);
    tokio::pin!(autologout);
    let flow = loop {
        let changed = async {
            match rx.as_mut() {
                Some(rx) => rx.changed().await.is_ok(),
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            event = s.next_event_by(None) => match event {
                Ok(Event::IdleDone) => break Flow::Continue,
                Ok(_) => {
                    s.reader.mode = Mode::Command;
                    METRICS.idle.dec();
                    return s.bad(&tag, None, "expected DONE to end IDLE");
                }
                Err(ReadError::Timeout) => {
                    response::bye(s.conn.out(), None, "autologout: idle for too long");
                    break Flow::Close;
                }
                Err(ReadError::Closed) => break Flow::Close,
            },
            () = &mut autologout => {
                response::bye(s.conn.out(), None, "autologout: idle for too long");
                break Flow::Close;
            }
            alive = changed => {
                if !alive {
                    rx = None;
                    continue;
                }
                let (seen, delta) = match rx.as_ref() {
                    Some(r) => {
                        let c = r.borrow();
                        (Some(c.seen), c.delta.clone())
                    }
                    None => (None, None),
                };
                // Boxed, as the first sync below: an idle session's future keeps no room for
                // a sync between wake-ups.
                match Box::pin(s.sync_with(delta)).await {
                    Ok(true) => {
                        if s.conn.flush().await.is_err() {
                            break Flow::Close;
                        }
                        if let Some(seen) = seen {
                            METRICS.notify_latency.observe(seen.elapsed().as_secs_f64());
                        }
                    }
                    Ok(false) => {}
                    Err(e) => tracing::warn!(session = %s.id, error = %e, "IDLE sync failed"),
                }
            }
            () = super::push::changed(followed.clone()) => {
                if !Box::pin(super::push::push_followed(s)).await {
                    break Flow::Close;
                }
            }
            stop = &mut stopped => {
                s.goodbye(stop);
                break Flow::Close;
            }
        }
    };
    METRICS.idle.dec();
    s.reader.mode = Mode::Command;
    if flow == Flow::Close {
        return Flow::Close;
    }
    s.ok(&tag, None, "IDLE terminated")
}
