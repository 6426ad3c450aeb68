//! Store watches for sessions that follow many mailboxes at once (NOTIFY). The node keeps one
//! store watch per key however many sessions follow it ([`Watches`]; a store allows a bounded
//! number of watches per node), re-armed after each change, with a counter bumped after each
//! arming. A session's [`Watcher`] follows a set of keys behind one wake-up signal; following
//! a key signals once at the start, so a session that reads the state on each signal misses no
//! change made before it followed. Dropping the last follower of a key ends its store watch.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex, Weak},
};

use tern_store::Db;
use tokio::{sync::watch, task::JoinHandle};

/// One store watch shared by the node's followers of a key.
pub struct Shared {
    bumps: watch::Sender<u64>,
    task: JoinHandle<()>,
}

impl Drop for Shared {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The node's shared watches, by key.
pub struct Watches {
    db: Db,
    keys: Mutex<HashMap<Vec<u8>, Weak<Shared>>>,
}

fn arm_forever(db: Db, key: Vec<u8>, bumps: watch::Sender<u64>) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let armed = async {
                let tx = db.begin().await?;
                let w = tx.watch(&key)?;
                tx.commit().await?;
                Ok::<_, tern_store::StoreError>(w)
            }
            .await;
            bumps.send_modify(|n| *n += 1);
            match armed {
                Ok(w) => {
                    if let Err(e) = w.await {
                        tracing::debug!(error = %e, "a NOTIFY watch ended; re-arming");
                        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot watch a mailbox for NOTIFY; retrying");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
            }
        }
    })
}

impl Watches {
    /// No watches yet, over `db`.
    pub fn new(db: Db) -> Self {
        Self {
            db,
            keys: Mutex::new(HashMap::new()),
        }
    }

    /// The node's watch on `key`, armed now if nobody follows it yet.
    fn follow(&self, key: &[u8]) -> Arc<Shared> {
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(shared) = keys.get(key).and_then(Weak::upgrade) {
            return shared;
        }
        keys.retain(|_, w| w.strong_count() > 0);
        let bumps = watch::channel(0).0;
        let task = arm_forever(self.db.clone(), key.to_vec(), bumps.clone());
        let shared = Arc::new(Shared { bumps, task });
        keys.insert(key.to_vec(), Arc::downgrade(&shared));
        shared
    }
}

/// A session's followed keys behind one signal.
pub struct Watcher {
    watches: Arc<Watches>,
    /// Each key's shared watch and the task that passes its bumps on to the signal.
    followed: HashMap<Vec<u8>, (Arc<Shared>, JoinHandle<()>)>,
    signal: watch::Sender<u64>,
    /// The session's view of the signal.
    seen: watch::Receiver<u64>,
    /// The keys that changed since [`Watcher::take_dirty`] last took them.
    dirty: Arc<Mutex<HashSet<Vec<u8>>>>,
}

impl Watcher {
    /// A watcher on no keys yet.
    pub fn new(watches: Arc<Watches>) -> Self {
        let (signal, seen) = watch::channel(0);
        Self {
            watches,
            followed: HashMap::new(),
            signal,
            seen,
            dirty: Arc::default(),
        }
    }

    /// Follows exactly `keys` from now on.
    pub fn set_keys(&mut self, keys: impl IntoIterator<Item = Vec<u8>>) {
        let keys: HashSet<Vec<u8>> = keys.into_iter().collect();
        self.followed.retain(|k, (_, pass)| {
            let keep = keys.contains(k);
            if !keep {
                pass.abort();
            }
            keep
        });
        for key in keys {
            if self.followed.contains_key(&key) {
                continue;
            }
            let shared = self.watches.follow(&key);
            let mut bumps = shared.bumps.subscribe();
            let signal = self.signal.clone();
            let dirty = self.dirty.clone();
            let changed = key.clone();
            let pass = tokio::spawn(async move {
                loop {
                    dirty
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .insert(changed.clone());
                    signal.send_modify(|n| *n += 1);
                    if bumps.changed().await.is_err() {
                        return;
                    }
                }
            });
            self.followed.insert(key, (shared, pass));
        }
    }

    /// A receiver that wakes on the first change not yet marked [`Watcher::mark_seen`].
    pub fn receiver(&self) -> watch::Receiver<u64> {
        self.seen.clone()
    }

    /// The keys that changed since the last call (each key counts as changed once when it is
    /// first followed).
    pub fn take_dirty(&mut self) -> HashSet<Vec<u8>> {
        std::mem::take(&mut *self.dirty.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Marks every key changed and signals again in a second: the state could not be read,
    /// and is to be read again.
    pub fn retry_soon(&self) {
        self.dirty
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(self.followed.keys().cloned());
        let signal = self.signal.clone();
        tokio::spawn(async move {
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
            signal.send_modify(|n| *n += 1);
        });
    }

    /// Marks every change so far as seen: call it before reading the state they changed.
    pub fn mark_seen(&mut self) {
        self.seen.borrow_and_update();
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        for (_, pass) in self.followed.values() {
            pass.abort();
        }
    }
}
