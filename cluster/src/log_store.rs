//! The Raft log in the node's data directory (`<data_dir>/raft`, a fjall database of its own):
//! entries by index, the vote, the committed id and the last purged id. An append is reported
//! flushed to openraft only after fjall synced it to disk, and the vote is synced before
//! `save_vote` returns: what Raft's safety rests on.

use std::{
    fmt::Debug,
    ops::RangeBounds,
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use fjall::{Database, Keyspace, KeyspaceCreateOptions, PersistMode};
use openraft::{
    AnyError, Entry, LogId, LogState, RaftLogReader, StorageIOError, Vote,
    storage::{LogFlushed, RaftLogStorage},
};
use serde::{Serialize, de::DeserializeOwned};

use crate::types::{StorageError, TypeConfig};

const VOTE: &[u8] = b"vote";
const COMMITTED: &[u8] = b"committed";
const PURGED: &[u8] = b"purged";

/// The log of one node; clones share it.
#[derive(Clone)]
pub struct LogStore {
    inner: Arc<Inner>,
}

struct Inner {
    db: Database,
    log: Keyspace,
    meta: Keyspace,
    /// The index of the last entry known committed (0: none), for status and metrics.
    committed: AtomicU64,
}

fn io(e: impl std::fmt::Display) -> AnyError {
    AnyError::error(e)
}

fn write_err(e: impl std::fmt::Display) -> StorageError {
    StorageIOError::write_logs(io(e)).into()
}

fn read_err(e: impl std::fmt::Display) -> StorageError {
    StorageIOError::read_logs(io(e)).into()
}

impl LogStore {
    /// Opens (or creates) the log under `dir`.
    pub fn open(dir: &Path) -> anyhow::Result<LogStore> {
        let db = Database::builder(dir).open()?;
        let log = db.keyspace("log", KeyspaceCreateOptions::default)?;
        let meta = db.keyspace("meta", KeyspaceCreateOptions::default)?;
        let store = LogStore {
            inner: Arc::new(Inner {
                db,
                log,
                meta,
                committed: AtomicU64::new(0),
            }),
        };
        let committed = store.get_meta::<Option<LogId<u64>>>(COMMITTED)?.flatten();
        store.note_committed(committed);
        Ok(store)
    }

    /// The index of the last entry known committed here (0: none yet).
    pub fn commit_index(&self) -> u64 {
        self.inner.committed.load(Ordering::Relaxed)
    }

    fn note_committed(&self, committed: Option<LogId<u64>>) {
        self.inner
            .committed
            .store(committed.map_or(0, |c| c.index), Ordering::Relaxed);
    }

    fn get_meta<T: DeserializeOwned>(&self, key: &[u8]) -> Result<Option<T>, StorageError> {
        match self.inner.meta.get(key).map_err(read_err)? {
            Some(v) => Ok(Some(serde_json::from_slice(&v).map_err(read_err)?)),
            None => Ok(None),
        }
    }

    /// Writes a meta value and syncs it.
    async fn put_meta<T: Serialize>(
        &self,
        key: &'static [u8],
        value: &T,
    ) -> Result<(), StorageError> {
        let bytes = serde_json::to_vec(value).map_err(write_err)?;
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            inner.meta.insert(key, bytes)?;
            inner.db.persist(PersistMode::SyncAll)
        })
        .await
        .map_err(write_err)?
        .map_err(write_err)
    }

    fn last_entry(&self) -> Result<Option<LogId<u64>>, StorageError> {
        match self.inner.log.last_key_value() {
            Some(kv) => {
                let (_, v) = kv.into_inner().map_err(read_err)?;
                let e: Entry<TypeConfig> = serde_json::from_slice(&v).map_err(read_err)?;
                Ok(Some(e.log_id))
            }
            None => Ok(None),
        }
    }
}

fn index_key(i: u64) -> [u8; 8] {
    i.to_be_bytes()
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, StorageError> {
        use std::ops::Bound;
        let start = match range.start_bound() {
            Bound::Included(i) => *i,
            Bound::Excluded(i) => i.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let mut out = Vec::new();
        for kv in self.inner.log.range(index_key(start)..) {
            let (k, v) = kv.into_inner().map_err(read_err)?;
            let mut b = [0u8; 8];
            b.copy_from_slice(&k[..8]);
            if !range.contains(&u64::from_be_bytes(b)) {
                break;
            }
            out.push(serde_json::from_slice(&v).map_err(read_err)?);
        }
        Ok(out)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let purged: Option<LogId<u64>> = self.get_meta(PURGED)?;
        let last = self.last_entry()?.or(purged);
        Ok(LogState {
            last_purged_log_id: purged,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<u64>) -> Result<(), StorageError> {
        self.put_meta(VOTE, vote).await
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<u64>>, StorageError> {
        self.get_meta(VOTE)
    }

    async fn save_committed(&mut self, committed: Option<LogId<u64>>) -> Result<(), StorageError> {
        self.put_meta(COMMITTED, &committed).await?;
        self.note_committed(committed);
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<u64>>, StorageError> {
        Ok(self.get_meta::<Option<LogId<u64>>>(COMMITTED)?.flatten())
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + Send,
        I::IntoIter: Send,
    {
        let mut rows = Vec::new();
        for e in entries {
            rows.push((
                index_key(e.log_id.index),
                serde_json::to_vec(&e).map_err(write_err)?,
            ));
        }
        let inner = self.inner.clone();
        let done = tokio::task::spawn_blocking(move || {
            let mut batch = inner.db.batch().durability(Some(PersistMode::SyncAll));
            for (k, v) in rows {
                batch.insert(&inner.log, k, v);
            }
            batch.commit()
        })
        .await
        .map_err(write_err)?;
        // Reported flushed only now that the entries are synced to disk.
        match done {
            Ok(()) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                callback.log_io_completed(Err(std::io::Error::other(e.to_string())));
                Err(write_err(e))
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId<u64>) -> Result<(), StorageError> {
        self.remove_range(log_id.index, u64::MAX).await
    }

    async fn purge(&mut self, log_id: LogId<u64>) -> Result<(), StorageError> {
        self.put_meta(PURGED, &log_id).await?;
        self.remove_range(0, log_id.index.saturating_add(1)).await
    }
}

impl LogStore {
    /// Removes the entries with index in `[from, to)`.
    async fn remove_range(&self, from: u64, to: u64) -> Result<(), StorageError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let keys: Vec<Vec<u8>> = inner
                .log
                .range(index_key(from)..)
                .map(|kv| kv.key().map(|k| k.to_vec()))
                .take_while(|k| {
                    k.as_ref().map_or(true, |k| {
                        let mut b = [0u8; 8];
                        b.copy_from_slice(&k[..8]);
                        u64::from_be_bytes(b) < to
                    })
                })
                .collect::<Result<_, _>>()?;
            let mut batch = inner.db.batch().durability(Some(PersistMode::SyncAll));
            for k in keys {
                batch.remove(&inner.log, k);
            }
            batch.commit()
        })
        .await
        .map_err(write_err)?
        .map_err(write_err)
    }
}
