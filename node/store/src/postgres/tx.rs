//! A transaction on the postgres backend: one PostgreSQL transaction at `SERIALIZABLE`, begun
//! with the first read (pipelined with it) and holding a pooled connection until it ends. Writes
//! are buffered and sent at commit in one pipeline (clears, sets, appended adds, `COMMIT`), so a
//! write-only transaction costs one round trip. Snapshot reads run in the same serializable
//! transaction: stricter than FoundationDB's (they can take part in a conflict), never weaker.

use std::{
    cmp::Ordering,
    collections::HashSet,
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex},
    time::Instant,
};

use async_trait::async_trait;
use deadpool_postgres::Object;
use tokio::sync::oneshot;
use tokio_postgres::{Row, types::ToSql};

use super::{
    Shared,
    error::{map, map_commit},
    sql,
};
use crate::{
    api::{KeyValue, RangeOptions, Transaction, Watch},
    buffer::{Op, WriteBuffer, key_after, merge},
    error::{Result, StoreError},
    keys,
    limits::{MAX_TRANSACTION_AGE, MAX_TRANSACTION_BYTES},
    metrics::METRICS,
    watch::Reply,
};

const BEGIN: &str = "BEGIN ISOLATION LEVEL SERIALIZABLE";
/// A key with more pending adds than this read is folded by the compactor.
const COMPACT_AFTER: i64 = 64;

pub(crate) struct PgTx {
    shared: Arc<Shared>,
    started: Instant,
    session: tokio::sync::Mutex<Session>,
    state: Mutex<State>,
}

/// The connection and where its PostgreSQL transaction stands.
#[derive(Default)]
struct Session {
    conn: Option<Object>,
    /// `BEGIN` was sent and no `COMMIT`/`ROLLBACK` has ended it.
    open: bool,
    /// A statement failed, so PostgreSQL aborted the transaction: every later call fails so.
    failed: Option<StoreError>,
}

/// What the transaction accumulates; locked only for synchronous work, never across `.await`.
#[derive(Default)]
struct State {
    buffer: WriteBuffer,
    /// Keys read with no pending adds: setting them needs no cleanup of adds.
    without_adds: HashSet<Vec<u8>>,
    watches: Vec<(Vec<u8>, Reply)>,
    committed: bool,
}

type Statement<'a> =
    Pin<Box<dyn Future<Output = std::result::Result<(), tokio_postgres::Error>> + Send + 'a>>;

impl PgTx {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self {
            shared,
            started: Instant::now(),
            session: tokio::sync::Mutex::new(Session::default()),
            state: Mutex::new(State::default()),
        }
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

    /// Runs one read inside the transaction, beginning it (pipelined) if this is the first.
    async fn read(&self, statement: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<Row>> {
        self.check_age()?;
        let mut session = self.session.lock().await;
        if let Some(e) = &session.failed {
            return Err(e.clone());
        }
        if session.conn.is_none() {
            session.conn = Some(self.shared.connection().await?);
        }
        let begin = !session.open;
        session.open = true;
        let conn = session.conn.as_ref().expect("connection just taken");
        let result = async {
            let stmt = conn.prepare_cached(statement).await?;
            if begin {
                let (begun, rows) =
                    tokio::join!(conn.batch_execute(BEGIN), conn.query(&stmt, params));
                begun?;
                rows
            } else {
                conn.query(&stmt, params).await
            }
        }
        .await;
        result.map_err(|e| {
            let err = map(&e);
            self.shared.observe(&err);
            session.failed = Some(err.clone());
            err
        })
    }

    /// The committed value of `key` as this transaction's snapshot holds it.
    async fn committed(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let key_param = key.to_vec();
        let rows = self.read(sql::GET, &[&key_param]).await?;
        let folded = match rows.first() {
            Some(row) => sql::fold_get(key, row)?,
            None => return Ok(None),
        };
        if folded.pending_adds == 0 {
            self.state().without_adds.insert(key.to_vec());
        } else if folded.pending_adds > COMPACT_AFTER {
            self.shared.compact_later(key);
        }
        Ok(folded.value)
    }

    /// Reads committed pairs of `[begin, end)` in walk order until `limit` of them survive this
    /// transaction's own clears (or the range ends).
    async fn committed_range(
        &self,
        begin: &[u8],
        end: &[u8],
        limit: usize,
        reverse: bool,
    ) -> Result<Vec<KeyValue>> {
        let hidden = |state: &State, key: &[u8]| {
            state.buffer.in_cleared(key) || matches!(state.buffer.ops.get(key), Some(Op::Clear))
        };
        let statement = if reverse {
            sql::RANGE_REVERSE
        } else {
            sql::RANGE
        };
        let mut extra = {
            let state = self.state();
            state
                .buffer
                .range(begin, end)
                .filter(|(_, op)| matches!(op, Op::Clear))
                .count()
        };
        let (mut from, mut to) = (begin.to_vec(), end.to_vec());
        let mut out: Vec<KeyValue> = Vec::new();
        loop {
            let page = (limit != usize::MAX)
                .then(|| limit.saturating_add(extra).min(i64::MAX as usize) as i64);
            let rows = self.read(statement, &[&from, &to, &page]).await?;
            let fetched = rows.len();
            for row in &rows {
                let (kv, adds) = sql::fold_range(row)?;
                if adds > COMPACT_AFTER {
                    self.shared.compact_later(&kv.key);
                }
                out.push(kv);
            }
            let Some(page) = page else { break };
            if (fetched as i64) < page {
                break;
            }
            let surviving = {
                let state = self.state();
                out.iter().filter(|kv| !hidden(&state, &kv.key)).count()
            };
            if surviving >= limit {
                break;
            }
            let last = &out.last().expect("a full page has rows").key;
            if reverse {
                to = last.clone();
            } else {
                from = key_after(last);
            }
            extra = extra.saturating_mul(2).max(16);
        }
        Ok(out)
    }

    /// Sends the buffered writes and `COMMIT` in one pipeline.
    async fn send_commit(
        &self,
        conn: &Object,
        begin: bool,
        this: &State,
    ) -> std::result::Result<(), tokio_postgres::Error> {
        let buffer = &this.buffer;
        let (mut clear, mut set_keys, mut set_values, mut add_keys, mut add_deltas) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let mut drop_adds = Vec::new();
        for (key, op) in &buffer.ops {
            match op {
                Op::Clear => clear.push(key.clone()),
                Op::Set(v) => {
                    // Only counter keys can hold adds; a counter read without any needs no
                    // cleanup (adds committed since are ordered after this transaction).
                    if keys::is_counter(key)
                        && !this.without_adds.contains(key)
                        && !buffer.in_cleared(key)
                    {
                        drop_adds.push(key.clone());
                    }
                    set_keys.push(key.clone());
                    set_values.push(v.clone());
                }
                Op::Add(d) => {
                    add_keys.push(key.clone());
                    add_deltas.push(*d);
                }
            }
        }
        let clear_range = conn.prepare_cached(sql::CLEAR_RANGE).await?;
        let mut statements: Vec<Statement<'_>> = Vec::new();
        if begin {
            statements.push(Box::pin(conn.batch_execute(BEGIN)));
        }
        for (b, e) in &buffer.cleared {
            let stmt = clear_range.clone();
            statements.push(Box::pin(async move {
                conn.execute(&stmt, &[b, e]).await.map(drop)
            }));
        }
        let batches: [(&str, Vec<&(dyn ToSql + Sync)>, bool); 4] = [
            (sql::CLEAR, vec![&clear], !clear.is_empty()),
            (sql::DROP_ADDS, vec![&drop_adds], !drop_adds.is_empty()),
            (sql::SET, vec![&set_keys, &set_values], !set_keys.is_empty()),
            (sql::ADD, vec![&add_keys, &add_deltas], !add_keys.is_empty()),
        ];
        for (statement, params, wanted) in batches {
            if !wanted {
                continue;
            }
            let stmt = conn.prepare_cached(statement).await?;
            statements.push(Box::pin(async move {
                conn.execute(&stmt, &params).await.map(drop)
            }));
        }
        statements.push(Box::pin(conn.batch_execute("COMMIT")));
        // `join_all`, not `try_join_all`: a statement is sent only when first polled, and a
        // failure that arrives before the rest were polled must not keep `COMMIT` (which ends
        // the aborted transaction) from being sent.
        futures::future::join_all(statements)
            .await
            .into_iter()
            .collect::<std::result::Result<Vec<()>, _>>()
            .map(drop)
    }
}

#[async_trait]
impl Transaction for PgTx {
    async fn get(&self, key: &[u8], _mode: crate::ReadMode) -> Result<Option<Vec<u8>>> {
        self.check_age()?;
        let local = self.state().buffer.lookup(key);
        match local {
            crate::buffer::Local::Known(v) => Ok(v),
            crate::buffer::Local::AddTo(d) => Ok(Some(crate::apply_add(
                self.committed(key).await?.as_deref(),
                d,
            ))),
            crate::buffer::Local::Unknown => self.committed(key).await,
        }
    }

    async fn get_range(
        &self,
        begin: &[u8],
        end: &[u8],
        opts: RangeOptions,
    ) -> Result<Vec<KeyValue>> {
        self.check_age()?;
        let limit = opts.limit.unwrap_or(usize::MAX);
        let committed = self
            .committed_range(begin, end, limit, opts.reverse)
            .await?;
        let state = self.state();
        let pairs = committed.into_iter().map(|kv| Ok((kv.key, kv.value)));
        let local = state.buffer.range(begin, end);
        if opts.reverse {
            merge(pairs, local.rev(), &state.buffer, limit, Ordering::Greater)
        } else {
            merge(pairs, local, &state.buffer, limit, Ordering::Less)
        }
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
        let (tx, rx) = oneshot::channel();
        self.state().watches.push((key.to_vec(), tx));
        Ok(Box::pin(async move {
            rx.await.unwrap_or(Err(StoreError::Cancelled))
        }))
    }

    async fn commit(&self) -> Result<()> {
        self.check_age()?;
        let watched: Vec<Vec<u8>> = {
            let state = self.state();
            if state.committed {
                return Err(StoreError::Cancelled);
            }
            state.watches.iter().map(|(k, _)| k.clone()).collect()
        };
        // What each watch saw: this transaction's view of the key, read before it ends.
        let mut seen = Vec::with_capacity(watched.len());
        for key in &watched {
            seen.push(self.get(key, crate::ReadMode::Snapshot).await?);
        }
        let this = {
            let mut state = self.state();
            if state.committed {
                return Err(StoreError::Cancelled);
            }
            let taken = std::mem::take(&mut *state);
            state.committed = true;
            taken
        };
        let bytes = this.buffer.written_bytes();
        if bytes > MAX_TRANSACTION_BYTES {
            return Err(StoreError::TransactionTooLarge(bytes));
        }
        let mut session = self.session.lock().await;
        if let Some(e) = session.failed.clone() {
            return Err(e);
        }
        if !this.buffer.is_empty() || session.open {
            let conn = match session.conn.take() {
                Some(conn) => conn,
                None => self.shared.connection().await?,
            };
            let begin = !session.open;
            session.open = true;
            let started = Instant::now();
            let result = self.send_commit(&conn, begin, &this).await;
            METRICS
                .commit_seconds
                .with_label_values(&["postgres"])
                .observe(started.elapsed().as_secs_f64());
            if let Err(e) = result {
                let err = map_commit(&e);
                METRICS
                    .commits
                    .with_label_values(&["postgres", err.label()])
                    .inc();
                if err == StoreError::NotCommitted {
                    METRICS.conflicts.with_label_values(&["postgres"]).inc();
                }
                self.shared.observe(&err);
                // An error the server sent means the pipelined COMMIT ended the transaction.
                session.open = e.code().is_none();
                session.failed = Some(err.clone());
                session.conn = Some(conn);
                return Err(err);
            }
            session.open = false;
            METRICS.commits.with_label_values(&["postgres", "ok"]).inc();
            self.shared.observe_ok();
            self.shared.announce(announcements(&this.buffer));
            session.conn = Some(conn);
        }
        for ((key, reply), seen) in this.watches.into_iter().zip(seen) {
            self.shared.arm(key, seen, reply);
        }
        Ok(())
    }
}

impl Drop for PgTx {
    fn drop(&mut self) {
        let session = std::mem::take(self.session.get_mut());
        let Some(conn) = session.conn else { return };
        if !session.open {
            return; // back to the pool, idle
        }
        // The PostgreSQL transaction is still open (or may be): end it before the connection
        // serves anyone else, or take the connection out of the pool when that cannot be done.
        match tokio::runtime::Handle::try_current() {
            Ok(handle) => {
                handle.spawn(async move {
                    if conn.batch_execute("ROLLBACK").await.is_err() {
                        let _ = Object::take(conn);
                    }
                });
            }
            Err(_) => {
                let _ = Object::take(conn);
            }
        }
    }
}

/// The payloads announcing this commit's changes to watchable keys: `k<hex key>` per key and
/// `r<hex begin>:<hex end>` per cleared range that overlaps a watchable range.
fn announcements(buffer: &WriteBuffer) -> Vec<String> {
    let ranges = keys::watchable();
    let watchable = |k: &[u8]| {
        ranges
            .iter()
            .any(|(b, e)| k >= b.as_slice() && k < e.as_slice())
    };
    let mut out: Vec<String> = buffer
        .cleared
        .iter()
        .filter(|(b, e)| keys::overlaps_watchable(b, e))
        .map(|(b, e)| format!("r{}:{}", hex::encode(b), hex::encode(e)))
        .collect();
    out.extend(
        buffer
            .ops
            .keys()
            .filter(|k| watchable(k))
            .map(|k| format!("k{}", hex::encode(k))),
    );
    out
}
