//! The queue census: every 15 seconds, the entries of this node's shards are counted by shard
//! and status with the age of the oldest, for the `tern_queue_entries` and
//! `tern_queue_oldest_seconds` gauges (what an SRE's "queue growing / mail stuck" alerts read).

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use tern_store::model::{now, queue::ops};

use super::{QueueContext, metrics::METRICS};

const INTERVAL: Duration = Duration::from_secs(15);

/// Runs until shutdown.
pub async fn run(ctx: Arc<QueueContext>) {
    let stop = ctx.shutdown.wait();
    tokio::pin!(stop);
    loop {
        if let Err(e) = count(&ctx).await {
            tracing::warn!(error = %e, "queue census failed");
        }
        tokio::select! {
            _ = &mut stop => return,
            _ = tokio::time::sleep(INTERVAL) => {}
        }
    }
}

async fn count(ctx: &QueueContext) -> Result<(), tern_store::StoreError> {
    let entries = ops::scan(ctx.dir.db()).await?;
    let at = now();
    let mut by: BTreeMap<(u16, &'static str), (i64, i64)> = BTreeMap::new();
    for e in &entries {
        if ctx
            .epochs
            .get(usize::from(e.shard))
            .copied()
            .flatten()
            .is_none()
        {
            continue;
        }
        let status = e.status_label();
        let slot = by.entry((e.shard, status)).or_insert((0, 0));
        slot.0 += 1;
        slot.1 = slot.1.max(at - e.created);
    }
    // Every owned shard's series stays, at 0 when empty (dashboards never see "no data").
    METRICS.entries.reset();
    METRICS.oldest_seconds.reset();
    for (shard, epoch) in ctx.epochs.iter().enumerate() {
        if epoch.is_some() {
            for status in ["pending", "deferred", "held"] {
                by.entry((shard as u16, status)).or_insert((0, 0));
            }
        }
    }
    for ((shard, status), (n, oldest)) in by {
        let shard = shard.to_string();
        METRICS.entries.with_label_values(&[&shard, status]).set(n);
        METRICS
            .oldest_seconds
            .with_label_values(&[&shard, status])
            .set(oldest);
    }
    Ok(())
}
