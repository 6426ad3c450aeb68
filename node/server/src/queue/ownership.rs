//! Which queue shards this node works on. The node is handed an ownership input — a `watch` of
//! shard → owner epoch, from the cluster or, on a single node, from [`single_node`] — and the
//! manager turns it into claims: it writes the node id and epoch into the store's owner record
//! of each shard it gains ([`claim`]) and only then scans the shard, and it gives up a shard
//! the input no longer lists, or whose owner record names a newer epoch (someone else was given
//! it), at once. What the node holds is [`Held`], read by every fenced queue write.

use std::{collections::BTreeMap, sync::RwLock};

use tern_store::{
    Db, StoreError,
    model::queue::shard::{self, Claim, Owner},
};
use tokio::sync::watch;

/// Shard → owner epoch.
pub type Shards = BTreeMap<u16, i64>;

/// The ownership input a single node gives itself: every shard, each one epoch above the
/// store's, so the node's start supersedes whoever held them before (an earlier run of it).
pub async fn single_node(db: &Db, shards: u16) -> Result<watch::Receiver<Shards>, StoreError> {
    let stored: BTreeMap<u16, Owner> = db
        .run(|tx| async move { shard::owners(&tx).await })
        .await?
        .into_iter()
        .collect();
    let given = (0..shards)
        .map(|s| (s, stored.get(&s).map_or(0, |o| o.epoch) + 1))
        .collect();
    // Nothing changes later: the sender's end is dropped and the receiver keeps the value.
    Ok(watch::channel(given).1)
}

/// The shards this node holds: claimed in the store with these epochs.
#[derive(Debug, Default)]
pub struct Held(RwLock<Shards>);

impl Held {
    /// The epoch this node holds `shard` at, if it holds it.
    pub fn epoch(&self, shard: u16) -> Option<i64> {
        self.0.read().ok()?.get(&shard).copied()
    }

    /// A copy of every held shard.
    pub fn all(&self) -> Shards {
        self.0.read().map(|m| m.clone()).unwrap_or_default()
    }

    pub(super) fn insert(&self, shard: u16, epoch: i64) {
        if let Ok(mut m) = self.0.write() {
            m.insert(shard, epoch);
        }
    }

    pub(super) fn remove(&self, shard: u16) {
        if let Ok(mut m) = self.0.write() {
            m.remove(&shard);
        }
    }
}

/// Claims `shard` at `epoch` for `node` in the store.
pub async fn claim(db: &Db, shard: u16, node: u64, epoch: i64) -> Result<Claim, StoreError> {
    db.run(|tx| async move { shard::claim(&tx, shard, node, epoch).await })
        .await
}

/// What changes between the input and what is held: shards to claim (with their epoch) and
/// shards to give up. `refused` are epochs the store already superseded, not claimed again.
pub fn diff(input: &Shards, held: &Shards, refused: &Shards) -> (Vec<(u16, i64)>, Vec<u16>) {
    let gain = input
        .iter()
        .filter(|(s, e)| held.get(s) != Some(e) && refused.get(s) != Some(e))
        .map(|(s, e)| (*s, *e))
        .collect();
    let lose = held
        .iter()
        .filter(|(s, e)| input.get(s) != Some(e))
        .map(|(s, _)| *s)
        .collect();
    (gain, lose)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gains_losses_and_epoch_changes() {
        let input: Shards = [(0, 5), (1, 3), (2, 7)].into();
        let held: Shards = [(1, 3), (2, 6), (3, 1)].into();
        let (gain, lose) = diff(&input, &held, &Shards::new());
        // Shard 2 moved to a new epoch (given away and back): give up the old, claim the new.
        assert_eq!(gain, [(0, 5), (2, 7)]);
        assert_eq!(lose, [2, 3]);
        // An epoch the store refused is not tried again until the input changes it.
        let (gain, _) = diff(&input, &held, &[(0, 5)].into());
        assert_eq!(gain, [(2, 7)]);
    }
}
