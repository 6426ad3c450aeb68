//! The Raft state machine: the [`ClusterState`] held in memory, with the last applied log id and
//! membership, published on a `watch` for the rest of the node (shard ownership, status). Its
//! snapshot is the state as JSON, written to `<raft dir>/snapshot.json` (synced, then renamed
//! into place) so a restarted node starts from it and the log before it can be purged.
//!
//! `apply` answers every entry, blank and membership ones included (openraft waits for a reply
//! per entry).

use std::{
    io::{Cursor, Write},
    path::{Path, PathBuf},
    sync::Arc,
};

use openraft::{
    AnyError, EntryPayload, LogId, RaftSnapshotBuilder, Snapshot, SnapshotMeta, StorageIOError,
    StoredMembership, storage::RaftStateMachine,
};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::{
    state::ClusterState,
    types::{Member, Reply, StorageError, TypeConfig},
};

/// What has been applied: the state and where in the log it stands.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Applied {
    /// The last applied log id.
    pub last: Option<LogId<u64>>,
    /// The last applied membership.
    pub membership: StoredMembership<u64, Member>,
    /// The cluster's state.
    pub state: ClusterState,
}

/// A stored snapshot: its metadata and the applied state it holds.
#[derive(Serialize, Deserialize)]
struct Stored {
    meta: SnapshotMeta<u64, Member>,
    applied: Applied,
}

/// The state machine of one node; clones share it.
#[derive(Clone)]
pub struct StateMachine {
    applied: Arc<watch::Sender<Applied>>,
    path: PathBuf,
}

fn sm_err(e: impl std::fmt::Display) -> StorageError {
    StorageIOError::write_state_machine(AnyError::error(e)).into()
}

impl StateMachine {
    /// The state machine of the Raft directory `dir`, from its snapshot if there is one.
    pub fn open(dir: &Path) -> anyhow::Result<StateMachine> {
        let path = dir.join("snapshot.json");
        let applied = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice::<Stored>(&bytes)?.applied,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Applied::default(),
            Err(e) => return Err(e.into()),
        };
        Ok(StateMachine {
            applied: Arc::new(watch::channel(applied).0),
            path,
        })
    }

    /// Follows what is applied.
    pub fn watch(&self) -> watch::Receiver<Applied> {
        self.applied.subscribe()
    }

    fn read_stored(&self) -> Result<Option<Stored>, StorageError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => Ok(Some(serde_json::from_slice(&bytes).map_err(sm_err)?)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(sm_err(e)),
        }
    }

    fn write_stored(&self, stored: &Stored) -> Result<(), StorageError> {
        let bytes = serde_json::to_vec(stored).map_err(sm_err)?;
        let tmp = self.path.with_extension("json.tmp");
        let mut f = std::fs::File::create(&tmp).map_err(sm_err)?;
        f.write_all(&bytes).map_err(sm_err)?;
        f.sync_all().map_err(sm_err)?;
        std::fs::rename(&tmp, &self.path).map_err(sm_err)?;
        if let Some(dir) = self.path.parent() {
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(sm_err)?;
        }
        Ok(())
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let applied = self.applied.borrow().clone();
        let meta = SnapshotMeta {
            last_log_id: applied.last,
            last_membership: applied.membership.clone(),
            snapshot_id: format!(
                "{}-{}",
                applied.last.map_or(0, |l| l.leader_id.term),
                applied.last.map_or(0, |l| l.index)
            ),
        };
        let stored = Stored {
            meta: meta.clone(),
            applied,
        };
        self.write_stored(&stored)?;
        let data = serde_json::to_vec(&stored.applied).map_err(sm_err)?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = StateMachine;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<u64>>, StoredMembership<u64, Member>), StorageError> {
        let a = self.applied.borrow();
        Ok((a.last, a.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Reply>, StorageError>
    where
        I: IntoIterator<Item = openraft::Entry<TypeConfig>> + Send,
        I::IntoIter: Send,
    {
        let mut replies = Vec::new();
        self.applied.send_modify(|a| {
            for entry in entries {
                a.last = Some(entry.log_id);
                let reply = match entry.payload {
                    EntryPayload::Blank => Reply::default(),
                    EntryPayload::Normal(command) => a.state.apply(&command),
                    EntryPayload::Membership(m) => {
                        a.membership = StoredMembership::new(Some(entry.log_id), m);
                        Reply::default()
                    }
                };
                replies.push(reply);
            }
        });
        Ok(replies)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<u64, Member>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let applied: Applied = serde_json::from_slice(snapshot.get_ref()).map_err(sm_err)?;
        self.write_stored(&Stored {
            meta: meta.clone(),
            applied: applied.clone(),
        })?;
        self.applied.send_replace(applied);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        Ok(self.read_stored()?.map(|s| Snapshot {
            meta: s.meta,
            snapshot: Box::new(Cursor::new(
                serde_json::to_vec(&s.applied).unwrap_or_default(),
            )),
        }))
    }
}
