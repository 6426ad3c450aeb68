//! The group-commit writer: one thread that takes every transaction waiting to commit,
//! checks each for conflicts, applies the survivors to one fjall batch and makes that batch
//! durable with a single fsync before anyone sees it or is told it committed.

use std::{
    collections::BTreeMap,
    sync::{Arc, mpsc},
    time::Instant,
};

use fjall::{Database, Keyspace, PersistMode, Readable, Snapshot};
use tokio::sync::oneshot;

use super::{
    buffer::{Op, WriteBuffer},
    resolver::{Resolver, Written},
    view::ReadView,
    watch::WatchRegistry,
};
use crate::{error::StoreError, limits::MAX_TRANSACTION_AGE, metrics::METRICS, tx::apply_add};

/// Most transactions folded into one durable batch.
const MAX_GROUP: usize = 1024;

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

/// Runs until every sender is gone.
pub(crate) fn run(
    db: Database,
    ks: Keyspace,
    rx: mpsc::Receiver<CommitRequest>,
    watches: Arc<WatchRegistry>,
    view: Arc<ReadView>,
) {
    let mut resolver = Resolver::default();
    while let Ok(first) = rx.recv() {
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(req) => group.push(req),
                Err(_) => break,
            }
        }
        commit_group(&db, &ks, group, &mut resolver, &watches, &view);
    }
}

fn commit_group(
    db: &Database,
    ks: &Keyspace,
    group: Vec<CommitRequest>,
    resolver: &mut Resolver,
    watches: &WatchRegistry,
    view: &ReadView,
) {
    let started = Instant::now();
    let committed = view.current().snapshot;
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
            return;
        }
        accepted.push(req.reply);
    }
    if accepted.is_empty() {
        return;
    }
    let outcome = batch.commit().map_err(io);
    let elapsed = started.elapsed().as_secs_f64();
    match outcome {
        Ok(()) => {
            // Published before anyone is told, so a client that saw its commit acknowledged
            // reads it in its next transaction.
            let version = view.advance(db);
            resolver.record(written, version, Instant::now());
            watches.notify(overlay.iter());
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
        }
        Err(e) => {
            tracing::error!(error = %e, "durable commit failed");
            for reply in accepted {
                finish(reply, Err(e.clone()));
            }
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
                .range::<[u8], _>(super::buffer::bounds(begin, end))
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
