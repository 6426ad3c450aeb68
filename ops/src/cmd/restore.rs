//! `ternctl restore --from DIR --data-dir D`: rebuilds a node's embedded store from a backup,
//! with the node stopped. Every chunk is checked against the manifest before anything is
//! written; the store must be empty; pairs are written in bounded transactions.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use tern_store::{
    Db, EmbeddedStore, RangeOptions, StoreError,
    postgres::{PgOptions, PgStore},
};

use crate::{
    archive::{self, FORMAT, Manifest},
    human, table,
};

/// Bytes of keys and values per restore transaction.
const TX_BYTES: usize = 2 << 20;
/// Pairs per restore transaction.
const TX_PAIRS: usize = 500;

/// `ternctl restore`.
#[derive(Args)]
pub struct RestoreCmd {
    /// The backup directory (`ternctl backup --to`).
    #[arg(long)]
    from: PathBuf,
    /// The stopped node's data directory (`server.data_dir`); its store must be empty.
    #[arg(
        long,
        required_unless_present = "postgres_url",
        conflicts_with = "postgres_url"
    )]
    data_dir: Option<PathBuf>,
    /// Restore into this PostgreSQL database instead (`store.postgres_url`); it must hold no
    /// Tern data, and no node may run on it meanwhile.
    #[arg(long, env = "TERN_STORE__POSTGRES_URL", hide_env_values = true)]
    postgres_url: Option<String>,
}

/// Runs `ternctl restore`.
pub fn run(cmd: RestoreCmd, json: bool) -> anyhow::Result<()> {
    let manifest = Manifest::read(&cmd.from)?
        .with_context(|| format!("{} holds no manifest.json", cmd.from.display()))?;
    if manifest.format != FORMAT {
        bail!(
            "backup format {} is not one this ternctl reads ({FORMAT})",
            manifest.format
        );
    }
    if !manifest.complete {
        bail!(
            "{} holds an unfinished backup; run ternctl backup --to {} again to finish it",
            cmd.from.display(),
            cmd.from.display()
        );
    }
    // Check everything before writing anything.
    for c in &manifest.chunks {
        archive::read_chunk(&cmd.from, c)?;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let (db, target) = match (&cmd.data_dir, &cmd.postgres_url) {
        (Some(dir), _) => {
            let path = dir.join("store");
            let store = EmbeddedStore::open(&path).with_context(|| {
                format!(
                    "opening {} (stop the node first: the store is used by one process at a time)",
                    path.display()
                )
            })?;
            (Db::new(store), path.display().to_string())
        }
        (None, Some(url)) => {
            let store = rt
                .block_on(PgStore::open(PgOptions::new(url.clone())))
                .context("opening the PostgreSQL database")?;
            (Db::new(store), "the PostgreSQL database".to_string())
        }
        (None, None) => bail!("give --data-dir or --postgres-url"),
    };
    let path = &target;
    rt.block_on(async {
        let empty = db
            .transact(|tx| async move {
                Ok::<_, StoreError>(
                    tx.get_range(b"", b"\xff\xff\xff\xff", RangeOptions::all().limit(1))
                        .await?
                        .is_empty(),
                )
            })
            .await?;
        if !empty {
            bail!("{path} already holds data; restore into an empty store");
        }
        for c in &manifest.chunks {
            let pairs = archive::read_chunk(&cmd.from, c)?;
            let mut rest = pairs.as_slice();
            while !rest.is_empty() {
                let mut n = 0;
                let mut bytes = 0;
                while n < rest.len() && n < TX_PAIRS && bytes < TX_BYTES {
                    bytes += rest[n].0.len() + rest[n].1.len();
                    n += 1;
                }
                let (batch, tail) = rest.split_at(n);
                db.transact(|tx| async move {
                    for (k, v) in batch {
                        tx.set(k, v)?;
                    }
                    Ok::<_, StoreError>(())
                })
                .await?;
                rest = tail;
            }
        }
        Ok(())
    })?;
    drop(db);
    table::done(
        &format!(
            "restored {} keys ({}) from the backup of {} into {}",
            manifest.pairs(),
            human::bytes(manifest.bytes()),
            human::time(manifest.created, human::now()),
            path
        ),
        json,
    );
    Ok(())
}
