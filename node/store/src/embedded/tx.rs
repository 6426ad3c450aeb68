//! A transaction on the embedded backend: reads from a fjall snapshot merged with the
//! transaction's own buffered writes, records serializable read ranges, and hands its
//! mutations to the group-commit writer.

use std::{
    cmp::Ordering,
    iter::Peekable,
    sync::{Arc, Mutex},
    time::Instant,
};

use async_trait::async_trait;
use fjall::{Readable, Snapshot};
use tokio::sync::oneshot;

use super::{
    Shared,
    buffer::{Local, Op, WriteBuffer},
    writer::{CommitRequest, io},
};
use crate::{
    api::{KeyValue, RangeOptions, ReadMode, Transaction, Watch},
    error::{Result, StoreError},
    limits::{MAX_TRANSACTION_AGE, MAX_TRANSACTION_BYTES},
    metrics::METRICS,
    tx::apply_add,
};

type Reply = oneshot::Sender<Result<()>>;

pub(crate) struct EmbeddedTx {
    shared: Arc<Shared>,
    snapshot: Snapshot,
    started: Instant,
    reads: Mutex<Vec<(Vec<u8>, Vec<u8>)>>,
    buffer: WriteBuffer,
    watches: Vec<(Vec<u8>, Option<Vec<u8>>, Reply)>,
}

impl EmbeddedTx {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        let snapshot = shared.db.snapshot();
        Self {
            shared,
            snapshot,
            started: Instant::now(),
            reads: Mutex::new(Vec::new()),
            buffer: WriteBuffer::default(),
            watches: Vec::new(),
        }
    }

    fn check_age(&self) -> Result<()> {
        if self.started.elapsed() > MAX_TRANSACTION_AGE {
            return Err(StoreError::TransactionTooOld);
        }
        Ok(())
    }

    fn add_read(&self, begin: Vec<u8>, end: Vec<u8>) {
        self.reads.lock().expect("read set lock").push((begin, end));
    }

    fn committed(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.snapshot.get(&self.shared.ks, key).map_err(io)?.map(|v| v.to_vec()))
    }

    /// The value this transaction sees, without recording a read.
    fn visible(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        match self.buffer.lookup(key) {
            Local::Known(v) => Ok(v),
            Local::AddTo(d) => Ok(Some(apply_add(self.committed(key)?.as_deref(), d))),
            Local::Unknown => self.committed(key),
        }
    }
}

fn key_after(key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(key.len() + 1);
    k.extend_from_slice(key);
    k.push(0);
    k
}

#[async_trait]
impl Transaction for EmbeddedTx {
    async fn get(&self, key: &[u8], mode: ReadMode) -> Result<Option<Vec<u8>>> {
        self.check_age()?;
        // Reads answered entirely by this transaction's writes depend on nothing committed.
        if !matches!(self.buffer.lookup(key), Local::Known(_)) && mode == ReadMode::Serializable {
            self.add_read(key.to_vec(), key_after(key));
        }
        self.visible(key)
    }

    async fn get_range(&self, begin: &[u8], end: &[u8], opts: RangeOptions) -> Result<Vec<KeyValue>> {
        self.check_age()?;
        let limit = opts.limit.unwrap_or(usize::MAX);
        let snap = self.snapshot.range(&self.shared.ks, begin..end);
        let local = self.buffer.range(begin, end);
        let out = if opts.reverse {
            merge(snap.rev(), local.rev(), &self.buffer, limit, Ordering::Greater)?
        } else {
            merge(snap, local, &self.buffer, limit, Ordering::Less)?
        };
        if opts.mode == ReadMode::Serializable {
            // Only the part of the range actually walked can influence the result.
            match out.last() {
                Some(last) if out.len() == limit && !opts.reverse => {
                    self.add_read(begin.to_vec(), key_after(&last.key))
                }
                Some(last) if out.len() == limit => self.add_read(last.key.clone(), end.to_vec()),
                _ => self.add_read(begin.to_vec(), end.to_vec()),
            }
        }
        Ok(out)
    }

    fn set(&mut self, key: &[u8], value: &[u8]) {
        self.buffer.set(key, value);
    }

    fn clear(&mut self, key: &[u8]) {
        self.buffer.clear(key);
    }

    fn clear_range(&mut self, begin: &[u8], end: &[u8]) {
        self.buffer.clear_range(begin, end);
    }

    fn atomic_add(&mut self, key: &[u8], delta: i64) {
        self.buffer.atomic_add(key, delta);
    }

    fn watch(&mut self, key: &[u8]) -> Result<Watch> {
        let seen = self.visible(key)?;
        let (tx, rx) = oneshot::channel();
        self.watches.push((key.to_vec(), seen, tx));
        Ok(Box::pin(async move { rx.await.unwrap_or(Err(StoreError::Cancelled)) }))
    }

    async fn commit(self: Box<Self>) -> Result<()> {
        self.check_age()?;
        let this = *self;
        if !this.buffer.is_empty() {
            let bytes = this.buffer.written_bytes();
            if bytes > MAX_TRANSACTION_BYTES {
                return Err(StoreError::TransactionTooLarge(bytes));
            }
            let started = Instant::now();
            let (reply, done) = oneshot::channel();
            let request = CommitRequest {
                read_version: this.snapshot.seqno(),
                started: this.started,
                reads: this.reads.into_inner().expect("read set lock"),
                buffer: this.buffer,
                reply,
            };
            this.shared.send(request)?;
            done.await.map_err(|_| StoreError::Io("store writer stopped".into()))??;
            METRICS
                .commit_seconds
                .with_label_values(&["embedded_tx"])
                .observe(started.elapsed().as_secs_f64());
        }
        for (key, seen, reply) in this.watches {
            let shared = &this.shared;
            let current_key = key.clone();
            shared.watches.arm(key, seen, reply, || {
                Ok(shared.db.snapshot().get(&shared.ks, &current_key).map_err(io)?.map(|v| v.to_vec()))
            });
        }
        Ok(())
    }
}

/// Merges committed pairs with buffered operations in walk order (`Less` forwards, `Greater`
/// backwards), stopping after `limit` results.
fn merge<'a>(
    committed: impl Iterator<Item = fjall::Guard>,
    local: impl Iterator<Item = (&'a Vec<u8>, &'a Op)>,
    buffer: &WriteBuffer,
    limit: usize,
    order: Ordering,
) -> Result<Vec<KeyValue>> {
    let mut committed: Peekable<_> = committed
        .map(|g| g.into_inner().map_err(io))
        .filter(|r| !matches!(r, Ok((k, _)) if buffer.in_cleared(k)))
        .peekable();
    let mut local = local.peekable();
    let mut out = Vec::new();
    while out.len() < limit {
        let take_local = match (committed.peek(), local.peek()) {
            (None, None) => break,
            (Some(Err(_)), _) => {
                return Err(committed.next().and_then(|r| r.err()).unwrap_or(StoreError::Io("range read".into())));
            }
            (Some(Ok((ck, _))), Some((lk, _))) => {
                let ord = ck.as_ref().cmp(lk.as_slice());
                if ord == Ordering::Equal {
                    None
                } else {
                    Some(ord != order)
                }
            }
            (Some(_), None) => Some(false),
            (None, Some(_)) => Some(true),
        };
        match take_local {
            Some(false) => {
                if let Some(Ok((k, v))) = committed.next() {
                    out.push(KeyValue { key: k.to_vec(), value: v.to_vec() });
                }
            }
            Some(true) => {
                if let Some((k, op)) = local.next() {
                    match op {
                        Op::Set(v) => out.push(KeyValue { key: k.clone(), value: v.clone() }),
                        Op::Add(d) => out.push(KeyValue { key: k.clone(), value: apply_add(None, *d) }),
                        Op::Clear => {}
                    }
                }
            }
            None => {
                let base = committed.next().and_then(|r| r.ok());
                if let Some((k, op)) = local.next() {
                    match op {
                        Op::Set(v) => out.push(KeyValue { key: k.clone(), value: v.clone() }),
                        Op::Add(d) => out.push(KeyValue {
                            key: k.clone(),
                            value: apply_add(base.as_ref().map(|(_, v)| v.as_ref()), *d),
                        }),
                        Op::Clear => {}
                    }
                }
            }
        }
    }
    Ok(out)
}
