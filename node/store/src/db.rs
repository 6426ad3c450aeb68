//! `Db`, the shared handle to a store: begins transactions and runs transaction bodies with
//! FoundationDB's retry discipline (retry on conflict with jittered exponential backoff).

use std::{future::Future, sync::Arc, time::Duration};

use rand::Rng;

use crate::{
    api::Store,
    error::{Result, StoreError, TxError},
    metrics::METRICS,
    tx::Tx,
};

/// How many times a transaction body runs before the last retryable error is returned.
const MAX_ATTEMPTS: u32 = 100;
/// First backoff after a conflict; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(2);
const MAX_BACKOFF: Duration = Duration::from_millis(500);

/// A cheaply cloneable handle to a store backend.
#[derive(Clone)]
pub struct Db {
    inner: Arc<dyn Store>,
}

impl Db {
    /// Wraps a backend.
    pub fn new(store: impl Store) -> Self {
        // The commit outcome and conflict series exist (at 0) from the start.
        let backend = store.backend();
        METRICS.commits.with_label_values(&[backend, "ok"]);
        METRICS.conflicts.with_label_values(&[backend]);
        METRICS
            .retries
            .with_label_values(&[backend, "not_committed"]);
        Self {
            inner: Arc::new(store),
        }
    }

    /// The backend.
    pub fn backend(&self) -> &dyn Store {
        &*self.inner
    }

    /// Begins one transaction; the caller commits it. Prefer [`Db::transact`].
    pub async fn begin(&self) -> Result<Tx> {
        Ok(Tx::new(self.inner.begin().await?))
    }

    /// Runs `body` in a transaction and commits it, running it again from scratch when the
    /// commit conflicts or the transaction grew too old. The body must therefore be
    /// idempotent in everything but its writes to the store.
    ///
    /// ```ignore
    /// let n = db.transact(|tx| async move { tx.get_counter(&key).await }).await?;
    /// ```
    pub async fn transact<T, E, F, Fut>(&self, mut body: F) -> Result<T, E>
    where
        F: FnMut(Tx) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: TxError,
    {
        let backend = self.inner.backend();
        let mut backoff = FIRST_BACKOFF;
        let mut attempt = 1;
        loop {
            let outcome = match self.begin().await {
                Ok(tx) => match body(tx.clone()).await {
                    Ok(value) => tx.commit().await.map(|()| value).map_err(E::from),
                    Err(e) => Err(e),
                },
                Err(e) => Err(E::from(e)),
            };
            let err = match outcome {
                Ok(value) => return Ok(value),
                Err(err) => err,
            };
            let retryable = err.as_store().filter(|e| e.is_retryable()).cloned();
            let Some(store_err) = retryable else {
                return Err(err);
            };
            if attempt >= MAX_ATTEMPTS {
                tracing::warn!(attempt, error = %store_err, "transaction gave up after retries");
                return Err(err);
            }
            METRICS
                .retries
                .with_label_values(&[backend, store_err.label()])
                .inc();
            let jitter = rand::rng().random_range(0..=backoff.as_micros() as u64);
            tokio::time::sleep(Duration::from_micros(jitter)).await;
            backoff = (backoff * 2).min(MAX_BACKOFF);
            attempt += 1;
        }
    }

    /// Like [`Db::transact`] for bodies whose only error is a [`StoreError`].
    pub async fn run<T, F, Fut>(&self, body: F) -> Result<T>
    where
        F: FnMut(Tx) -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        self.transact::<T, StoreError, F, Fut>(body).await
    }

    /// Publishes the backend's health, its disk usage and its filesystem's free space to the
    /// metrics (called at every scrape, and at start so the families exist from the first).
    pub fn refresh_metrics(&self) {
        let backend = self.inner.backend();
        let gauge = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        METRICS
            .healthy
            .with_label_values(&[backend])
            .set(i64::from(self.inner.health().is_ok()));
        if let Some(used) = self.inner.disk_usage() {
            METRICS
                .disk_bytes
                .with_label_values(&[backend])
                .set(gauge(used));
        }
        if let Some(space) = self.inner.local_space() {
            for (kind, bytes, inodes) in [
                ("free", space.free_bytes, space.free_inodes),
                ("size", space.total_bytes, space.total_inodes),
            ] {
                METRICS
                    .fs_bytes
                    .with_label_values(&[backend, kind])
                    .set(gauge(bytes));
                METRICS
                    .fs_inodes
                    .with_label_values(&[backend, kind])
                    .set(gauge(inodes));
            }
        }
    }

    /// Whether the backend takes commits (`Err` with the reason and what to do when not).
    pub fn health(&self) -> std::result::Result<(), String> {
        self.inner.health()
    }

    /// Bytes the store uses on the local disk, when it has a local disk.
    pub fn disk_usage(&self) -> Option<u64> {
        self.inner.disk_usage()
    }

    /// The filesystem holding the store's local data, when it has one.
    pub fn local_space(&self) -> Option<crate::space::Space> {
        self.inner.local_space()
    }
}
