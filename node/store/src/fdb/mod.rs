//! The FoundationDB backend (cargo feature `fdb`): the cluster's shared store. It maps the
//! [`Store`] trait one to one onto the `foundationdb` crate; conflicts, limits and watches are
//! FoundationDB's own, and its errors become the same [`StoreError`] kinds the embedded
//! backend returns.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use foundationdb::{
    Database, FdbError, KeySelector, RangeOption, Transaction as FdbTransaction,
    api::NetworkAutoStop,
    options::{DatabaseOption, MutationType, StreamingMode},
};
use futures::FutureExt;

use crate::{
    api::{KeyValue, RangeOptions, ReadMode, Store, Transaction, Watch},
    error::{Result, StoreError},
    limits::MAX_TRANSACTION_AGE,
    metrics::METRICS,
};

/// Retries FoundationDB itself may make inside one of our transactions before giving up, so an
/// unreachable cluster surfaces as an error instead of hanging forever.
const RETRY_LIMIT: i32 = 10;

/// Maps a FoundationDB error to our kinds.
pub fn map_error(e: FdbError) -> StoreError {
    match e.code() {
        1020 => StoreError::NotCommitted,
        1007 => StoreError::TransactionTooOld,
        1021 => StoreError::CommitUnknownResult,
        2101 => StoreError::TransactionTooLarge(0),
        2102 => StoreError::KeyTooLarge(0),
        2103 => StoreError::ValueTooLarge(0),
        1031 => StoreError::TimedOut,
        1032 => StoreError::TooManyWatches,
        1101 => StoreError::Cancelled,
        2005 => StoreError::InvertedRange,
        code => StoreError::Backend {
            code,
            message: e.message().to_string(),
            retryable: e.is_retryable(),
        },
    }
}

/// A FoundationDB cluster as a [`Store`].
#[derive(Clone)]
pub struct FdbStore {
    db: Arc<Database>,
    _network: Arc<NetworkAutoStop>,
}

impl FdbStore {
    /// Starts the client network (once per process) and opens the cluster named by
    /// `cluster_file` (`None`: the default cluster file).
    ///
    /// # Safety
    /// FoundationDB's client network may be started only once per process and must outlive
    /// every database handle; keep the returned store (which holds the network guard) alive
    /// for as long as the process uses FoundationDB, and call this once.
    #[allow(unsafe_code)]
    pub unsafe fn open(cluster_file: Option<&str>) -> Result<Self> {
        // SAFETY: the caller guarantees a single call per process; the guard is kept alive by
        // every clone of the store.
        let network = unsafe { foundationdb::boot() };
        let db = Database::new(cluster_file).map_err(map_error)?;
        db.set_option(DatabaseOption::TransactionTimeout(
            MAX_TRANSACTION_AGE.as_millis() as i32,
        ))
        .map_err(map_error)?;
        db.set_option(DatabaseOption::TransactionRetryLimit(RETRY_LIMIT))
            .map_err(map_error)?;
        Ok(Self {
            db: Arc::new(db),
            _network: Arc::new(network),
        })
    }
}

#[async_trait]
impl Store for FdbStore {
    async fn begin(&self) -> Result<Box<dyn Transaction>> {
        let tx = self.db.create_trx().map_err(map_error)?;
        Ok(Box::new(FdbTx {
            tx: Mutex::new(Some(tx)),
        }))
    }

    fn backend(&self) -> &'static str {
        "fdb"
    }
}

/// One FoundationDB transaction; taken out of the mutex by `commit`.
struct FdbTx {
    tx: Mutex<Option<FdbTransaction>>,
}

impl FdbTx {
    fn with<T>(&self, f: impl FnOnce(&FdbTransaction) -> T) -> Result<T> {
        let guard = self.tx.lock().expect("fdb transaction lock");
        guard.as_ref().map(f).ok_or(StoreError::Cancelled)
    }
}

#[async_trait]
impl Transaction for FdbTx {
    async fn get(&self, key: &[u8], mode: ReadMode) -> Result<Option<Vec<u8>>> {
        let fut = self.with(|tx| tx.get(key, mode == ReadMode::Snapshot))?;
        Ok(fut.await.map_err(map_error)?.map(|v| v.to_vec()))
    }

    async fn get_range(
        &self,
        begin: &[u8],
        end: &[u8],
        opts: RangeOptions,
    ) -> Result<Vec<KeyValue>> {
        let mut out = Vec::new();
        let mut range = RangeOption {
            begin: KeySelector::first_greater_or_equal(begin.to_vec()),
            end: KeySelector::first_greater_or_equal(end.to_vec()),
            limit: opts.limit,
            reverse: opts.reverse,
            mode: StreamingMode::WantAll,
            ..RangeOption::default()
        };
        let mut iteration = 1;
        loop {
            let fut =
                self.with(|tx| tx.get_range(&range, iteration, opts.mode == ReadMode::Snapshot))?;
            let values = fut.await.map_err(map_error)?;
            out.extend(values.iter().map(|kv| KeyValue {
                key: kv.key().to_vec(),
                value: kv.value().to_vec(),
            }));
            if opts.limit.is_some_and(|l| out.len() >= l) {
                out.truncate(opts.limit.unwrap_or(usize::MAX));
                break;
            }
            match range.next_range(&values) {
                Some(next) if values.more() => range = next,
                _ => break,
            }
            if let Some(l) = opts.limit {
                range.limit = Some(l - out.len());
            }
            iteration += 1;
        }
        Ok(out)
    }

    fn set(&self, key: &[u8], value: &[u8]) {
        let _ = self.with(|tx| tx.set(key, value));
    }

    fn clear(&self, key: &[u8]) {
        let _ = self.with(|tx| tx.clear(key));
    }

    fn clear_range(&self, begin: &[u8], end: &[u8]) {
        let _ = self.with(|tx| tx.clear_range(begin, end));
    }

    fn atomic_add(&self, key: &[u8], delta: i64) {
        let _ = self.with(|tx| tx.atomic_op(key, &delta.to_le_bytes(), MutationType::Add));
    }

    fn watch(&self, key: &[u8]) -> Result<Watch> {
        let fut = self.with(|tx| tx.watch(key))?;
        Ok(Box::pin(fut.map(|r| r.map_err(map_error))))
    }

    async fn commit(&self) -> Result<()> {
        let tx = self
            .tx
            .lock()
            .expect("fdb transaction lock")
            .take()
            .ok_or(StoreError::Cancelled)?;
        let started = std::time::Instant::now();
        let result = tx.commit().await;
        METRICS
            .commit_seconds
            .with_label_values(&["fdb"])
            .observe(started.elapsed().as_secs_f64());
        match result {
            Ok(_) => {
                METRICS.commits.with_label_values(&["fdb", "ok"]).inc();
                Ok(())
            }
            Err(e) => {
                let err = map_error(*e);
                METRICS
                    .commits
                    .with_label_values(&["fdb", err.label()])
                    .inc();
                if err == StoreError::NotCommitted {
                    METRICS.conflicts.with_label_values(&["fdb"]).inc();
                }
                Err(err)
            }
        }
    }
}
