//! Queue entry operations: reading, the due scan of a shard, rescheduling, holding and removal.
//! An entry is in exactly one index at a time: `due` (by next attempt) or `held`; and it is
//! counted once, in its shard's counter and age index for its status, which is what metrics
//! and listings read instead of scanning the queue.

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

/// Puts an entry in the `due` or `held` index.
pub(super) fn index(tx: &Tx, entry: &QueueEntry) -> Result<(), StoreError> {
    if entry.held {
        tx.set(&k::held(&entry.id), &[])
    } else {
        tx.set(&k::due(entry.shard, entry.next_attempt, &entry.id), &[])
    }
}

/// Counts an entry in (`+1`) or out (`-1`) of its shard and status.
pub(super) fn count(tx: &Tx, entry: &QueueEntry, delta: i64) -> Result<(), StoreError> {
    let status = entry.status_label();
    tx.atomic_add(&k::count(entry.shard, status), delta)?;
    let age = k::age(entry.shard, status, entry.created, &entry.id);
    if delta > 0 {
        tx.set(&age, &[])
    } else {
        tx.clear(&age)
    }
}

/// Replaces `before` (as read in this transaction) by `after`, moving its index entries.
pub fn update(tx: &Tx, before: &QueueEntry, after: &QueueEntry) -> Result<(), StoreError> {
    unindex(tx, before)?;
    if (before.shard, before.status_label()) != (after.shard, after.status_label()) {
        count(tx, before, -1)?;
        count(tx, after, 1)?;
    }
    codec::write(tx, &k::entry(&after.id), after)?;
    index(tx, after)
}

/// Removes an entry and its index, and drops its reference on the body.
pub fn remove(tx: &Tx, entry: &QueueEntry) -> Result<(), StoreError> {
    unindex(tx, entry)?;
    count(tx, entry, -1)?;
    tx.clear(&k::entry(&entry.id))?;
    blob::unlink(tx, entry.blob)
}

/// Entries of one shard in one status, with the creation time of the oldest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ShardCount {
    /// Entries.
    pub entries: i64,
    /// Unix seconds the oldest was accepted (`None`: no entry).
    pub oldest: Option<i64>,
}

/// The count and oldest entry of `shard` in `status` (`pending`, `deferred`, `held`), from
/// the counters and the age index: a cost that does not grow with the queue. Snapshot reads.
pub async fn count_of(tx: &Tx, shard: u16, status: &str) -> Result<ShardCount, StoreError> {
    let entries = tx.get_counter_snapshot(&k::count(shard, status)).await?;
    let (begin, end) = k::ages(shard, status);
    let first = tx.get_range(&begin, &end, snapshot(1)).await?;
    Ok(ShardCount {
        entries,
        oldest: first.first().and_then(|kv| k::age_created(&kv.key)),
    })
}

/// The statuses an entry can be counted in.
pub const STATUSES: [&str; 3] = ["pending", "deferred", "held"];

/// Builds the counters and age index of a queue written before they existed, once (a marker
/// key says it is done). One transaction per shard, each reading that shard's entries through
/// its due index and the held entries of the shard: exact even while others enqueue, within
/// the store's transaction limits for queues of up to some ten thousand entries per shard.
pub async fn count_existing(db: &Db, shards: u16) -> Result<bool, StoreError> {
    let done = db
        .run(|tx| async move { Ok(tx.get(&k::counted()).await?.is_some()) })
        .await?;
    if done {
        return Ok(false);
    }
    for shard in 0..shards {
        db.run(|tx| async move {
            let (begin, end) = k::due_until(shard, i64::MAX - 1);
            let mut ids: Vec<String> = tx
                .get_range(&begin, &end, RangeOptions::default())
                .await?
                .iter()
                .filter_map(|kv| k::due_parts(&kv.key).map(|(_, _, id)| id))
                .collect();
            let (begin, end) = k::helds();
            ids.extend(
                tx.get_range(&begin, &end, RangeOptions::default())
                    .await?
                    .iter()
                    .filter_map(|kv| k::held_id(&kv.key)),
            );
            for status in STATUSES {
                let (begin, end) = k::ages(shard, status);
                tx.clear_range(&begin, &end)?;
                tx.set(&k::count(shard, status), &0i64.to_le_bytes())?;
            }
            for id in ids {
                if let Some(e) = get(&tx, &id).await?
                    && e.shard == shard
                {
                    count(&tx, &e, 1)?;
                }
            }
            Ok(())
        })
        .await?;
    }
    db.run(|tx| async move { tx.set(&k::counted(), &[1]) })
        .await?;
    Ok(true)
}
