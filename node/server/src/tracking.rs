//! Message tracking on the node: the events written with each step of a message's way (in the
//! step's own transaction, so an event exists exactly when the step happened), the node's name
//! and the retention (`server.tracking_retention_days`, 0: off) set once at start, and the
//! hourly expiry of old events. `GET /api/v1/trace` and `ternctl trace` read them.

use std::{
    collections::BTreeMap,
    sync::{LazyLock, OnceLock},
    time::Duration,
};

use prometheus::{IntCounter, register_int_counter};

use tern_store::{
    Db, StoreError, Tx,
    model::{
        queue::QueueEntry,
        tracking::{self, Event},
    },
};

use crate::{queue::outcome, shutdown::Shutdown};

/// Where a filed message came from, for its `accepted` event.
#[derive(Debug, Clone)]
pub struct Origin {
    /// `accepted` (a client), `injected` (an operator), `bounced` (a DSN), `archived`.
    pub kind: &'static str,
    /// In words: the client, listener and reply; or what the DSN is about.
    pub detail: String,
    /// The queue id a DSN is about, so tracing the original finds its bounce.
    pub about: Option<String>,
}

/// `tern_tracking_expired_total`: events removed after the retention.
static EXPIRED: LazyLock<IntCounter> = LazyLock::new(|| {
    register_int_counter!(
        "tern_tracking_expired_total",
        "Message tracking events removed after server.tracking_retention_days"
    )
    .expect("metric registers once")
});

/// Exports the family at 0 from start.
pub fn init() {
    LazyLock::force(&EXPIRED);
}

struct Settings {
    node: String,
    retention: Duration,
}

static SETTINGS: OnceLock<Settings> = OnceLock::new();

/// Sets this node's name and the retention (zero: nothing is recorded); once per process.
pub fn configure(node: String, retention: Duration) {
    let _ = SETTINGS.set(Settings { node, retention });
}

fn on() -> Option<&'static Settings> {
    SETTINGS.get().filter(|s| !s.retention.is_zero())
}

fn micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// The event skeleton for this node, now.
fn event(
    kind: &str,
    queue_id: &str,
    sender: &str,
    recipients: Vec<String>,
    detail: String,
) -> Option<Event> {
    let s = on()?;
    Some(Event {
        at: micros(),
        kind: kind.to_string(),
        node: s.node.clone(),
        queue_id: queue_id.to_string(),
        sender: sender.to_string(),
        recipients,
        detail,
        ..Event::default()
    })
}

/// What filing a message writes: where it came from, the mailboxes it went into, the queue
/// entries made for remote recipients.
pub struct Filing<'a> {
    /// Acceptance queue id.
    pub id: &'a str,
    /// The Message-ID header.
    pub message_id: &'a str,
    /// Envelope sender.
    pub sender: &'a str,
    /// Envelope recipients.
    pub recipients: Vec<String>,
    /// Local recipients' addresses (filed into their INBOX).
    pub local: Vec<String>,
    /// The queue entries made.
    pub entries: &'a [QueueEntry],
}

/// Records the events of a filing in its transaction.
pub fn filed(tx: &Tx, origin: &Origin, f: &Filing<'_>) -> Result<(), StoreError> {
    // A DSN about entry `id.N` is found by `id.N` and by `id`.
    let about: Vec<&str> = origin
        .about
        .iter()
        .flat_map(|a| [a.as_str(), a.split('.').next().unwrap_or(a)])
        .collect();
    let mut events = Vec::new();
    if let Some(e) = event(
        origin.kind,
        f.id,
        f.sender,
        f.recipients.clone(),
        origin.detail.clone(),
    ) {
        events.push(e);
    }
    if !f.local.is_empty()
        && let Some(e) = event(
            "delivered",
            f.id,
            f.sender,
            f.local.clone(),
            format!("filed into the INBOX of {}", f.local.join(", ")),
        )
    {
        events.push(e);
    }
    for entry in f.entries {
        let rcpts: Vec<String> = entry.recipients.iter().map(|r| r.address.clone()).collect();
        if let Some(e) = event(
            "queued",
            &entry.id,
            f.sender,
            rcpts,
            format!("queued for {} (queue entry {})", entry.domain, entry.id),
        ) {
            events.push(e);
        }
    }
    for mut e in events {
        e.message_id = f.message_id.to_string();
        e.index_all(&about);
        tracking::record(tx, &e)?;
    }
    Ok(())
}

/// Records a delivery attempt on `entry` at `host` with each recipient's result.
pub fn attempt(
    tx: &Tx,
    entry: &QueueEntry,
    host: &str,
    results: &BTreeMap<String, outcome::Result>,
) -> Result<(), StoreError> {
    let lines: Vec<String> = results
        .iter()
        .map(|(rcpt, r)| match r {
            outcome::Result::Delivered(reply) => format!("{rcpt}: delivered ({reply})"),
            outcome::Result::Deferred(reply) => format!("{rcpt}: deferred ({reply})"),
            outcome::Result::Failed(reply) => format!("{rcpt}: failed ({reply})"),
        })
        .collect();
    let Some(mut e) = event(
        "attempt",
        &entry.id,
        &entry.sender,
        results.keys().cloned().collect(),
        format!(
            "attempt {} at {host}: {}",
            entry.attempts + 1,
            lines.join("; ")
        ),
    ) else {
        return Ok(());
    };
    e.index_all(&[]);
    tracking::record(tx, &e)
}

/// Removes events older than the retention, every hour, until shutdown.
pub async fn expire(db: Db, shutdown: Shutdown) {
    let Some(settings) = on() else { return };
    let stop = shutdown.wait();
    tokio::pin!(stop);
    loop {
        let before = micros() - settings.retention.as_micros() as i64;
        let mut removed = 0usize;
        loop {
            match db
                .run(|tx| async move { tracking::expire(&tx, before, 500).await })
                .await
            {
                Ok(0) => break,
                Ok(n) => {
                    removed += n;
                    EXPIRED.inc_by(n as u64);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "message tracking: expiring old events failed");
                    break;
                }
            }
        }
        if removed > 0 {
            tracing::info!(removed, "message tracking: old events expired");
        }
        tokio::select! {
            _ = &mut stop => return,
            _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
        }
    }
}
