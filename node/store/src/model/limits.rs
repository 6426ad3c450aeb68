//! Rate-limit counters and bans, shared by every node. Counters are atomic adds in time
//! buckets (no read conflicts: nodes add without reading, and read with snapshot reads);
//! buckets older than the previous one are cleared as they age. A ban names an IP address or
//! an account, why and until when.

use serde::{Deserialize, Serialize};

use super::codec;
use crate::{StoreError, Tx, keys::limits as k};

/// Adds `n` to the count of `subject` in `space`, bucket `bucket`.
pub fn add(tx: &Tx, space: &str, bucket: i64, subject: &str, n: i64) -> Result<(), StoreError> {
    tx.atomic_add(&k::count(space, bucket, subject), n)
}

/// The count of `subject` in `space`, bucket `bucket` (a snapshot read).
pub async fn count(tx: &Tx, space: &str, bucket: i64, subject: &str) -> Result<i64, StoreError> {
    tx.get_counter_snapshot(&k::count(space, bucket, subject))
        .await
}

/// Clears the counts of `space` in buckets before `bucket`.
pub fn expire(tx: &Tx, space: &str, bucket: i64) -> Result<(), StoreError> {
    let (begin, end) = k::before(space, bucket);
    tx.clear_range(&begin, &end)
}

/// A temporary ban.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ban {
    /// `ip` or `account`.
    pub kind: String,
    /// The address or account name.
    pub subject: String,
    /// Why (the limit it passed).
    pub reason: String,
    /// Unix seconds it was set.
    pub since: i64,
    /// Unix seconds it ends (lifted: set to when it was lifted).
    pub until: i64,
    /// The count of failures it ended: counting starts again at the next generation once it
    /// is over.
    #[serde(default)]
    pub generation: u64,
}

/// Stores `ban` (replacing one of the same subject).
pub fn put(tx: &Tx, ban: &Ban) -> Result<(), StoreError> {
    codec::write(tx, &k::ban(&ban.kind, &ban.subject), ban)
}

/// The ban of `subject` of `kind`, if one is stored (it may have ended: see `until`).
pub async fn get(tx: &Tx, kind: &str, subject: &str) -> Result<Option<Ban>, StoreError> {
    codec::read(tx, &k::ban(kind, subject)).await
}

/// Every stored ban.
pub async fn all(tx: &Tx) -> Result<Vec<Ban>, StoreError> {
    codec::read_all(tx, &k::bans()).await
}

/// Removes the ban of `subject` of `kind`; whether there was one.
pub async fn lift(tx: &Tx, kind: &str, subject: &str) -> Result<bool, StoreError> {
    let key = k::ban(kind, subject);
    let had = tx.get(&key).await?.is_some();
    tx.clear(&key)?;
    Ok(had)
}
