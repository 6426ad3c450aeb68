//! A long-lived snapshot of the embedded store for backups: the current read view, held as
//! long as the backup runs (fjall keeps what it sees until it is dropped), read in bounded
//! ranges. Unlike a transaction it has no age limit and takes part in no conflict detection.

use std::sync::Arc;

use async_trait::async_trait;
use fjall::Readable;

use super::{engine::Engine, writer::io};
use crate::{
    api::{KeyValue, Snapshot},
    error::Result,
};

pub(crate) struct EmbeddedSnapshot {
    /// Held so the database stays open (and is not reopened) while the snapshot lives.
    engine: Arc<Engine>,
    snapshot: fjall::Snapshot,
}

impl EmbeddedSnapshot {
    pub(crate) fn new(engine: Arc<Engine>) -> Self {
        let snapshot = engine.view.current().snapshot;
        Self { engine, snapshot }
    }
}

#[async_trait]
impl Snapshot for EmbeddedSnapshot {
    async fn get_range(&self, begin: &[u8], end: &[u8], limit: usize) -> Result<Vec<KeyValue>> {
        if begin >= end {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        for guard in self.snapshot.range(&self.engine.ks, begin..end).take(limit) {
            let (k, v) = guard.into_inner().map_err(io)?;
            out.push(KeyValue {
                key: k.to_vec(),
                value: v.to_vec(),
            });
        }
        Ok(out)
    }
}
