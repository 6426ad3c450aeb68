//! `[store]`: which backend the node uses and its settings, checked and named by key.

use std::time::Duration;

use anyhow::bail;

use super::{Backend, raw::RawStore};

/// The backend `[store]` asks for, or an error naming the key at fault.
pub(super) fn backend(raw: &RawStore) -> anyhow::Result<Backend> {
    let backend = match raw.backend.as_str() {
        "embedded" => Backend::Embedded,
        "fdb" => Backend::Fdb {
            cluster_file: raw.fdb_cluster_file.clone(),
        },
        "postgres" => {
            let Some(url) = raw.postgres_url.clone().filter(|u| !u.trim().is_empty()) else {
                bail!(
                    "store.postgres_url: required with store.backend = \"postgres\" \
                     (e.g. postgres://tern:PASSWORD@db.example:5432/tern, or set \
                     TERN_STORE__POSTGRES_URL)"
                );
            };
            if raw.postgres_pool_size == 0 {
                bail!("store.postgres_pool_size: must be at least 1");
            }
            for (key, seconds) in [
                (
                    "store.postgres_connect_timeout_seconds",
                    raw.postgres_connect_timeout_seconds,
                ),
                (
                    "store.postgres_statement_timeout_seconds",
                    raw.postgres_statement_timeout_seconds,
                ),
            ] {
                if seconds == 0 {
                    bail!("{key}: must be at least 1");
                }
            }
            Backend::Postgres {
                url,
                ca_file: raw.postgres_ca_file.clone().map(Into::into),
                pool_size: raw.postgres_pool_size,
                connect_timeout: Duration::from_secs(raw.postgres_connect_timeout_seconds),
                statement_timeout: Duration::from_secs(raw.postgres_statement_timeout_seconds),
            }
        }
        other => {
            bail!(
                "store.backend: unknown backend {other:?} (expected \"embedded\", \
                 \"postgres\" or \"fdb\")"
            )
        }
    };
    Ok(backend)
}
