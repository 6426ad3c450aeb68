//! What a session with NOTIFY does between commands and in IDLE: it waits on the keys it
//! follows and on its selected mailbox as well as on its client, and tells the client what
//! changed as soon as it changed (`notify.rs` decides what is told).

use tokio::{
    io::{AsyncRead, AsyncWrite},
    sync::watch,
};

use super::{hub::Change, metrics::METRICS, notify::deliver, session::Session};

/// What a session between commands waits on besides its client: the followed keys, and the
/// selected mailbox when NOTIFY pushes its changes.
pub fn receivers<S: AsyncRead + AsyncWrite + Unpin + Send>(
    s: &Session<S>,
) -> (
    Option<watch::Receiver<u64>>,
    Option<watch::Receiver<Change>>,
) {
    let Some(n) = s.notify.as_ref() else {
        return (None, None);
    };
    let selected = s
        .selected
        .as_ref()
        .filter(|sel| n.selected_push(&sel.mailbox.name).is_some())
        .map(|sel| sel.sub.rx.clone());
    (Some(n.receiver()), selected)
}

/// Waits for `rx` to change; never, when there is none or its sender is gone.
pub async fn changed<T>(rx: Option<watch::Receiver<T>>) {
    if let Some(mut rx) = rx
        && rx.changed().await.is_ok()
    {
        return;
    }
    std::future::pending().await
}

/// Tells the client what changed in followed mailboxes and names; `false` when the
/// connection is gone.
pub async fn push_followed<S: AsyncRead + AsyncWrite + Unpin + Send>(s: &mut Session<S>) -> bool {
    match deliver(s).await {
        Ok(true) => s.conn.flush().await.is_ok(),
        Ok(false) => true,
        Err(e) => {
            tracing::warn!(session = %s.id, error = %e, "NOTIFY: cannot read what changed");
            true
        }
    }
}

/// Tells the client what changed in the selected mailbox, as IDLE does (with
/// SELECTED-DELAYED, expunges wait for a command); `false` when the connection is gone.
pub async fn push_selected<S: AsyncRead + AsyncWrite + Unpin + Send>(s: &mut Session<S>) -> bool {
    let (Some(n), Some(sel)) = (s.notify.as_ref(), s.selected.as_ref()) else {
        return true;
    };
    let Some(delayed) = n.selected_push(&sel.mailbox.name) else {
        return true;
    };
    let (seen, delta) = {
        let c = sel.sub.rx.borrow();
        (c.seen, c.delta.clone())
    };
    s.by_seq = delayed;
    match s.sync_with(delta).await {
        Ok(true) => {
            if s.conn.flush().await.is_err() {
                return false;
            }
            METRICS.notify_latency.observe(seen.elapsed().as_secs_f64());
            true
        }
        Ok(false) => true,
        Err(e) => {
            tracing::warn!(session = %s.id, error = %e, "NOTIFY: cannot read the selected mailbox");
            true
        }
    }
}
