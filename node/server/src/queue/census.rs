//! The queue census: every 15 seconds, the entries of the shards this node holds are counted
//! by shard and status with the age of the oldest, for the `tern_queue_entries` and
//! `tern_queue_oldest_seconds` gauges (what an SRE's "queue growing / mail stuck" alerts read).
//! It reads the per-shard counters and the first key of each age index, so its cost does not
//! grow with the queue.

use std::{sync::Arc, time::Duration};

use tern_store::model::{
    now,
    queue::ops::{self, STATUSES, ShardCount},
};

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
    let held = ctx.held.all();
    let shards: Vec<u16> = held.keys().copied().collect();
    let shards = &shards;
    let counts = ctx
        .dir
        .db()
        .run(|tx| async move {
            let mut out = Vec::with_capacity(shards.len() * STATUSES.len());
            for s in shards {
                for status in STATUSES {
                    out.push((*s, status, ops::count_of(&tx, *s, status).await?));
                }
            }
            Ok(out)
        })
        .await?;
    let at = now();
    // Every held shard's series is set in place, 0 when empty, never reset first: a scrape
    // between a reset and the new values would see the family missing. Shards not held lose
    // their series, once the node holds any (until then, the zeros exported at start stay).
    for (s, status, ShardCount { entries, oldest }) in counts {
        let label = s.to_string();
        let labels = [label.as_str(), status];
        METRICS.entries.with_label_values(&labels).set(entries);
        METRICS
            .oldest_seconds
            .with_label_values(&labels)
            .set(oldest.map_or(0, |c| (at - c).max(0)));
    }
    let settled = !held.is_empty();
    for s in (0..ctx.config.shards).filter(|s| settled && !held.contains_key(s)) {
        let label = s.to_string();
        for status in STATUSES {
            let _ = METRICS
                .entries
                .remove_label_values(&[label.as_str(), status]);
            let _ = METRICS
                .oldest_seconds
                .remove_label_values(&[label.as_str(), status]);
        }
    }
    Ok(())
}
