//! The postgres backend's schema, created on first start and migrated in place. Every node runs
//! this at start under one advisory lock, so two nodes starting at once never race; the version
//! row tells a node whether the database is older (migrate), current, or newer than it knows
//! (refuse to start rather than write a format it does not understand).
//!
//! One table holds every key: `seq = 0` is the key's value, `seq > 0` are pending atomic adds
//! (deltas) folded into the value on read and compacted in the background. Keeping the deltas
//! beside the value keeps one key's rows contiguous in the primary key, so a range read walks
//! each key once, in byte order (`bytea` compares with `memcmp`, FoundationDB's order).

use tokio_postgres::Client;

use crate::error::{Result, StoreError};

/// The schema this build writes.
pub(crate) const VERSION: i64 = 1;

/// Arbitrary, fixed: the advisory lock every starting node takes while it checks the schema.
const MIGRATION_LOCK: i64 = 0x7465_726e_5f6d_6967; // "tern_mig"

/// Each step takes the schema from version `i` to `i + 1`.
const STEPS: &[&str] = &["
    CREATE TABLE tern_kv (
        key bytea NOT NULL,
        seq bigint NOT NULL,
        value bytea,
        delta bigint,
        PRIMARY KEY (key, seq)
    ) WITH (fillfactor = 80);
    CREATE SEQUENCE tern_delta_seq CACHE 64;
"];

/// Creates or migrates the schema; refuses a database written by a newer Tern.
pub(crate) async fn migrate(client: &Client, server: &str) -> Result<()> {
    let err = |step: &str, e: tokio_postgres::Error| {
        StoreError::Unavailable(format!(
            "store.postgres_url at {server}: {step}: {}",
            super::error::describe(&e)
        ))
    };
    client
        .execute("SELECT pg_advisory_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(|e| err("taking the migration lock", e))?;
    let outcome = migrate_locked(client).await.map_err(|e| match e {
        Migration::Db(e) => err("creating the schema", e),
        Migration::Newer(found) => StoreError::Backend {
            code: 0,
            message: format!(
                "the database at {server} holds Tern schema version {found}, newer than this \
                 tern understands ({VERSION}); upgrade tern on this node"
            ),
            retryable: false,
        },
    });
    let _ = client
        .execute("SELECT pg_advisory_unlock($1)", &[&MIGRATION_LOCK])
        .await;
    outcome
}

enum Migration {
    Db(tokio_postgres::Error),
    Newer(i64),
}

impl From<tokio_postgres::Error> for Migration {
    fn from(e: tokio_postgres::Error) -> Self {
        Migration::Db(e)
    }
}

async fn migrate_locked(client: &Client) -> std::result::Result<(), Migration> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS tern_meta (name text PRIMARY KEY, value bigint NOT NULL)",
        )
        .await?;
    let found: i64 = client
        .query_opt(
            "SELECT value FROM tern_meta WHERE name = 'schema_version'",
            &[],
        )
        .await?
        .map(|row| row.get(0))
        .unwrap_or(0);
    if found > VERSION {
        return Err(Migration::Newer(found));
    }
    for (from, step) in STEPS.iter().enumerate().skip(found as usize) {
        let to = from as i64 + 1;
        client
            .batch_execute(&format!(
                "BEGIN; {step}; INSERT INTO tern_meta (name, value) VALUES ('schema_version', \
                 {to}) ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value; COMMIT"
            ))
            .await?;
        tracing::info!(version = to, "postgres store schema migrated");
    }
    Ok(())
}
