//! The read view: the snapshot every new transaction reads from and the logical version it
//! stands for, published by the writer thread after each durable group.
//!
//! fjall's own visible sequence number cannot serve as a read version: a memtable flush or a
//! compaction that finishes while a batch is being made durable takes a later sequence number
//! and publishes it, so a snapshot opened then claims to include the batch before its items
//! are in the memtable. Such a transaction read the old value under a version the resolver
//! thought was new enough, and its lost update went through (two deliveries given one UID).
//! Only the writer thread commits, so a snapshot it opens between two groups holds exactly
//! the groups committed so far; transactions share that snapshot and its version.

use std::sync::Mutex;

use fjall::{Database, Snapshot};

/// What a transaction reads: a consistent snapshot and the number of groups it includes.
#[derive(Clone)]
pub(crate) struct View {
    pub(crate) snapshot: Snapshot,
    pub(crate) version: u64,
}

/// The current view, replaced by the writer after each committed group.
pub(crate) struct ReadView {
    current: Mutex<View>,
}

impl ReadView {
    /// The view of a database nobody is writing to yet, as `version`.
    pub(crate) fn new(db: &Database, version: u64) -> Self {
        Self {
            current: Mutex::new(View {
                snapshot: db.snapshot(),
                version,
            }),
        }
    }

    /// The view a transaction starting now reads.
    pub(crate) fn current(&self) -> View {
        self.current.lock().expect("read view lock").clone()
    }

    /// Publishes a group the writer just committed; returns the version its writes carry.
    /// Called only by the writer thread, with no batch in flight.
    pub(crate) fn advance(&self, db: &Database) -> u64 {
        let snapshot = db.snapshot();
        let mut current = self.current.lock().expect("read view lock");
        current.version += 1;
        let version = current.version;
        let old = std::mem::replace(&mut current.snapshot, snapshot);
        drop(current);
        // Closing a snapshot may run fjall's snapshot GC; not under the lock.
        drop(old);
        version
    }
}
