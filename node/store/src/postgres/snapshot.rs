//! A long-lived snapshot of the postgres store for backups: a connection of its own in a
//! `REPEATABLE READ READ ONLY` transaction (its
//! snapshot fixed by a first query at open), without the statement and idle timeouts of the
//! pool's connections, held as long as the backup runs and read in bounded ranges.

use async_trait::async_trait;
use tokio_postgres::Client;

use super::{Shared, error::map, sql};
use crate::{
    api::{KeyValue, Snapshot},
    error::Result,
};

pub(crate) struct PgSnapshot {
    client: Client,
    driver: tokio::task::JoinHandle<()>,
}

impl PgSnapshot {
    pub(crate) async fn open(shared: &Shared) -> Result<Self> {
        let (client, connection) = shared
            .target
            .config
            .connect(shared.target.tls.clone())
            .await
            .map_err(|e| shared.target.unreachable(super::error::describe(&e)))?;
        let driver = tokio::spawn(async move {
            let _ = connection.await;
        });
        client
            .batch_execute(
                "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; \
                 SET LOCAL statement_timeout = 0; \
                 SET LOCAL idle_in_transaction_session_timeout = 0; \
                 SELECT 1",
            )
            .await
            .map_err(|e| map(&e))?;
        Ok(Self { client, driver })
    }
}

impl Drop for PgSnapshot {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

#[async_trait]
impl Snapshot for PgSnapshot {
    async fn get_range(&self, begin: &[u8], end: &[u8], limit: usize) -> Result<Vec<KeyValue>> {
        if begin >= end || limit == 0 {
            return Ok(Vec::new());
        }
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let rows = self
            .client
            .query(sql::RANGE, &[&begin, &end, &limit])
            .await
            .map_err(|e| map(&e))?;
        rows.iter()
            .map(|row| sql::fold_range(row).map(|(kv, _)| kv))
            .collect()
    }
}
