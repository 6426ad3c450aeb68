//! Queue entry operations: reading, the due scan of a shard, rescheduling, holding and removal.
//! An entry is in exactly one index at a time: `due` (by next attempt) or `held`.

use super::{QueueEntry, codec};
use crate::{Db, RangeOptions, ReadMode, StoreError, Tx, blob, keys::queue as k};

/// One entry by id.
pub async fn get(tx: &Tx, id: &str) -> Result<Option<QueueEntry>, StoreError> {
    codec::read(tx, &k::entry(id)).await
}

/// Up to `limit` entries after the entry `after` (by id), as a snapshot read.
pub async fn page(
    tx: &Tx,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<QueueEntry>, StoreError> {
    let (mut begin, end) = k::entries();
    if let Some(id) = after {
        begin = k::entry(id);
        begin.push(0);
    }
    let rows = tx.get_range(&begin, &end, snapshot(limit)).await?;
    rows.iter()
        .map(|kv| codec::decode(&kv.key, &kv.value))
        .collect()
}

/// Every entry, read in pages of one transaction each, so any queue size stays within the
/// store's transaction limits (the result is not one consistent snapshot).
pub async fn scan(db: &Db) -> Result<Vec<QueueEntry>, StoreError> {
    const PAGE: usize = 2000;
    let mut out: Vec<QueueEntry> = Vec::new();
    loop {
        let after = out.last().map(|e| e.id.clone());
        let after = after.as_deref();
        let batch = db
            .run(|tx| async move { page(&tx, after, PAGE).await })
            .await?;
        let done = batch.len() < PAGE;
        out.extend(batch);
        if done {
            return Ok(out);
        }
    }
}

/// Forward snapshot reads of at most `limit` pairs.
fn snapshot(limit: usize) -> RangeOptions {
    RangeOptions {
        limit: Some(limit),
        reverse: false,
        mode: ReadMode::Snapshot,
    }
}

/// Ids of a shard's entries due at or before `until`, oldest first, at most `limit`. A snapshot
/// read: scanning adds no conflicts; the delivery transaction re-reads what it changes.
pub async fn due(
    tx: &Tx,
    shard: u16,
    until: i64,
    limit: usize,
) -> Result<Vec<(i64, String)>, StoreError> {
    let (begin, end) = k::due_until(shard, until);
    let rows = tx.get_range(&begin, &end, snapshot(limit)).await?;
    Ok(rows
        .iter()
        .filter_map(|kv| k::due_parts(&kv.key).map(|(_, at, id)| (at, id)))
        .collect())
}

fn unindex(tx: &Tx, entry: &QueueEntry) -> Result<(), StoreError> {
    if entry.held {
        tx.clear(&k::held(&entry.id))
    } else {
        tx.clear(&k::due(entry.shard, entry.next_attempt, &entry.id))
    }
}

fn index(tx: &Tx, entry: &QueueEntry) -> Result<(), StoreError> {
    if entry.held {
        tx.set(&k::held(&entry.id), &[])
    } else {
        tx.set(&k::due(entry.shard, entry.next_attempt, &entry.id), &[])
    }
}

/// Replaces `before` (as read in this transaction) by `after`, moving its index entry.
pub fn update(tx: &Tx, before: &QueueEntry, after: &QueueEntry) -> Result<(), StoreError> {
    unindex(tx, before)?;
    codec::write(tx, &k::entry(&after.id), after)?;
    index(tx, after)
}

/// Removes an entry and its index, and drops its reference on the body.
pub fn remove(tx: &Tx, entry: &QueueEntry) -> Result<(), StoreError> {
    unindex(tx, entry)?;
    tx.clear(&k::entry(&entry.id))?;
    blob::unlink(tx, entry.blob)
}
