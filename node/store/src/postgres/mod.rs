//! The postgres backend (cargo feature `postgres`): a store several `tern` processes share, on
//! PostgreSQL through `tokio-postgres` with a `deadpool-postgres` pool (maintained, small, and
//! it recycles connections the database closed, which a home-made pool would have to redo).
//!
//! The trait maps as follows. A Tern transaction is one PostgreSQL transaction at
//! `SERIALIZABLE`; its serialization failures and deadlocks are `NotCommitted`, a connection
//! lost during `COMMIT` is `CommitUnknownResult`. Keys are `bytea` (ordered like FoundationDB's
//! keys). `atomic_add` appends a delta row instead of updating the counter, so concurrent adders
//! never conflict; reads fold the deltas in and a background compactor folds keys with many of
//! them. Watches work across processes through `LISTEN/NOTIFY` (see [`listen`]). FoundationDB's
//! limits are enforced by [`crate::Tx`] as on every backend, the 5 s age by the transaction.

mod connect;
mod error;
mod listen;
mod schema;
mod snapshot;
mod sql;
pub mod throwaway;
mod tx;

use std::{
    collections::HashSet,
    sync::{Arc, Mutex},
    time::Duration,
};

use async_trait::async_trait;
use deadpool_postgres::{
    Manager, ManagerConfig, Object, Pool, PoolError, RecyclingMethod, Runtime,
};

pub use self::connect::PgOptions;
use self::{connect::Target, snapshot::PgSnapshot, tx::PgTx};
use crate::{
    api::{Snapshot, Store, Transaction},
    error::{Result, StoreError},
    metrics::METRICS,
    watch::{Reply, WatchRegistry},
};

/// How often the backend checks that the database answers, so `/readyz` and the health gauge
/// follow an outage (and the recovery) even when no transaction runs, and publishes the pool's
/// state.
const PROBE_EVERY: Duration = Duration::from_secs(2);
/// Most announcements sent in one `NOTIFY` transaction.
const ANNOUNCE_BATCH: usize = 512;
/// Announcements longer than this (PostgreSQL's limit is 8000 bytes) ask every node to re-check
/// all its watches instead.
const MAX_PAYLOAD: usize = 7000;

/// PostgreSQL as a [`Store`].
pub struct PgStore {
    shared: Arc<Shared>,
}

pub(crate) struct Shared {
    pool: Pool,
    target: Target,
    watches: WatchRegistry,
    /// Why the database cannot take commits right now, if it cannot.
    health: Mutex<Option<String>>,
    compact: tokio::sync::mpsc::Sender<Vec<u8>>,
    compacting: Mutex<HashSet<Vec<u8>>>,
    announcements: tokio::sync::mpsc::UnboundedSender<String>,
    /// Dropped with the store, which ends the background tasks.
    closed: tokio::sync::watch::Sender<()>,
}

impl PgStore {
    /// Connects, creates or migrates the schema, and starts the watch listener, the health
    /// probe and the compactor. Fails with a message naming `store.postgres_url` and the server
    /// when the database cannot be reached.
    pub async fn open(options: PgOptions) -> Result<Self> {
        let target = Target::new(&options)?;
        let (client, connection) = target
            .config
            .connect(target.tls.clone())
            .await
            .map_err(|e| target.unreachable(error::describe(&e)))?;
        let driver = tokio::spawn(async move {
            let _ = connection.await;
        });
        let migrated = schema::migrate(&client, &target.server).await;
        drop(client);
        let _ = driver.await;
        migrated?;
        let manager = Manager::from_config(
            target.config.clone(),
            target.tls.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(options.pool_size.max(1))
            .wait_timeout(Some(options.connect_timeout))
            .create_timeout(Some(options.connect_timeout))
            .runtime(Runtime::Tokio1)
            .build()
            .map_err(|e| StoreError::Backend {
                code: 0,
                message: format!("postgres connection pool: {e}"),
                retryable: false,
            })?;
        let (compact, compact_rx) = tokio::sync::mpsc::channel(1024);
        let (announcements, announce_rx) = tokio::sync::mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            pool,
            target,
            watches: WatchRegistry::default(),
            health: Mutex::new(None),
            compact,
            compacting: Mutex::new(HashSet::new()),
            announcements,
            closed: tokio::sync::watch::channel(()).0,
        });
        for state in ["open", "idle", "waiting"] {
            METRICS
                .postgres_connections
                .with_label_values(&[state])
                .set(0);
        }
        tokio::spawn(listen::run(Arc::downgrade(&shared)));
        tokio::spawn(probe(Arc::downgrade(&shared)));
        tokio::spawn(compactor(Arc::downgrade(&shared), compact_rx));
        tokio::spawn(announcer(Arc::downgrade(&shared), announce_rx));
        tracing::info!(server = %shared.target.server, pool = options.pool_size, "postgres store open");
        Ok(Self { shared })
    }
}

#[async_trait]
impl Store for PgStore {
    async fn begin(&self) -> Result<Box<dyn Transaction>> {
        Ok(Box::new(PgTx::new(self.shared.clone())))
    }

    fn backend(&self) -> &'static str {
        "postgres"
    }

    fn conflicts_exactly(&self) -> bool {
        false
    }

    async fn snapshot(&self) -> Result<Box<dyn Snapshot>> {
        Ok(Box::new(PgSnapshot::open(&self.shared).await?))
    }

    fn health(&self) -> std::result::Result<(), String> {
        match &*self.shared.health.lock().expect("health lock") {
            None => Ok(()),
            Some(reason) => Err(reason.clone()),
        }
    }
}

impl Shared {
    /// A pooled connection, or `Unavailable` naming the server.
    async fn connection(&self) -> Result<Object> {
        let got = self.pool.get().await.map_err(|e| match e {
            PoolError::Backend(e) => self.target.unreachable(error::describe(&e)),
            PoolError::Timeout(_) => self.target.unreachable(format!(
                "no connection within the connect timeout (pool of {} busy, or the database \
                 does not answer)",
                self.pool.status().max_size
            )),
            other => self.target.unreachable(other),
        });
        if let Err(e) = &got {
            self.observe(e);
        }
        got
    }

    /// Records an error's effect on health: an outage makes the node unready.
    fn observe(&self, error: &StoreError) {
        if let StoreError::Unavailable(reason) = error {
            let mut health = self.health.lock().expect("health lock");
            if health.is_none() {
                tracing::warn!(server = %self.target.server, %reason, "postgres store unavailable");
            }
            *health = Some(reason.clone());
        }
    }

    fn observe_ok(&self) {
        let mut health = self.health.lock().expect("health lock");
        if health.take().is_some() {
            tracing::info!(server = %self.target.server, "postgres store available again");
        }
    }

    /// Queues a key with many pending adds for folding.
    fn compact_later(&self, key: &[u8]) {
        let mut compacting = self.compacting.lock().expect("compaction lock");
        if compacting.insert(key.to_vec()) && self.compact.try_send(key.to_vec()).is_err() {
            compacting.remove(key);
        }
    }

    /// Arms a watch, then checks the key, so a change committed meanwhile fires it.
    fn arm(self: &Arc<Self>, key: Vec<u8>, seen: Option<Vec<u8>>, reply: Reply) {
        self.watches.add(key.clone(), seen, reply);
        let shared = self.clone();
        tokio::spawn(async move { shared.recheck(vec![key]).await });
    }

    /// Reads `keys` as committed now and fires the watches whose value changed.
    async fn recheck(&self, keys: Vec<Vec<u8>>) {
        if keys.is_empty() {
            return;
        }
        let read = async {
            let conn = self.connection().await?;
            let stmt = conn
                .prepare_cached(sql::GET_MANY)
                .await
                .map_err(|e| error::map(&e))?;
            let rows = conn
                .query(&stmt, &[&keys])
                .await
                .map_err(|e| error::map(&e))?;
            rows.iter().map(sql::fold_range).collect::<Result<Vec<_>>>()
        };
        match read.await {
            Ok(found) => {
                let mut values: std::collections::BTreeMap<Vec<u8>, Option<Vec<u8>>> =
                    keys.into_iter().map(|k| (k, None)).collect();
                for (kv, _) in found {
                    values.insert(kv.key, Some(kv.value));
                }
                self.watches.notify(values.iter());
            }
            Err(e) => tracing::debug!(error = %e, "cannot re-check watched keys; will retry"),
        }
    }

    /// Queues the announcements of a commit that just succeeded (see [`announcer`]).
    fn announce(&self, payloads: Vec<String>) {
        for p in payloads {
            let _ = self.announcements.send(p);
        }
    }
}

/// Sends the queued announcements, many commits' at a time: while one batch is on its way the
/// next accumulates, so under load one `NOTIFY` transaction carries many commits' keys (it
/// would otherwise cost a round trip and a transaction per commit). Each batch is a
/// transaction of its own that does not wait for the disk (it carries no data).
async fn announcer(
    shared: std::sync::Weak<Shared>,
    mut queued: tokio::sync::mpsc::UnboundedReceiver<String>,
) {
    while let Some(first) = queued.recv().await {
        let mut batch = std::collections::BTreeSet::from([first]);
        while batch.len() < ANNOUNCE_BATCH {
            match queued.try_recv() {
                Ok(p) => {
                    batch.insert(p);
                }
                Err(_) => break,
            }
        }
        let Some(shared) = shared.upgrade() else {
            return;
        };
        // A payload too long for NOTIFY asks every node to re-check all its watches.
        let all = batch.iter().any(|p| p.len() > MAX_PAYLOAD);
        let mut sql = String::from("BEGIN; SET LOCAL synchronous_commit TO off; SELECT ");
        let payloads: Vec<&str> = if all {
            vec!["a"]
        } else {
            batch.iter().map(String::as_str).collect()
        };
        for (i, p) in payloads.iter().enumerate() {
            if i > 0 {
                sql.push_str(", ");
            }
            // Payloads are `[kra]` and hex digits: nothing to quote.
            sql.push_str(&format!("pg_notify('{}', '{p}')", listen::CHANNEL));
        }
        sql.push_str("; COMMIT");
        let sent = async {
            let conn = shared.connection().await?;
            if let Err(e) = conn.batch_execute(&sql).await {
                let _ = conn.batch_execute("ROLLBACK").await;
                return Err(error::map(&e));
            }
            Ok(())
        }
        .await;
        if let Err(e) = sent {
            tracing::debug!(error = %e, "cannot announce changed keys; watchers re-check later");
        }
    }
}

/// Checks the database every [`PROBE_EVERY`] until the store is dropped.
async fn probe(shared: std::sync::Weak<Shared>) {
    let mut closed = match shared.upgrade() {
        Some(s) => s.closed.subscribe(),
        None => return,
    };
    loop {
        tokio::select! {
            _ = tokio::time::sleep(PROBE_EVERY) => {}
            _ = closed.changed() => return,
        }
        let Some(shared) = shared.upgrade() else {
            return;
        };
        let outcome = async {
            let conn = shared.connection().await?;
            conn.simple_query("SELECT 1")
                .await
                .map_err(|e| error::map(&e))
        }
        .await;
        match outcome {
            Ok(_) => shared.observe_ok(),
            Err(e) => shared.observe(&match e {
                StoreError::Unavailable(_) => e,
                other => StoreError::Unavailable(other.to_string()),
            }),
        }
    }
}

/// Folds the pending adds of the keys sent to it into their values.
async fn compactor(
    shared: std::sync::Weak<Shared>,
    mut keys: tokio::sync::mpsc::Receiver<Vec<u8>>,
) {
    while let Some(key) = keys.recv().await {
        let Some(shared) = shared.upgrade() else {
            return;
        };
        for _ in 0..5 {
            let tx = PgTx::new(shared.clone());
            let folded = async {
                let value = tx.get(&key, crate::ReadMode::Serializable).await?;
                match value {
                    Some(v) => tx.set(&key, &v),
                    None => tx.clear(&key),
                }
                tx.commit().await
            }
            .await;
            match folded {
                Ok(()) => break,
                Err(e) if e.is_retryable() => continue,
                Err(e) => {
                    tracing::debug!(error = %e, "cannot fold pending adds; later reads retry");
                    break;
                }
            }
        }
        shared
            .compacting
            .lock()
            .expect("compaction lock")
            .remove(&key);
    }
}
