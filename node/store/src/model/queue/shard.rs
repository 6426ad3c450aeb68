//! Shard ownership fencing. The node given a shard (by the cluster, or a single node taking
//! them all) writes its node id and the shard's new owner epoch into the store before it works
//! on the shard; every queue transaction it makes there checks the epoch is still its own, so
//! a node that lost the shard cannot commit on it any more, whatever it believes.
//!
//! Also here: the shard count the queue was laid out with, stored at first start, because
//! entries are placed by `hash(domain) mod shards` and a different count would strand them.

use crate::{RangeOptions, ReadMode, StoreError, Tx, keys::queue as k};

/// Who owns a shard according to the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Owner {
    /// The owner epoch (0: never claimed).
    pub epoch: i64,
    /// The owner's node id (0: unknown, written before node ids were stored).
    pub node: u64,
}

fn decode(value: Option<Vec<u8>>) -> Owner {
    let Some(v) = value else {
        return Owner::default();
    };
    let word = |at: usize| {
        let mut b = [0u8; 8];
        if let Some(s) = v.get(at..(at + 8).min(v.len())) {
            b[..s.len()].copy_from_slice(s);
        }
        b
    };
    Owner {
        epoch: i64::from_le_bytes(word(0)),
        node: u64::from_le_bytes(word(8)),
    }
}

/// The shard's current owner (serializable read: a concurrent claim aborts the caller).
pub async fn owner(tx: &Tx, shard: u16) -> Result<Owner, StoreError> {
    Ok(decode(tx.get(&k::owner(shard)).await?))
}

/// The owner epoch of every shard ever claimed, by shard, as a snapshot read.
pub async fn owners(tx: &Tx) -> Result<Vec<(u16, Owner)>, StoreError> {
    let (begin, end) = k::owners();
    let options = RangeOptions {
        limit: None,
        reverse: false,
        mode: ReadMode::Snapshot,
    };
    Ok(tx
        .get_range(&begin, &end, options)
        .await?
        .into_iter()
        .filter_map(|kv| Some((k::owner_shard(&kv.key)?, decode(Some(kv.value)))))
        .collect())
}

/// The result of a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// The store now names this node and epoch.
    Claimed,
    /// The store already holds this epoch or a newer one: someone else was given the shard
    /// later, and this node must not work on it.
    Superseded(Owner),
}

/// Writes `node` and `epoch` as the shard's owner, unless the store already holds an epoch as
/// high (claiming the same epoch twice, by the same node, is a no-op success).
pub async fn claim(tx: &Tx, shard: u16, node: u64, epoch: i64) -> Result<Claim, StoreError> {
    let current = owner(tx, shard).await?;
    if current.epoch == epoch && current.node == node {
        return Ok(Claim::Claimed);
    }
    if current.epoch >= epoch {
        return Ok(Claim::Superseded(current));
    }
    let mut value = epoch.to_le_bytes().to_vec();
    value.extend_from_slice(&node.to_le_bytes());
    tx.set(&k::owner(shard), &value)?;
    Ok(Claim::Claimed)
}

/// Whether `held` is still the shard's epoch (read serializably, so a concurrent claim aborts
/// the caller's transaction).
pub async fn still_owned(tx: &Tx, shard: u16, held: i64) -> Result<bool, StoreError> {
    Ok(owner(tx, shard).await?.epoch == held)
}

/// The stored shard count if there is one; otherwise stores `shards` and returns it.
pub async fn layout(tx: &Tx, shards: u16) -> Result<u16, StoreError> {
    if let Some(v) = tx.get(&k::layout()).await? {
        let b = <[u8; 2]>::try_from(v.as_slice()).map_err(|_| StoreError::Corrupt {
            key: crate::keys::printable(&k::layout()),
            reason: format!("shard count of {} bytes", v.len()),
        })?;
        return Ok(u16::from_le_bytes(b));
    }
    tx.set(&k::layout(), &shards.to_le_bytes())?;
    Ok(shards)
}
