//! The outbound queue across the cluster (from the store): destinations suspended with their
//! last error, and the oldest message waiting.

use tern_store::model::{
    now,
    queue::{
        destination,
        ops::{self, STATUSES},
    },
};

use super::{Doctor, Finding, Severity};

/// A message waiting longer than this is reported.
const OLD_SECONDS: i64 = 6 * 3600;
/// A destination failing longer than this is a warning (before, information).
const LONG_FAILING_SECONDS: i64 = 3600;

/// Findings on the queue.
pub async fn state(d: &Doctor) -> Vec<Finding> {
    let shards = d.queue.config.shards;
    let read = d
        .dir
        .db()
        .run(|tx| async move {
            let mut oldest: Option<i64> = None;
            let mut waiting = 0i64;
            for shard in 0..shards {
                for status in STATUSES.iter().filter(|s| **s != "held") {
                    let c = ops::count_of(&tx, shard, status).await?;
                    waiting += c.entries;
                    oldest = match (oldest, c.oldest) {
                        (Some(a), Some(b)) => Some(a.min(b)),
                        (a, b) => a.or(b),
                    };
                }
            }
            Ok((waiting, oldest, destination::all(&tx).await?))
        })
        .await;
    let (waiting, oldest, destinations) = match read {
        Ok(v) => v,
        Err(_) => return Vec::new(), // the store check reports it
    };
    let at = now();
    let mut out = Vec::new();
    for dest in destinations.iter().filter(|x| x.is_suspended(at)) {
        // Suspended for a while is routine (a host down for maintenance); for long, not.
        let severity = if dest.failing_for(at) >= LONG_FAILING_SECONDS {
            Severity::Warning
        } else {
            Severity::Info
        };
        out.push(Finding::with_severity(
            severity,
            "queue.suspended",
            &dest.domain,
            format!(
                "{} is suspended after {} connection failures in a row (failing for {} minutes); last error: {}",
                dest.domain,
                dest.failures,
                dest.failing_for(at) / 60,
                dest.last_error
            ),
            format!("fix what the error says, then `ternctl queue retry --domain {}`; see ops/runbooks/TernDestinationSuspended.md", dest.domain),
        ));
    }
    match oldest.map(|t| at - t) {
        Some(age) if age > OLD_SECONDS => out.push(Finding::warning(
            "queue.oldest",
            "queue",
            format!("{waiting} messages wait; the oldest for {} hours", age / 3600),
            "`ternctl queue list --min-age 21600` and `ternctl queue show ID` show why; see ops/runbooks/TernQueueOldestMessage.md".into(),
        )),
        age => out.push(Finding::ok(
            "queue.oldest",
            "queue",
            match age {
                Some(a) => format!("{waiting} messages wait; the oldest for {} minutes", a / 60),
                None => "no message waits".into(),
            },
        )),
    }
    out
}
