//! `ternctl restore --from DIR --data-dir D`: rebuilds a node's embedded store from a backup,
//! with the node stopped. Every chunk is checked against the manifest before anything is
//! written; the store must be empty; pairs are written in bounded transactions.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;
use tern_store::{Db, EmbeddedStore, RangeOptions, StoreError};

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
    #[arg(long)]
    data_dir: PathBuf,
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
    let path = cmd.data_dir.join("store");
    let store = EmbeddedStore::open(&path).with_context(|| {
        format!(
            "opening {} (stop the node first: the store is used by one process at a time)",
            path.display()
        )
    })?;
    let db = Db::new(store);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
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
            bail!(
                "{} already holds data; restore into an empty data directory",
                path.display()
            );
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
            path.display()
        ),
        json,
    );
    Ok(())
}
