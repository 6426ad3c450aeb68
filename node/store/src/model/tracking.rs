//! Message tracking ("where is my mail?"): an event per step of a message's way — accepted,
//! filed into mailboxes, queued, each delivery attempt with the remote replies, bounced — kept
//! by time for a retention period and indexed by message id, queue id and every address, so
//! one lookup follows a message across the cluster.

use rand::Rng;
use serde::{Deserialize, Serialize};

use super::codec;
use crate::{RangeOptions, StoreError, Tx, keys::tracking as k};

/// One step of a message's way.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Unix microseconds.
    pub at: i64,
    /// `accepted`, `delivered`, `queued`, `attempt`, `bounced`.
    pub kind: String,
    /// The node that recorded it (`node-<id>`).
    pub node: String,
    /// The queue id (of the acceptance, or of the queue entry).
    pub queue_id: String,
    /// The Message-ID header, when known.
    pub message_id: String,
    /// The envelope sender.
    pub sender: String,
    /// The recipients it concerns.
    pub recipients: Vec<String>,
    /// What happened, in words (client and reply, mailboxes, remote replies).
    pub detail: String,
    /// The lookups it is indexed under (lowercase).
    pub keys: Vec<String>,
}

impl Event {
    /// Indexes the event under its queue id (and the acceptance's, for an entry `id.N`), its
    /// Message-ID (with and without brackets), its sender and recipients, and `extra`.
    pub fn index_all(&mut self, extra: &[&str]) {
        let mut keys: Vec<String> = Vec::new();
        let mut add = |s: &str| {
            let s = s.trim().to_ascii_lowercase();
            if !s.is_empty() && !keys.contains(&s) {
                keys.push(s);
            }
        };
        add(&self.queue_id);
        if let Some((base, _)) = self.queue_id.split_once('.') {
            add(base);
        }
        add(&self.message_id);
        add(self
            .message_id
            .trim_start_matches('<')
            .trim_end_matches('>'));
        add(&self.sender);
        for r in &self.recipients {
            add(r);
        }
        for e in extra {
            add(e);
        }
        self.keys = keys;
    }
}

/// Writes `ev` and its index entries in the caller's transaction.
pub fn record(tx: &Tx, ev: &Event) -> Result<(), StoreError> {
    let uid: u64 = rand::rng().random();
    codec::write(tx, &k::event(ev.at, uid), ev)?;
    for key in &ev.keys {
        tx.set(&k::index(key, ev.at, uid), b"")?;
    }
    Ok(())
}

/// The events indexed under `lookup` since `since` (Unix microseconds), oldest first, at most
/// `limit`.
pub async fn find(
    tx: &Tx,
    lookup: &str,
    since: i64,
    limit: usize,
) -> Result<Vec<Event>, StoreError> {
    let lookup = lookup.trim().to_ascii_lowercase();
    let range = k::indexed(&lookup, since);
    let hits = tx
        .get_range(&range.0, &range.1, RangeOptions::all().limit(limit))
        .await?;
    let mut out = Vec::with_capacity(hits.len());
    for kv in &hits {
        let Some((at, uid)) = k::index_parts(&kv.key) else {
            continue;
        };
        if let Some(ev) = codec::read(tx, &k::event(at, uid)).await? {
            out.push(ev);
        }
    }
    Ok(out)
}

/// Removes up to `limit` events older than `before` (Unix microseconds) with their index
/// entries; returns how many.
pub async fn expire(tx: &Tx, before: i64, limit: usize) -> Result<usize, StoreError> {
    let range = k::events_before(before);
    let old = tx
        .get_range(&range.0, &range.1, RangeOptions::all().limit(limit))
        .await?;
    for kv in &old {
        if let (Ok(ev), Some((at, uid))) = (
            codec::decode::<Event>(&kv.key, &kv.value),
            k::event_parts(&kv.key),
        ) {
            for key in &ev.keys {
                tx.clear(&k::index(key, at, uid))?;
            }
        }
        tx.clear(&kv.key)?;
    }
    Ok(old.len())
}
