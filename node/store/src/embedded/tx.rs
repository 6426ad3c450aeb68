//! A transaction on the embedded backend: reads from a fjall snapshot merged with the
//! transaction's own buffered writes, records serializable read ranges, and hands its
//! mutations to the group-commit writer.

use std::{
    cmp::Ordering,
    sync::{Arc, Mutex},
    time::Instant,
};

use async_trait::async_trait;
use fjall::{Readable, Snapshot};
use tokio::sync::oneshot;

use super::{
    Shared,
    engine::Engine,
    writer::{CommitRequest, io},
};
use crate::{
    api::{KeyValue, RangeOptions, ReadMode, Transaction, Watch},
    buffer::{Local, WriteBuffer, key_after, merge},
    error::{Result, StoreError},
    limits::{MAX_TRANSACTION_AGE, MAX_TRANSACTION_BYTES},
    metrics::METRICS,
    tx::apply_add,
};

type Reply = oneshot::Sender<Result<()>>;

pub(crate) struct EmbeddedTx {
    shared: Arc<Shared>,
    /// Held so the database stays open (and is not reopened) while this transaction lives.
    engine: Arc<Engine>,
    snapshot: Snapshot,
    read_version: u64,
    started: Instant,
    state: Mutex<State>,
}

/// What the transaction accumulates; locked only for synchronous work, never across `.await`.
#[derive(Default)]
struct State {
    reads: Vec<(Vec<u8>, Vec<u8>)>,
    buffer: WriteBuffer,
    watches: Vec<(Vec<u8>, Option<Vec<u8>>, Reply)>,
    committed: bool,
}

impl EmbeddedTx {
    pub(crate) fn new(shared: Arc<Shared>) -> Result<Self> {
        let engine = shared.engines.current()?;
        let view = engine.view.current();
        Ok(Self {
            shared,
            engine,
            snapshot: view.snapshot,
            read_version: view.version,
            started: Instant::now(),
            state: Mutex::new(State::default()),
        })
    }

    fn check_age(&self) -> Result<()> {
        if self.started.elapsed() > MAX_TRANSACTION_AGE {
            return Err(StoreError::TransactionTooOld);
        }
        Ok(())
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("transaction state lock")
    }

    fn committed(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self
            .snapshot
            .get(&self.engine.ks, key)
            .map_err(io)?
            .map(|v| v.to_vec()))
    }

    /// The value this transaction sees, without recording a read.
    fn visible(&self, buffer: &WriteBuffer, key: &[u8]) -> Result<Option<Vec<u8>>> {
        match buffer.lookup(key) {
            Local::Known(v) => Ok(v),
            Local::AddTo(d) => Ok(Some(apply_add(self.committed(key)?.as_deref(), d))),
            Local::Unknown => self.committed(key),
        }
    }
}

#[async_trait]
impl Transaction for EmbeddedTx {
    async fn get(&self, key: &[u8], mode: ReadMode) -> Result<Option<Vec<u8>>> {
        self.check_age()?;
        let mut state = self.state();
        // Reads answered entirely by this transaction's writes depend on nothing committed.
        if !matches!(state.buffer.lookup(key), Local::Known(_)) && mode == ReadMode::Serializable {
            state.reads.push((key.to_vec(), key_after(key)));
        }
        self.visible(&state.buffer, key)
    }

    async fn get_range(
        &self,
        begin: &[u8],
        end: &[u8],
        opts: RangeOptions,
    ) -> Result<Vec<KeyValue>> {
        self.check_age()?;
        let limit = opts.limit.unwrap_or(usize::MAX);
        let mut state = self.state();
        let snap = self
            .snapshot
            .range(&self.engine.ks, begin..end)
            .map(|g| g.into_inner().map_err(io));
        let local = state.buffer.range(begin, end);
        let out = if opts.reverse {
            merge(
                snap.rev(),
                local.rev(),
                &state.buffer,
                limit,
                Ordering::Greater,
            )?
        } else {
            merge(snap, local, &state.buffer, limit, Ordering::Less)?
        };
        if opts.mode == ReadMode::Serializable {
            // Only the part of the range actually walked can influence the result.
            let read = match out.last() {
                Some(last) if out.len() == limit && !opts.reverse => {
                    (begin.to_vec(), key_after(&last.key))
                }
                Some(last) if out.len() == limit => (last.key.clone(), end.to_vec()),
                _ => (begin.to_vec(), end.to_vec()),
            };
            state.reads.push(read);
        }
        Ok(out)
    }

    fn set(&self, key: &[u8], value: &[u8]) {
        self.state().buffer.set(key, value);
    }

    fn clear(&self, key: &[u8]) {
        self.state().buffer.clear(key);
    }

    fn clear_range(&self, begin: &[u8], end: &[u8]) {
        self.state().buffer.clear_range(begin, end);
    }

    fn atomic_add(&self, key: &[u8], delta: i64) {
        self.state().buffer.atomic_add(key, delta);
    }

    fn watch(&self, key: &[u8]) -> Result<Watch> {
        let mut state = self.state();
        let seen = self.visible(&state.buffer, key)?;
        let (tx, rx) = oneshot::channel();
        state.watches.push((key.to_vec(), seen, tx));
        Ok(Box::pin(async move {
            rx.await.unwrap_or(Err(StoreError::Cancelled))
        }))
    }

    async fn commit(&self) -> Result<()> {
        self.check_age()?;
        let this = {
            let mut state = self.state();
            if state.committed {
                return Err(StoreError::Cancelled);
            }
            let taken = std::mem::take(&mut *state);
            state.committed = true;
            taken
        };
        if !this.buffer.is_empty() {
            let bytes = this.buffer.written_bytes();
            if bytes > MAX_TRANSACTION_BYTES {
                return Err(StoreError::TransactionTooLarge(bytes));
            }
            let started = Instant::now();
            let (reply, done) = oneshot::channel();
            let request = CommitRequest {
                read_version: self.read_version,
                started: self.started,
                reads: this.reads,
                buffer: this.buffer,
                reply,
            };
            self.shared.send(request)?;
            done.await
                .map_err(|_| StoreError::Io("store writer stopped".into()))??;
            METRICS
                .commit_seconds
                .with_label_values(&["embedded_tx"])
                .observe(started.elapsed().as_secs_f64());
        }
        for (key, seen, reply) in this.watches {
            let shared = &self.shared;
            let current_key = key.clone();
            shared.watches.arm(key, seen, reply, || {
                let engine = shared.engines.current()?;
                let value = engine.view.current().snapshot.get(&engine.ks, &current_key);
                Ok(value.map_err(io)?.map(|v| v.to_vec()))
            });
        }
        Ok(())
    }
}
