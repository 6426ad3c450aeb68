//! Cluster metrics: Raft term, leadership, log and applied indexes, members by state, owned
//! shards, shard moves by reason, heartbeat (RPC) failures, refused TLS handshakes and RPC
//! latency.

use std::sync::LazyLock;

use prometheus::{
    HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    register_histogram_vec, register_int_counter, register_int_counter_vec, register_int_gauge,
    register_int_gauge_vec,
};

/// The cluster metric families.
pub struct ClusterMetrics {
    /// Current Raft term.
    pub term: IntGauge,
    /// 1 on the leader.
    pub is_leader: IntGauge,
    /// Index of the last log entry.
    pub last_log_index: IntGauge,
    /// Index of the last entry known committed.
    pub commit_index: IntGauge,
    /// Index of the last applied entry.
    pub applied_index: IntGauge,
    /// Members by state.
    pub members: IntGaugeVec,
    /// Shards this node owns in the shard map.
    pub owned_shards: IntGauge,
    /// Shard moves the leader made, by reason (`assign`: no owner before, `rebalance`: to a
    /// member that joined, `down`, `drain`, `leave`).
    pub shard_moves: IntCounterVec,
    /// Raft RPCs to a peer that failed (heartbeats included).
    pub heartbeat_failures: IntCounter,
    /// TLS handshakes refused on the cluster port (wrong CA, no client certificate).
    pub tls_failures: IntCounter,
    /// Seconds per Raft RPC by kind (`append`, `vote`, `snapshot`).
    pub rpc_seconds: HistogramVec,
}

/// The process-wide cluster metrics.
pub static METRICS: LazyLock<ClusterMetrics> = LazyLock::new(|| {
    ClusterMetrics {
    term: register_int_gauge!("tern_cluster_raft_term", "Current Raft term").expect("registers"),
    is_leader: register_int_gauge!("tern_cluster_raft_is_leader", "1 on the Raft leader")
        .expect("registers"),
    last_log_index: register_int_gauge!(
        "tern_cluster_raft_last_log_index",
        "Index of the last Raft log entry on this node"
    )
    .expect("registers"),
    commit_index: register_int_gauge!(
        "tern_cluster_raft_commit_index",
        "Index of the last Raft log entry this node knows committed"
    )
    .expect("registers"),
    applied_index: register_int_gauge!(
        "tern_cluster_raft_applied_index",
        "Index of the last Raft log entry applied on this node"
    )
    .expect("registers"),
    members: register_int_gauge_vec!(
        Opts::new("tern_cluster_members", "Cluster members by state"),
        &["state"]
    )
    .expect("registers"),
    owned_shards: register_int_gauge!(
        "tern_cluster_owned_shards",
        "Queue shards the shard map gives this node"
    )
    .expect("registers"),
    shard_moves: register_int_counter_vec!(
        Opts::new(
            "tern_cluster_shard_moves_total",
            "Queue shards the leader moved, by reason"
        ),
        &["reason"]
    )
    .expect("registers"),
    heartbeat_failures: register_int_counter!(
        "tern_cluster_heartbeat_failures_total",
        "Raft RPCs to a peer that failed, heartbeats included"
    )
    .expect("registers"),
    tls_failures: register_int_counter!(
        "tern_cluster_tls_failures_total",
        "TLS handshakes refused on the cluster port (certificate not signed by the cluster CA, or none)"
    )
    .expect("registers"),
    rpc_seconds: register_histogram_vec!(
        HistogramOpts::new("tern_cluster_raft_rpc_seconds", "Seconds per Raft RPC by kind")
            .buckets(vec![0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0]),
        &["rpc"]
    )
    .expect("registers"),
}
});

/// Exports every cluster family at 0 from start.
pub fn init() {
    let m = &*METRICS;
    for state in ["active", "draining", "down"] {
        m.members.with_label_values(&[state]);
    }
    for reason in ["assign", "rebalance", "down", "drain", "leave"] {
        m.shard_moves.with_label_values(&[reason]);
    }
    for rpc in ["append", "vote", "snapshot"] {
        m.rpc_seconds.with_label_values(&[rpc]);
    }
}
