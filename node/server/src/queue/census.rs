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
    // Every owned shard's series is set in place, 0 when empty, never reset first: a scrape
    // between a reset and the new values would see the family missing. Shards not owned lose
    // their series.
    for (shard, epoch) in ctx.epochs.iter().enumerate() {
        let label = shard.to_string();
        for status in ["pending", "deferred", "held"] {
            let labels = [label.as_str(), status];
            if epoch.is_some() {
                let (n, oldest) = by.get(&(shard as u16, status)).copied().unwrap_or((0, 0));
                METRICS.entries.with_label_values(&labels).set(n);
                METRICS
                    .oldest_seconds
                    .with_label_values(&labels)
                    .set(oldest);
            } else {
                let _ = METRICS.entries.remove_label_values(&labels);
                let _ = METRICS.oldest_seconds.remove_label_values(&labels);
            }
        }
    }
    Ok(())
}
