//! Queue entry operations: reading, the due scan of a shard, rescheduling, holding and removal.
//! An entry is in exactly one index at a time: `due` (by next attempt) or `held`.

use super::{QueueEntry, codec};
use crate::{RangeOptions, ReadMode, StoreError, Tx, blob, keys::queue as k};

/// One entry by id.
pub async fn get(tx: &Tx, id: &str) -> Result<Option<QueueEntry>, StoreError> {
    codec::read(tx, &k::entry(id)).await
}

/// Every entry (operators' listing; bounded by the caller's transaction limits).
pub async fn all(tx: &Tx) -> Result<Vec<QueueEntry>, StoreError> {
    codec::read_all(tx, &k::entries()).await
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
    let rows = tx
        .get_range(
            &begin,
            &end,
            RangeOptions {
                limit: Some(limit),
                reverse: false,
                mode: ReadMode::Snapshot,
            },
        )
        .await?;
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
