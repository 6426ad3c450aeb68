//! Opening the store the configuration names: the embedded store in the data directory,
//! PostgreSQL, or FoundationDB.

use anyhow::Context;
use tern_store::{Db, EmbeddedOptions, EmbeddedStore};

use crate::config::{Backend, Config};

/// Opens the configured store.
pub async fn open(config: &Config) -> anyhow::Result<Db> {
    match &config.backend {
        Backend::Embedded => {
            let path = config.data_dir.join("store");
            let options = EmbeddedOptions {
                reserve_bytes: config.store_reserve_bytes,
                cache_bytes: config.store_cache_bytes,
                ..EmbeddedOptions::default()
            };
            let store = EmbeddedStore::open_with(&path, options)
                .with_context(|| format!("opening the embedded store in {}", path.display()))?;
            Ok(Db::new(store))
        }
        #[cfg(feature = "postgres")]
        Backend::Postgres {
            url,
            ca_file,
            pool_size,
            connect_timeout,
            statement_timeout,
        } => {
            let options = tern_store::postgres::PgOptions {
                url: url.clone(),
                pool_size: *pool_size,
                connect_timeout: *connect_timeout,
                statement_timeout: *statement_timeout,
                ca_file: ca_file.clone(),
            };
            // The error names store.postgres_url and the server, never the password.
            let store = tern_store::postgres::PgStore::open(options)
                .await
                .context("opening the postgres store")?;
            Ok(Db::new(store))
        }
        #[cfg(not(feature = "postgres"))]
        Backend::Postgres { .. } => {
            anyhow::bail!(
                "store.backend = \"postgres\" needs a tern built with `--features postgres`"
            )
        }
        #[cfg(feature = "fdb")]
        Backend::Fdb { cluster_file } => {
            // SAFETY: the node starts the FoundationDB client once, here, and keeps the store
            // (which owns the network guard) until it exits.
            #[allow(unsafe_code)]
            let store = unsafe { tern_store::fdb::FdbStore::open(cluster_file.as_deref()) }
                .context("opening FoundationDB")?;
            Ok(Db::new(store))
        }
        #[cfg(not(feature = "fdb"))]
        Backend::Fdb { .. } => {
            anyhow::bail!("store.backend = \"fdb\" needs a tern built with `--features fdb`")
        }
    }
}
