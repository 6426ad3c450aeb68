//! Prometheus metrics of the store, registered once in the process's default registry.

use std::sync::LazyLock;

use prometheus::{
    HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    register_histogram_vec, register_int_counter_vec, register_int_gauge, register_int_gauge_vec,
};

/// The store's metric families.
pub struct StoreMetrics {
    /// Latency of durable commits, by backend.
    pub commit_seconds: HistogramVec,
    /// Transactions per group commit on the embedded backend.
    pub group_size: HistogramVec,
    /// Commits by backend and outcome (`ok` or an error label).
    pub commits: IntCounterVec,
    /// Transactions retried by the retry helper, by backend and reason.
    pub retries: IntCounterVec,
    /// Conflicts detected (`not_committed`), by backend.
    pub conflicts: IntCounterVec,
    /// Bytes of the data directory on disk.
    pub disk_bytes: IntGaugeVec,
    /// Bytes free, and the size, of the filesystem holding the data directory.
    pub fs_bytes: IntGaugeVec,
    /// Inodes free, and in all, on the filesystem holding the data directory.
    pub fs_inodes: IntGaugeVec,
    /// 1 while the backend takes commits, 0 while it is failed or recovering.
    pub healthy: IntGaugeVec,
    /// Watches currently armed.
    pub watches: IntGauge,
    /// The postgres backend's pool: connections open, idle, and transactions waiting for one.
    pub postgres_connections: IntGaugeVec,
}

/// The process-wide store metrics.
pub static METRICS: LazyLock<StoreMetrics> = LazyLock::new(|| {
    let buckets = vec![
        0.0005, 0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.0, 2.0,
    ];
    StoreMetrics {
        commit_seconds: register_histogram_vec!(
            HistogramOpts::new(
                "tern_store_commit_seconds",
                "Latency of durable store commits"
            )
            .buckets(buckets),
            &["backend"]
        )
        .expect("metric registers once"),
        group_size: register_histogram_vec!(
            HistogramOpts::new(
                "tern_store_group_commit_size",
                "Transactions made durable by one group commit"
            )
            .buckets(vec![
                1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0
            ]),
            &["backend"]
        )
        .expect("metric registers once"),
        commits: register_int_counter_vec!(
            Opts::new("tern_store_commits_total", "Store commits by outcome"),
            &["backend", "outcome"]
        )
        .expect("metric registers once"),
        retries: register_int_counter_vec!(
            Opts::new(
                "tern_store_retries_total",
                "Transactions run again by the retry helper"
            ),
            &["backend", "reason"]
        )
        .expect("metric registers once"),
        conflicts: register_int_counter_vec!(
            Opts::new(
                "tern_store_conflicts_total",
                "Transactions refused for a conflict"
            ),
            &["backend"]
        )
        .expect("metric registers once"),
        disk_bytes: register_int_gauge_vec!(
            Opts::new(
                "tern_store_disk_bytes",
                "Bytes the store uses on the local disk"
            ),
            &["backend"]
        )
        .expect("metric registers once"),
        fs_bytes: register_int_gauge_vec!(
            Opts::new(
                "tern_store_filesystem_bytes",
                "Bytes of the filesystem holding the store's data (kind free or size)"
            ),
            &["backend", "kind"]
        )
        .expect("metric registers once"),
        fs_inodes: register_int_gauge_vec!(
            Opts::new(
                "tern_store_filesystem_inodes",
                "Inodes of the filesystem holding the store's data (kind free or size)"
            ),
            &["backend", "kind"]
        )
        .expect("metric registers once"),
        healthy: register_int_gauge_vec!(
            Opts::new(
                "tern_store_healthy",
                "1 while the store takes commits, 0 while it is failed or recovering"
            ),
            &["backend"]
        )
        .expect("metric registers once"),
        watches: register_int_gauge!(Opts::new("tern_store_watches", "Watches currently armed"))
            .expect("metric registers once"),
        postgres_connections: register_int_gauge_vec!(
            Opts::new(
                "tern_store_postgres_connections",
                "Connections of the postgres backend's pool (state open, idle or waiting: \
                 transactions waiting for one)"
            ),
            &["state"]
        )
        .expect("metric registers once"),
    }
});
