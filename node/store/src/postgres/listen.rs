//! Watches across processes: every node keeps one connection that `LISTEN`s on `tern_watch`;
//! a commit that changed a watchable key announces it there after it committed (see
//! `tx::announcements`; the node's announcer batches them), and the node then reads the key and fires the watches whose value
//! changed. The announcement is sent after the commit (never inside it: a notifying commit
//! takes a database-wide lock), so a watch armed before reading the key never misses a change.
//! If the connection drops, or a writer dies between its commit and its announcement, the
//! re-check of every armed watch (on reconnect and every [`RECHECK`]) catches up.

use std::{
    sync::{Arc, Weak},
    time::Duration,
};

use futures::StreamExt;
use tokio_postgres::AsyncMessage;

use super::Shared;
use crate::buffer::key_after;

/// The channel name.
pub(crate) const CHANNEL: &str = "tern_watch";
/// How often every armed watch is checked even without an announcement.
const RECHECK: Duration = Duration::from_secs(10);

/// Keeps the listening connection up until the store is dropped.
pub(crate) async fn run(shared: Weak<Shared>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        let Some(strong) = shared.upgrade() else {
            return;
        };
        let mut closed = strong.closed.subscribe();
        let connected = strong
            .target
            .config
            .connect(strong.target.tls.clone())
            .await;
        let (client, mut connection) = match connected {
            Ok(pair) => pair,
            Err(e) => {
                tracing::debug!(error = %super::error::describe(&e), "watch listener cannot connect; retrying");
                drop(strong);
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = closed.changed() => return,
                }
                backoff = (backoff * 2).min(Duration::from_secs(2));
                continue;
            }
        };
        let (messages_tx, mut messages) = tokio::sync::mpsc::unbounded_channel();
        let driver = tokio::spawn(async move {
            let mut stream = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
            while let Some(message) = stream.next().await {
                match message {
                    Ok(AsyncMessage::Notification(n)) => {
                        if messages_tx.send(n.payload().to_string()).is_err() {
                            return;
                        }
                    }
                    Ok(_) => {}
                    Err(_) => return,
                }
            }
        });
        if let Err(e) = client.batch_execute(&format!("LISTEN {CHANNEL}")).await {
            tracing::debug!(error = %super::error::describe(&e), "watch listener cannot LISTEN; retrying");
            driver.abort();
            continue;
        }
        backoff = Duration::from_millis(100);
        // Anything may have changed while nobody listened.
        recheck_all(&strong).await;
        drop(strong);
        let mut tick = tokio::time::interval(RECHECK);
        tick.tick().await;
        loop {
            tokio::select! {
                message = messages.recv() => {
                    let Some(payload) = message else { break };
                    let Some(strong) = shared.upgrade() else { return };
                    on_announcement(&strong, &payload).await;
                }
                _ = tick.tick() => {
                    let Some(strong) = shared.upgrade() else { return };
                    recheck_all(&strong).await;
                }
                _ = closed.changed() => {
                    driver.abort();
                    return;
                }
            }
        }
        driver.abort();
        tracing::info!("watch listener lost its connection; reconnecting");
    }
}

async fn on_announcement(shared: &Arc<Shared>, payload: &str) {
    if payload == "a" {
        return recheck_all(shared).await;
    }
    let keys = if let Some(key) = payload.strip_prefix('k') {
        match hex::decode(key) {
            Ok(key) => vec![key],
            Err(_) => return,
        }
    } else if let Some((b, e)) = payload.strip_prefix('r').and_then(|r| r.split_once(':')) {
        match (hex::decode(b), hex::decode(e)) {
            (Ok(b), Ok(e)) => shared.watches.keys_in(&b, &e),
            _ => return,
        }
    } else {
        return;
    };
    if keys.is_empty() {
        return;
    }
    // Only keys someone here watches are read.
    let watched: Vec<Vec<u8>> = keys
        .into_iter()
        .filter(|k| !shared.watches.keys_in(k, &key_after(k)).is_empty())
        .collect();
    shared.recheck(watched).await;
}

async fn recheck_all(shared: &Arc<Shared>) {
    let keys = shared.watches.keys();
    shared.recheck(keys).await;
}
