//! The cluster's Raft type configuration: node ids are `u64` (`cluster.node_id`), a member is
//! known by its addresses, log entries carry [`Command`]s and their results are [`Reply`]s.

use std::{collections::BTreeMap, fmt, io::Cursor};

use serde::{Deserialize, Serialize};

use crate::state::MemberState;

/// Where a member is reached.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// The cluster port (`listeners.cluster`): Raft and cluster requests.
    pub raft: String,
    /// The admin HTTP endpoint (`listeners.http`), for `ternctl` to be pointed at.
    pub admin: String,
}

impl fmt::Display for Member {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "raft {} admin {}", self.raft, self.admin)
    }
}

/// A change to the cluster's state, decided by the leader and applied by every member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Sets the queue's shard count (once, by the node that starts the cluster), with the owner
    /// epochs the store already holds, so the cluster's first epochs are above them.
    Shards {
        /// Shard count.
        count: u16,
        /// Shard → the highest epoch the store has seen.
        floor: BTreeMap<u16, i64>,
    },
    /// Records a member (joining, or its addresses changed) as active.
    Up {
        /// Node id.
        id: u64,
        /// Its addresses.
        member: Member,
    },
    /// Changes a member's state (draining, down, active again).
    State {
        /// Node id.
        id: u64,
        /// The new state.
        state: MemberState,
    },
    /// Forgets a member.
    Remove {
        /// Node id.
        id: u64,
    },
    /// Gives shards to nodes; each given shard's epoch goes up by one.
    Assign(Vec<(u16, u64)>),
}

/// The result of applying a command.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    /// Shards whose owner changed, with the new owner and epoch.
    pub moved: Vec<(u16, u64, i64)>,
}

openraft::declare_raft_types!(
    /// Tern's Raft types.
    pub TypeConfig:
        D = Command,
        R = Reply,
        NodeId = u64,
        Node = Member,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

/// The Raft handle of a node.
pub type Raft = openraft::Raft<TypeConfig>;
/// Storage errors as openraft wants them.
pub type StorageError = openraft::StorageError<u64>;
