//! The group-commit writer: one thread that takes every transaction waiting to commit,
//! checks each for conflicts, applies the survivors to one fjall batch and makes that batch
//! durable with a single fsync before anyone sees it or is told it committed.

use std::{
    collections::BTreeMap,
    path::PathBuf,
    sync::{
        Arc,
        mpsc::{self, RecvTimeoutError},
    },
    time::{Duration, Instant},
};

use fjall::{Keyspace, PersistMode, Readable, Snapshot};
use tokio::sync::oneshot;

use super::{
    EmbeddedOptions,
    engine::{Engine, EngineSlot},
    resolver::{Resolver, Written},
};
use crate::{
    buffer::{Op, WriteBuffer},
    error::StoreError,
    limits::MAX_TRANSACTION_AGE,
    metrics::METRICS,
    space::Space,
    tx::apply_add,
    watch::WatchRegistry,
};

/// Most transactions folded into one durable batch.
const MAX_GROUP: usize = 1024;
/// How often the writer checks that the database is still healthy (a failed background flush
/// poisons it without any commit noticing, and commits refused for space never reach it).
const PROBE_EVERY: Duration = Duration::from_secs(2);
/// Fewer free inodes than this refuse commits, as too little space does.
const MIN_FREE_INODES: u64 = 256;
/// How often the recovering writer repeats what it is waiting for.
const WAITING_LOG_EVERY: Duration = Duration::from_secs(60);

/// A transaction asking to commit.
pub(crate) struct CommitRequest {
    pub(crate) read_version: u64,
    pub(crate) started: Instant,
    pub(crate) reads: Vec<(Vec<u8>, Vec<u8>)>,
    pub(crate) buffer: WriteBuffer,
    pub(crate) reply: oneshot::Sender<Result<(), StoreError>>,
}

pub(crate) fn io(e: impl std::fmt::Display) -> StoreError {
    StoreError::Io(e.to_string())
}

/// What the writer thread works with.
pub(crate) struct Context {
    pub(crate) engines: Arc<EngineSlot>,
    pub(crate) watches: Arc<WatchRegistry>,
    pub(crate) path: PathBuf,
    pub(crate) options: EmbeddedOptions,
}

/// Runs until every sender is gone.
pub(crate) fn run(cx: Context, rx: mpsc::Receiver<CommitRequest>) {
    let mut resolver = Resolver::default();
    let mut probed = Instant::now();
    loop {
        if probed.elapsed() >= PROBE_EVERY {
            probed = Instant::now();
            if let Some((engine, reason)) = probe(&cx)
                && !recover(&cx, engine, reason, &rx)
            {
                return;
            }
        }
        let failure = match rx.recv_timeout(PROBE_EVERY) {
            Ok(first) => {
                let mut group = vec![first];
                while group.len() < MAX_GROUP {
                    match rx.try_recv() {
                        Ok(req) => group.push(req),
                        Err(_) => break,
                    }
                }
                match cx.engines.current() {
                    Ok(engine) => commit_group(&cx, &engine, group, &mut resolver)
                        .map(|reason| (engine, reason)),
                    Err(e) => {
                        refuse(group, &e);
                        None
                    }
                }
            }
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        if let Some((engine, reason)) = failure
            && !recover(&cx, engine, reason, &rx)
        {
            return;
        }
    }
}

/// Whether an idle database is still healthy: a poisoned one refuses even an empty persist.
fn probe(cx: &Context) -> Option<(Arc<Engine>, String)> {
    let engine = cx.engines.current().ok()?;
    match engine.db.persist(PersistMode::Buffer) {
        Ok(()) => None,
        Err(e) => Some((engine, e.to_string())),
    }
}

fn refuse(group: Vec<CommitRequest>, error: &StoreError) {
    for req in group {
        finish(req.reply, Err(error.clone()));
    }
}

/// Takes a failed database out of service and reopens it once the disk has room and no
/// transaction holds it. Meanwhile commits are refused as unavailable. Returns `false` when
/// the store closed instead.
fn recover(
    cx: &Context,
    failed: Arc<Engine>,
    reason: String,
    rx: &mpsc::Receiver<CommitRequest>,
) -> bool {
    // Reopening writes a fresh journal and soon a memtable: room for those on top of the reserve.
    let reserve = cx
        .options
        .reserve_bytes
        .saturating_add(2 * cx.options.memtable_bytes);
    let why = format!(
        "a write failed ({reason}); the store reopens itself once {reserve} bytes are free on the \
         filesystem of {}",
        cx.path.display()
    );
    tracing::error!(
        path = %cx.path.display(), error = %reason, reserve,
        "the store stopped taking writes after a failed write: free disk space on its filesystem \
         (or grow the volume); it reopens itself and replays its journal once there is room"
    );
    let version = failed.view.current().version + 1;
    drop(cx.engines.fail(why.clone()));
    let mut failed = Some(failed);
    let mut said = Instant::now();
    loop {
        match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(req) => finish(req.reply, Err(StoreError::Unavailable(why.clone()))),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return false,
        }
        if failed.as_ref().is_some_and(|e| Arc::strong_count(e) > 1) {
            continue; // transactions still read the old database; they end within 5 s
        }
        // The last handle: closing the database releases its directory lock.
        failed = None;
        let free = Space::of(&cx.path).map(|s| s.free_bytes).unwrap_or(0);
        if free < reserve {
            if said.elapsed() >= WAITING_LOG_EVERY {
                tracing::warn!(path = %cx.path.display(), free, reserve, "store still waiting for disk space");
                said = Instant::now();
            }
            continue;
        }
        match Engine::open(&cx.path, &cx.options, version) {
            Ok(engine) => {
                cx.engines.install(engine);
                tracing::info!(path = %cx.path.display(), free, "store reopened and taking writes again");
                return true;
            }
            Err(e) => {
                if said.elapsed() >= WAITING_LOG_EVERY {
                    tracing::warn!(error = %e, "reopening the store failed; trying again");
                    said = Instant::now();
                }
            }
        }
    }
}

/// Why the disk has no room for `bytes` more, if it has not.
fn no_room(cx: &Context, bytes: u64) -> Option<StoreError> {
    let space = Space::of(&cx.path).ok()?;
    let reserve = cx.options.reserve_bytes;
    if space.free_bytes < reserve.saturating_add(bytes) {
        return Some(StoreError::NoSpace(format!(
            "{} bytes free on the data filesystem; the store keeps {reserve} free",
            space.free_bytes
        )));
    }
    if space.total_inodes > 0 && space.free_inodes < MIN_FREE_INODES {
        return Some(StoreError::NoSpace(format!(
            "{} inodes free on the data filesystem",
            space.free_inodes
        )));
    }
    None
}

/// Commits one group; returns why the database failed if it did (the group has its answer).
fn commit_group(
    cx: &Context,
    engine: &Engine,
    group: Vec<CommitRequest>,
    resolver: &mut Resolver,
) -> Option<String> {
    let bytes: usize = group.iter().map(|r| r.buffer.written_bytes()).sum();
    if let Some(e) = no_room(cx, bytes as u64) {
        refuse(group, &e);
        return None;
    }
    let (db, ks) = (&engine.db, &engine.ks);
    let started = Instant::now();
    let committed = engine.view.current().snapshot;
    let mut batch = db.batch().durability(Some(PersistMode::SyncAll));
    let mut overlay: BTreeMap<Vec<u8>, Option<Vec<u8>>> = BTreeMap::new();
    let mut written = Written::default();
    let mut accepted = Vec::with_capacity(group.len());
    for req in group {
        if req.started.elapsed() > MAX_TRANSACTION_AGE {
            finish(req.reply, Err(StoreError::TransactionTooOld));
            continue;
        }
        if resolver.conflicts(&req.reads, req.read_version) || written.overlaps(&req.reads) {
            METRICS.conflicts.with_label_values(&["embedded"]).inc();
            finish(req.reply, Err(StoreError::NotCommitted));
            continue;
        }
        if let Err(e) = apply(
            &req.buffer,
            &committed,
            ks,
            &mut batch,
            &mut overlay,
            &mut written,
        ) {
            // A failed read here leaves the batch half-built: refuse the whole group.
            tracing::error!(error = %e, "store read failed while applying a commit group");
            finish(req.reply, Err(e.clone()));
            for reply in accepted {
                finish(reply, Err(e.clone()));
            }
            return None;
        }
        accepted.push(req.reply);
    }
    if accepted.is_empty() {
        return None;
    }
    let outcome = batch.commit();
    let elapsed = started.elapsed().as_secs_f64();
    match outcome {
        Ok(()) => {
            // Published before anyone is told, so a client that saw its commit acknowledged
            // reads it in its next transaction.
            let version = engine.view.advance(db);
            resolver.record(written, version, Instant::now());
            cx.watches.notify(overlay.iter());
            METRICS
                .group_size
                .with_label_values(&["embedded"])
                .observe(accepted.len() as f64);
            METRICS
                .commit_seconds
                .with_label_values(&["embedded"])
                .observe(elapsed);
            for reply in accepted {
                finish(reply, Ok(()));
            }
            None
        }
        Err(e) => {
            // fjall poisons itself after a failed journal write: nothing more commits on this
            // database, so the whole group is refused and the writer reopens it.
            let reason = e.to_string();
            let error = match no_room(cx, 0) {
                Some(full) => full,
                None => StoreError::Unavailable(format!("a durable commit failed: {reason}")),
            };
            for reply in accepted {
                finish(reply, Err(error.clone()));
            }
            Some(reason)
        }
    }
}

fn finish(reply: oneshot::Sender<Result<(), StoreError>>, result: Result<(), StoreError>) {
    let label = match &result {
        Ok(()) => "ok",
        Err(e) => e.label(),
    };
    METRICS
        .commits
        .with_label_values(&["embedded", label])
        .inc();
    // The transaction may have been dropped while waiting; its result no longer matters.
    let _ = reply.send(result);
}

/// Applies one transaction's mutations to the batch. `overlay` holds what earlier
/// transactions of this group wrote, so atomic adds and range clears build on them.
fn apply(
    buffer: &WriteBuffer,
    committed: &Snapshot,
    ks: &Keyspace,
    batch: &mut fjall::OwnedWriteBatch,
    overlay: &mut BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    written: &mut Written,
) -> Result<(), StoreError> {
    for (begin, end) in &buffer.cleared {
        let mut doomed: Vec<Vec<u8>> = Vec::new();
        for item in committed.range(ks, begin.as_slice()..end.as_slice()) {
            doomed.push(item.key().map_err(io)?.to_vec());
        }
        doomed.extend(
            overlay
                .range::<[u8], _>(crate::buffer::bounds(begin, end))
                .filter(|(_, v)| v.is_some())
                .map(|(k, _)| k.clone()),
        );
        for key in doomed {
            batch.remove(ks, key.clone());
            overlay.insert(key, None);
        }
        written.ranges.push((begin.clone(), end.clone()));
    }
    for (key, op) in &buffer.ops {
        let value = match op {
            Op::Set(v) => Some(v.clone()),
            Op::Clear => None,
            Op::Add(delta) => {
                let base = match overlay.get(key) {
                    Some(v) => v.clone(),
                    None => committed.get(ks, key).map_err(io)?.map(|v| v.to_vec()),
                };
                Some(apply_add(base.as_deref(), *delta))
            }
        };
        match &value {
            Some(v) => batch.insert(ks, key.clone(), v.clone()),
            None => batch.remove(ks, key.clone()),
        }
        overlay.insert(key.clone(), value);
        written.keys.push(key.clone());
    }
    Ok(())
}
