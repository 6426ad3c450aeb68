//! The cluster's state as every member holds it (the Raft state machine's data), and the pure
//! decisions made on it: applying a [`Command`], and the leader's balanced assignment of the
//! queue's shards to the active members with the fewest moves.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::types::{Command, Member, Reply};

/// Where a member stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MemberState {
    /// Serving, and given shards.
    Active,
    /// Handing its shards away before it stops (`ternctl cluster drain`).
    Draining,
    /// Missed heartbeats for `cluster.down_after_ms`: its shards moved.
    Down,
}

impl MemberState {
    /// The name in status output and metrics.
    pub fn label(self) -> &'static str {
        match self {
            MemberState::Active => "active",
            MemberState::Draining => "draining",
            MemberState::Down => "down",
        }
    }
}

/// A member as the state machine records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberInfo {
    /// Addresses.
    pub member: Member,
    /// State.
    pub state: MemberState,
}

/// The owner of a shard nobody holds yet.
pub const NO_NODE: u64 = 0;

/// A shard's owner and epoch (the fencing token its owner writes into the store).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardOwner {
    /// Owner node id.
    pub node: u64,
    /// Raised by one at every move.
    pub epoch: i64,
}

/// Members, the shard map and the settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterState {
    /// Members by node id.
    pub members: BTreeMap<u64, MemberInfo>,
    /// Shard → owner.
    pub shards: BTreeMap<u16, ShardOwner>,
    /// The queue's shard count (0: not set yet).
    pub shard_count: u16,
}

impl ClusterState {
    /// Applies one command.
    pub fn apply(&mut self, command: &Command) -> Reply {
        let mut reply = Reply::default();
        match command {
            Command::Shards { count, floor } => {
                if self.shard_count == 0 {
                    self.shard_count = *count;
                    for (shard, epoch) in floor {
                        // Node 0 is no one: the shard is assigned, above this epoch, at once.
                        self.shards.insert(
                            *shard,
                            ShardOwner {
                                node: NO_NODE,
                                epoch: *epoch,
                            },
                        );
                    }
                }
            }
            Command::Up { id, member } => {
                self.members.insert(
                    *id,
                    MemberInfo {
                        member: member.clone(),
                        state: MemberState::Active,
                    },
                );
            }
            Command::State { id, state } => {
                if let Some(m) = self.members.get_mut(id) {
                    m.state = *state;
                }
            }
            Command::Remove { id } => {
                self.members.remove(id);
            }
            Command::Assign(moves) => {
                for (shard, node) in moves {
                    let epoch = self.shards.get(shard).map_or(0, |o| o.epoch) + 1;
                    self.shards
                        .insert(*shard, ShardOwner { node: *node, epoch });
                    reply.moved.push((*shard, *node, epoch));
                }
            }
        }
        reply
    }

    /// The shards `node` owns, with their epochs.
    pub fn owned_by(&self, node: u64) -> BTreeMap<u16, i64> {
        self.shards
            .iter()
            .filter(|(_, o)| o.node == node)
            .map(|(s, o)| (*s, o.epoch))
            .collect()
    }

    /// Active members' ids.
    pub fn active(&self) -> Vec<u64> {
        self.members
            .iter()
            .filter(|(_, m)| m.state == MemberState::Active)
            .map(|(id, _)| *id)
            .collect()
    }

    /// The moves that balance every shard over the active members: each gets `count / n` or
    /// one more; shards of members that are not active (or unknown, or of no one) move first,
    /// then only the surplus of the fullest members. Empty when nothing needs to move or no
    /// member is active.
    pub fn balance(&self) -> Vec<(u16, u64)> {
        let active = self.active();
        if active.is_empty() || self.shard_count == 0 {
            return Vec::new();
        }
        let mut load: BTreeMap<u64, Vec<u16>> = active.iter().map(|id| (*id, Vec::new())).collect();
        let mut homeless = Vec::new();
        for s in 0..self.shard_count {
            match self.shards.get(&s).and_then(|o| load.get_mut(&o.node)) {
                Some(list) => list.push(s),
                None => homeless.push(s),
            }
        }
        let n = active.len();
        let base = usize::from(self.shard_count) / n;
        let extra = usize::from(self.shard_count) % n;
        // The members that keep one more are those holding most now (fewest moves), ties by id.
        let mut by_load: Vec<u64> = active.clone();
        by_load.sort_by_key(|id| (std::cmp::Reverse(load[id].len()), *id));
        let target: BTreeMap<u64, usize> = by_load
            .iter()
            .enumerate()
            .map(|(i, id)| (*id, base + usize::from(i < extra)))
            .collect();
        for (id, list) in load.iter_mut() {
            while list.len() > target[id] {
                if let Some(s) = list.pop() {
                    homeless.push(s);
                }
            }
        }
        homeless.sort_unstable();
        let mut moves = Vec::new();
        for s in homeless {
            let Some((id, _)) = load
                .iter()
                .filter(|(id, list)| list.len() < target[*id])
                .min_by_key(|(id, list)| (list.len(), **id))
            else {
                break;
            };
            let id = *id;
            if let Some(l) = load.get_mut(&id) {
                l.push(s);
            }
            moves.push((s, id));
        }
        moves
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn up(state: &mut ClusterState, id: u64) {
        state.apply(&Command::Up {
            id,
            member: Member::default(),
        });
    }

    fn counts(state: &ClusterState) -> BTreeMap<u64, usize> {
        let mut c = BTreeMap::new();
        for o in state.shards.values() {
            *c.entry(o.node).or_insert(0) += 1;
        }
        c
    }

    #[test]
    fn shards_spread_evenly_and_move_as_little_as_possible() {
        let mut s = ClusterState::default();
        s.apply(&Command::Shards {
            count: 64,
            floor: [(5, 7)].into(),
        });
        up(&mut s, 1);
        let moves = s.balance();
        assert_eq!(moves.len(), 64);
        s.apply(&Command::Assign(moves));
        assert_eq!(s.shards[&5].epoch, 8, "above what the store had");
        assert_eq!(s.shards[&6].epoch, 1);
        assert!(s.balance().is_empty(), "balanced stays put");

        // A second and third node each take their share, and only that.
        up(&mut s, 2);
        let moves = s.balance();
        assert_eq!(moves.len(), 32);
        s.apply(&Command::Assign(moves));
        up(&mut s, 3);
        let moves = s.balance();
        assert_eq!(moves.len(), 21, "64/3: one node gives 11, the other 10");
        s.apply(&Command::Assign(moves));
        let c = counts(&s);
        assert!(c.values().all(|n| (21..=22).contains(n)), "{c:?}");

        // A node goes down: its shards, and only those, move to the others.
        let of_2 = s.owned_by(2).len();
        s.apply(&Command::State {
            id: 2,
            state: MemberState::Down,
        });
        let moves = s.balance();
        assert_eq!(moves.len(), of_2);
        assert!(moves.iter().all(|(_, to)| *to != 2));
        let epochs_before: Vec<i64> = moves.iter().map(|(sh, _)| s.shards[sh].epoch).collect();
        let reply = s.apply(&Command::Assign(moves));
        for ((_, _, epoch), before) in reply.moved.iter().zip(epochs_before) {
            assert_eq!(*epoch, before + 1, "every move raises the epoch");
        }
        let c = counts(&s);
        assert_eq!(c.get(&2), None);
        assert!(c.values().all(|n| *n == 32), "{c:?}");
    }

    #[test]
    fn nothing_to_do_without_active_members_or_shard_count() {
        let mut s = ClusterState::default();
        up(&mut s, 1);
        assert!(s.balance().is_empty());
        s.apply(&Command::Shards {
            count: 4,
            floor: BTreeMap::new(),
        });
        s.apply(&Command::Shards {
            count: 8,
            floor: BTreeMap::new(),
        });
        assert_eq!(s.shard_count, 4, "the count is set once");
        s.apply(&Command::State {
            id: 1,
            state: MemberState::Draining,
        });
        assert!(s.balance().is_empty());
    }
}
