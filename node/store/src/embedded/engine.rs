//! One open fjall database and the read view over it, and the slot that holds the current one.
//! fjall poisons itself for good after a failed write (a full disk, an I/O error); the writer
//! then empties the slot, waits for the disk to have room and for every transaction on the old
//! database to end, and opens the directory again, which replays the journal.

use std::{
    path::Path,
    sync::{Arc, Mutex, RwLock},
};

use fjall::{Database, Keyspace, KeyspaceCreateOptions};

use super::{EmbeddedOptions, JOURNAL_BYTES, view::ReadView};
use crate::{error::StoreError, metrics::METRICS, space::Space};

/// An open database.
pub(crate) struct Engine {
    pub(crate) db: Database,
    pub(crate) ks: Keyspace,
    pub(crate) view: ReadView,
}

impl Engine {
    /// Opens (or creates) the database under `path`; its read view starts at `version`.
    pub(crate) fn open(
        path: &Path,
        options: &EmbeddedOptions,
        version: u64,
    ) -> Result<Self, StoreError> {
        let failed = |what: &str, e: fjall::Error| {
            let free = Space::of(path)
                .map(|s| format!("; {} bytes free on its filesystem", s.free_bytes))
                .unwrap_or_default();
            StoreError::Io(format!("{what} {}: {e}{free}", path.display()))
        };
        let db = Database::builder(path)
            .max_journaling_size(JOURNAL_BYTES)
            .cache_size(options.cache_bytes)
            .open()
            .map_err(|e| failed("opening", e))?;
        let ks = db
            .keyspace("tern", || {
                KeyspaceCreateOptions::default().max_memtable_size(options.memtable_bytes)
            })
            .map_err(|e| failed("opening the keyspace in", e))?;
        let view = ReadView::new(&db, version);
        Ok(Engine { db, ks, view })
    }
}

/// The current engine, or why there is none.
pub(crate) struct EngineSlot {
    current: RwLock<Option<Arc<Engine>>>,
    failure: Mutex<String>,
}

impl EngineSlot {
    pub(crate) fn new(engine: Engine) -> Self {
        METRICS.healthy.with_label_values(&["embedded"]).set(1);
        EngineSlot {
            current: RwLock::new(Some(Arc::new(engine))),
            failure: Mutex::new(String::new()),
        }
    }

    /// The engine new transactions use.
    pub(crate) fn current(&self) -> Result<Arc<Engine>, StoreError> {
        self.current
            .read()
            .expect("engine slot lock")
            .clone()
            .ok_or_else(|| {
                StoreError::Unavailable(self.failure.lock().expect("failure lock").clone())
            })
    }

    /// Takes the engine out after a failure; new transactions get `reason` until one is back.
    pub(crate) fn fail(&self, reason: String) -> Option<Arc<Engine>> {
        METRICS.healthy.with_label_values(&["embedded"]).set(0);
        *self.failure.lock().expect("failure lock") = reason;
        self.current.write().expect("engine slot lock").take()
    }

    /// Puts a reopened engine in.
    pub(crate) fn install(&self, engine: Engine) {
        *self.current.write().expect("engine slot lock") = Some(Arc::new(engine));
        METRICS.healthy.with_label_values(&["embedded"]).set(1);
    }

    /// `Err` with the reason while there is no engine.
    pub(crate) fn health(&self) -> Result<(), String> {
        match self.current() {
            Ok(_) => Ok(()),
            Err(e) => Err(e.to_string()),
        }
    }
}
