//! The `Store` and `Transaction` traits: the one interface with FoundationDB's semantics that
//! every backend implements and all mail logic is written against.

use std::{future::Future, pin::Pin};

use async_trait::async_trait;

use crate::error::Result;

/// One key and its value, as returned by range reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    /// The key.
    pub key: Vec<u8>,
    /// The value.
    pub value: Vec<u8>,
}

/// Whether a read takes part in conflict detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReadMode {
    /// Serializable: a later conflicting write by another transaction aborts this one.
    #[default]
    Serializable,
    /// Snapshot: the read sees the same consistent version but adds no read conflict.
    Snapshot,
}

/// How a range read walks and where it stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RangeOptions {
    /// At most this many pairs (`None`: all of them).
    pub limit: Option<usize>,
    /// From the end of the range towards its beginning.
    pub reverse: bool,
    /// Conflict behaviour.
    pub mode: ReadMode,
}

impl RangeOptions {
    /// Forward, unlimited, serializable.
    pub fn all() -> Self {
        Self::default()
    }

    /// At most `n` pairs.
    pub fn limit(mut self, n: usize) -> Self {
        self.limit = Some(n);
        self
    }

    /// Walk backwards.
    pub fn reverse(mut self) -> Self {
        self.reverse = true;
        self
    }

    /// Snapshot read: no read conflict.
    pub fn snapshot(mut self) -> Self {
        self.mode = ReadMode::Snapshot;
        self
    }
}

/// A future that resolves when a watched key's value changes (or with an error if the watch
/// could not be kept, e.g. its transaction never committed).
pub type Watch = Pin<Box<dyn Future<Output = Result<()>> + Send + 'static>>;

/// A transactional key-value store with FoundationDB's semantics.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Starts a transaction at the current read version.
    async fn begin(&self) -> Result<Box<dyn Transaction>>;

    /// The backend's name for logs and metrics (`embedded`, `fdb`).
    fn backend(&self) -> &'static str;

    /// Bytes the store uses on the local disk, when it has a local disk.
    fn disk_usage(&self) -> Option<u64> {
        None
    }

    /// The filesystem holding the store's local data, when it has one.
    fn local_space(&self) -> Option<crate::space::Space> {
        None
    }

    /// A consistent read-only view of everything, held as long as the caller needs it
    /// (backups), unlike a transaction. Backends that cannot hold one say what to use instead.
    async fn snapshot(&self) -> Result<Box<dyn Snapshot>> {
        Err(crate::StoreError::Backend {
            code: 0,
            message: format!(
                "the {} backend has no long-lived snapshot; back it up with its own tools",
                self.backend()
            ),
            retryable: false,
        })
    }

    /// Whether conflicts are exactly FoundationDB's: a commit fails if and only if something it
    /// read serializably was written by a transaction that committed after its read version.
    /// Backends that make transactions serializable by other means (PostgreSQL's serializable
    /// snapshot isolation) say `false`: they may commit a stale read that no cycle depends on
    /// (ordering it first), and may refuse commits FoundationDB would take; they still refuse
    /// every anomaly.
    fn conflicts_exactly(&self) -> bool {
        true
    }

    /// Bytes of memory the backend holds in this process, by part (`store_cache`,
    /// `store_memtables`); empty when it keeps nothing worth counting here.
    fn memory(&self) -> Vec<(&'static str, u64)> {
        Vec::new()
    }

    /// `Err` with the reason (and what to do) while the backend cannot commit.
    fn health(&self) -> std::result::Result<(), String> {
        Ok(())
    }
}

/// A consistent, read-only, long-lived view of the whole store (see [`Store::snapshot`]).
#[async_trait]
pub trait Snapshot: Send + Sync {
    /// At most `limit` pairs of `[begin, end)`, in key order.
    async fn get_range(&self, begin: &[u8], end: &[u8], limit: usize) -> Result<Vec<KeyValue>>;
}

/// One serializable transaction.
///
/// Reads see the transaction's own writes. Mutations are buffered and applied atomically by
/// [`Transaction::commit`], which fails with [`crate::StoreError::NotCommitted`] when another
/// transaction committed a write to anything this one read serializably after it started.
/// Limits are checked by [`crate::Tx`] before calls reach a backend.
#[async_trait]
pub trait Transaction: Send + Sync {
    /// Reads one key.
    async fn get(&self, key: &[u8], mode: ReadMode) -> Result<Option<Vec<u8>>>;

    /// Reads the keys in `[begin, end)`.
    async fn get_range(
        &self,
        begin: &[u8],
        end: &[u8],
        opts: RangeOptions,
    ) -> Result<Vec<KeyValue>>;

    /// Sets a key.
    fn set(&self, key: &[u8], value: &[u8]);

    /// Clears a key.
    fn clear(&self, key: &[u8]);

    /// Clears every key in `[begin, end)`.
    fn clear_range(&self, begin: &[u8], end: &[u8]);

    /// Adds `delta` to the little-endian signed 64-bit counter at `key` without a read
    /// conflict (a missing key counts as zero).
    fn atomic_add(&self, key: &[u8], delta: i64);

    /// Watches `key`: the future resolves once the key's value differs from the value this
    /// transaction sees. It is armed when the transaction commits.
    fn watch(&self, key: &[u8]) -> Result<Watch>;

    /// Commits, durably, every buffered mutation. A transaction commits at most once; later
    /// calls fail with [`crate::StoreError::Cancelled`].
    async fn commit(&self) -> Result<()>;
}
