//! The embedded backend, the single-node default: fjall (a pure-Rust LSM tree) under the data
//! directory, our own resolver for FoundationDB-style optimistic conflicts, and one writer
//! thread that groups concurrent commits into one fsync, keeps disk headroom and reopens the
//! database after a failed write.

mod engine;
mod resolver;
mod snapshot;
mod tx;
mod view;
mod writer;

use std::{
    path::{Path, PathBuf},
    sync::{Arc, Mutex, mpsc},
    thread::JoinHandle,
};

use async_trait::async_trait;

use self::{
    engine::{Engine, EngineSlot},
    tx::EmbeddedTx,
    writer::CommitRequest,
};
use crate::{
    api::{Store, Transaction},
    error::{Result, StoreError},
    space::Space,
    watch::WatchRegistry,
};

/// Memtable size: flushes (and so compactions, which drop deleted values) happen every 16 MiB
/// written, which keeps the directory close to the live data under expunge-heavy churn.
const MEMTABLE_BYTES: u64 = 16 * 1024 * 1024;
/// Journals kept before a flush is forced (fjall's minimum).
const JOURNAL_BYTES: u64 = 64 * 1024 * 1024;

/// State shared by the store handle, its transactions and the writer thread.
pub(crate) struct Shared {
    engines: Arc<EngineSlot>,
    watches: Arc<WatchRegistry>,
    commits: Mutex<Option<mpsc::Sender<CommitRequest>>>,
    writer: Mutex<Option<JoinHandle<()>>>,
    path: PathBuf,
}

impl Shared {
    fn send(&self, request: CommitRequest) -> Result<()> {
        let commits = self.commits.lock().expect("commit channel lock");
        let sender = commits
            .as_ref()
            .ok_or_else(|| StoreError::Io("store is closed".into()))?;
        sender
            .send(request)
            .map_err(|_| StoreError::Io("store writer stopped".into()))
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // Closing the channel ends the writer after it drains; joining it releases the
        // database so the directory can be opened again in this process.
        self.commits.lock().expect("commit channel lock").take();
        if let Some(handle) = self.writer.lock().expect("writer lock").take() {
            let _ = handle.join();
        }
    }
}

/// Tuning of the embedded store; the defaults suit production.
#[derive(Debug, Clone)]
pub struct EmbeddedOptions {
    /// Bytes written between memtable flushes. Tests make it small so flushes and compactions
    /// run while commits are in flight.
    pub memtable_bytes: u64,
    /// Bytes kept free on the data filesystem: a commit that would leave less is refused with
    /// [`StoreError::NoSpace`] instead of reaching the disk, so flushes still find room.
    pub reserve_bytes: u64,
    /// Bytes of recently read blocks kept in memory.
    pub cache_bytes: u64,
}

impl Default for EmbeddedOptions {
    fn default() -> Self {
        Self {
            memtable_bytes: MEMTABLE_BYTES,
            reserve_bytes: 4 * MEMTABLE_BYTES,
            cache_bytes: 32 << 20,
        }
    }
}

/// The embedded store: files under one directory, one process at a time.
#[derive(Clone)]
pub struct EmbeddedStore {
    shared: Arc<Shared>,
}

impl EmbeddedStore {
    /// Opens (or creates) the store in `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, EmbeddedOptions::default())
    }

    /// Opens (or creates) the store in `path` with the given tuning.
    pub fn open_with(path: impl AsRef<Path>, options: EmbeddedOptions) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        std::fs::create_dir_all(&path)
            .map_err(|e| StoreError::Io(format!("{}: {e}", path.display())))?;
        let engines = Arc::new(EngineSlot::new(Engine::open(&path, &options, 0)?));
        let watches = Arc::new(WatchRegistry::default());
        let (sender, receiver) = mpsc::channel();
        let writer = {
            let context = writer::Context {
                engines: engines.clone(),
                watches: watches.clone(),
                path: path.clone(),
                options,
            };
            std::thread::Builder::new()
                .name("tern-store-writer".into())
                .spawn(move || writer::run(context, receiver))
                .map_err(|e| StoreError::Io(format!("starting writer thread: {e}")))?
        };
        Ok(Self {
            shared: Arc::new(Shared {
                engines,
                watches,
                commits: Mutex::new(Some(sender)),
                writer: Mutex::new(Some(writer)),
                path,
            }),
        })
    }

    /// The data directory.
    pub fn path(&self) -> &Path {
        &self.shared.path
    }
}

#[async_trait]
impl Store for EmbeddedStore {
    async fn begin(&self) -> Result<Box<dyn Transaction>> {
        Ok(Box::new(EmbeddedTx::new(self.shared.clone())?))
    }

    fn backend(&self) -> &'static str {
        "embedded"
    }

    async fn snapshot(&self) -> Result<Box<dyn crate::api::Snapshot>> {
        Ok(Box::new(snapshot::EmbeddedSnapshot::new(
            self.shared.engines.current()?,
        )))
    }

    fn disk_usage(&self) -> Option<u64> {
        Some(allocated_bytes(&self.shared.path))
    }

    fn local_space(&self) -> Option<Space> {
        Space::of(&self.shared.path).ok()
    }

    fn health(&self) -> std::result::Result<(), String> {
        self.shared.engines.health()
    }

    fn memory(&self) -> Vec<(&'static str, u64)> {
        match self.shared.engines.current() {
            Ok(engine) => vec![
                ("store_cache", engine.db.cache_size()),
                ("store_memtables", engine.db.write_buffer_size()),
            ],
            Err(_) => Vec::new(),
        }
    }
}

/// Bytes allocated on disk to every file under `path`. Not their lengths: fjall preallocates
/// its journal as a sparse 64 MiB file, which made a fresh store look 350 times its size.
fn allocated_bytes(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => allocated_bytes(&e.path()),
            Ok(m) => m.blocks() * 512,
            Err(_) => 0,
        })
        .sum()
}
