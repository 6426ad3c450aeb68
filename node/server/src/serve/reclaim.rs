//! The reclaimer: removes the blobs of deleted mail continuously, a page at a time while
//! there is a backlog and every few seconds otherwise (and uploads never linked, every ten
//! minutes), starting each page at a random hash so the nodes of a cluster rarely take the
//! same markers. Exports the backlog and what it reclaimed.

use std::{
    sync::LazyLock,
    time::{Duration, Instant},
};

use prometheus::{IntCounter, IntGauge, register_int_counter, register_int_gauge};
use tern_store::{Db, blob, reclaim};

use crate::shutdown::Shutdown;

/// Markers examined per page.
const PAGE: usize = 500;
/// Wait between pages once nothing is left.
const IDLE: Duration = Duration::from_secs(5);
/// How often abandoned uploads are looked for.
const ABANDONED_EVERY: Duration = Duration::from_secs(600);

struct Metrics {
    backlog: IntGauge,
    blobs: IntCounter,
    bytes: IntCounter,
    abandoned: IntCounter,
    failures: IntCounter,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    Metrics {
    backlog: register_int_gauge!(
        "tern_store_reclaim_backlog",
        "Dropped message references (expunges, delivered queue entries) the reclaimer has not examined yet"
    )
    .expect("metric registers once"),
    blobs: register_int_counter!(
        "tern_store_reclaimed_blobs_total",
        "Message bodies removed once nothing referenced them"
    )
    .expect("metric registers once"),
    bytes: register_int_counter!(
        "tern_store_reclaimed_bytes_total",
        "Bytes of the message bodies removed"
    )
    .expect("metric registers once"),
    abandoned: register_int_counter!(
        "tern_store_abandoned_uploads_total",
        "Uploads never linked to a message, removed after an hour"
    )
    .expect("metric registers once"),
    failures: register_int_counter!(
        "tern_store_reclaim_failures_total",
        "Reclaimer pages that failed (retried at the next pass)"
    )
    .expect("metric registers once"),
}
});

/// Exports the families at 0 from start.
pub fn init() {
    LazyLock::force(&METRICS);
}

/// Runs until shutdown.
pub async fn run(db: Db, shutdown: Shutdown) {
    let m = &*METRICS;
    let mut abandoned_due = Instant::now();
    loop {
        if shutdown.is_triggered() {
            return;
        }
        let mut more = false;
        match reclaim::unreferenced(&db, PAGE, rand::random()).await {
            Ok(r) => {
                m.blobs.inc_by(r.blobs as u64);
                m.bytes.inc_by(r.bytes);
                more = r.more;
                if r.blobs > 0 {
                    tracing::debug!(
                        examined = r.examined,
                        blobs = r.blobs,
                        bytes = r.bytes,
                        "reclaimed deleted mail"
                    );
                }
            }
            Err(e) => {
                m.failures.inc();
                if e.refuses_writes() {
                    // Out of space (and recovering): the next pass, once it takes writes again.
                    tracing::warn!(error = %e, "reclaiming deleted mail skipped: the store takes no writes now");
                } else {
                    tracing::error!(error = %e, "reclaiming deleted mail failed");
                }
            }
        }
        if Instant::now() >= abandoned_due {
            abandoned_due = Instant::now() + ABANDONED_EVERY;
            match reclaim::abandoned(&db, blob::PENDING_TTL, PAGE).await {
                Ok(r) => {
                    m.abandoned.inc_by(r.abandoned as u64);
                    if r.more {
                        abandoned_due = Instant::now();
                    }
                }
                Err(e) => {
                    m.failures.inc();
                    tracing::warn!(error = %e, "removing abandoned uploads failed; retried in ten minutes");
                }
            }
        }
        match reclaim::backlog(&db).await {
            Ok(n) => m.backlog.set(n),
            Err(e) => tracing::warn!(error = %e, "cannot read the reclaim backlog"),
        }
        if more {
            tokio::task::yield_now().await;
            continue;
        }
        db.refresh_metrics();
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = tokio::time::sleep(IDLE) => {}
        }
    }
}
