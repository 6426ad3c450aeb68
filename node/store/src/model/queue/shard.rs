//! Shard ownership fencing. A node takes a shard by raising its owner epoch in the store and
//! remembers the value; every queue transaction it makes on that shard checks the epoch is
//! still its own, so a node that lost the shard (the cluster handed it on) cannot commit there.

use crate::{StoreError, Tx, keys::queue as k};

/// The shard's current owner epoch (0: never claimed).
pub async fn epoch(tx: &Tx, shard: u16) -> Result<i64, StoreError> {
    tx.get_counter(&k::owner(shard)).await
}

/// Claims the shard: raises its epoch by one and returns the new value.
pub async fn claim(tx: &Tx, shard: u16) -> Result<i64, StoreError> {
    let next = epoch(tx, shard).await? + 1;
    tx.set(&k::owner(shard), &next.to_le_bytes())?;
    Ok(next)
}

/// Whether `held` is still the shard's epoch (read serializably, so a concurrent claim aborts
/// the caller's transaction).
pub async fn still_owned(tx: &Tx, shard: u16, held: i64) -> Result<bool, StoreError> {
    Ok(epoch(tx, shard).await? == held)
}
