//! Outbound queue metrics: attempts by result, delivery latency, DSNs sent, TLS use,
//! suspended destinations, due entries and scan time, the queue's size and oldest entry by
//! shard and status (from the shard counters), shards held and moved, fenced commits,
//! destination actors that failed, and deliveries running against the node-wide cap.

use std::sync::LazyLock;

use prometheus::{
    Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    register_histogram, register_int_counter, register_int_counter_vec, register_int_gauge,
    register_int_gauge_vec,
};

/// The queue metric families.
pub struct QueueMetrics {
    /// Recipient outcomes by result (`delivered`, `deferred`, `failed`) and reason.
    pub recipients: IntCounterVec,
    /// Connection attempts by result (`ok`, `failed`).
    pub connections: IntCounterVec,
    /// Seconds from acceptance to delivery.
    pub delivery_seconds: Histogram,
    /// DSNs sent by kind (`failure`, `delay`, `success`).
    pub dsn: IntCounterVec,
    /// Sessions by TLS use (`yes`, `no`).
    pub tls: IntCounterVec,
    /// Destinations suspended now (the store's view: the same on every node).
    pub suspended: IntGauge,
    /// Seconds the longest-failing suspended destination has been failing.
    pub suspended_longest: IntGauge,
    /// `queue.shards`: the shards the queue is split into.
    pub shards: IntGauge,
    /// Entries due at the last scan.
    pub due: IntGauge,
    /// Entries being delivered now.
    pub in_flight: IntGauge,
    /// Queue entries by shard and status (`pending`, `deferred`, `held`).
    pub entries: IntGaugeVec,
    /// Age in seconds of the oldest entry by shard and status.
    pub oldest_seconds: IntGaugeVec,
    /// Seconds per scan of the owned shards for due entries.
    pub scan_seconds: Histogram,
    /// Shards this node holds (claimed in the store).
    pub owned_shards: IntGauge,
    /// Shards taken or released by this node, by `direction` (`gained`, `lost`).
    pub shard_moves: IntCounterVec,
    /// Writes refused because the shard's epoch in the store is no longer this node's, by
    /// `write` (`attempt`, `postpone`, `connection`, `claim`).
    pub fenced: IntCounterVec,
    /// Destination actors that died (they are replaced at once).
    pub actor_failures: IntCounter,
    /// Deliveries running now, against `queue.max_concurrent_deliveries`.
    pub deliveries_active: IntGauge,
    /// `queue.max_concurrent_deliveries`.
    pub deliveries_limit: IntGauge,
}

/// The process-wide queue metrics.
pub static METRICS: LazyLock<QueueMetrics> = LazyLock::new(|| QueueMetrics {
    recipients: register_int_counter_vec!(
        Opts::new(
            "tern_queue_recipients_total",
            "Outbound recipient attempts by result (delivered, deferred, failed) and reason \
             (none for delivered; block_list, unknown_user, mailbox_full, too_large, policy, dns, \
             connect, tls, timeout, other)"
        ),
        &["result", "reason"]
    )
    .expect("metric registers once"),
    connections: register_int_counter_vec!(
        Opts::new(
            "tern_queue_connections_total",
            "Outbound SMTP connections by result"
        ),
        &["result"]
    )
    .expect("metric registers once"),
    delivery_seconds: register_histogram!(
        HistogramOpts::new(
            "tern_queue_delivery_seconds",
            "Seconds from acceptance to remote acceptance"
        )
        .buckets(vec![
            0.05, 0.1, 0.5, 1.0, 5.0, 30.0, 120.0, 600.0, 3600.0, 14_400.0, 86_400.0
        ])
    )
    .expect("metric registers once"),
    dsn: register_int_counter_vec!(
        Opts::new(
            "tern_queue_dsn_total",
            "Delivery status notifications sent by kind"
        ),
        &["kind"]
    )
    .expect("metric registers once"),
    tls: register_int_counter_vec!(
        Opts::new(
            "tern_queue_sessions_total",
            "Outbound SMTP sessions by TLS use"
        ),
        &["tls"]
    )
    .expect("metric registers once"),
    suspended: register_int_gauge!(
        "tern_queue_suspended_destinations",
        "Destinations suspended after connection failures"
    )
    .expect("metric registers once"),
    suspended_longest: register_int_gauge!(
        "tern_queue_suspended_longest_seconds",
        "Seconds the longest-failing suspended destination has been failing (0: none suspended)"
    )
    .expect("metric registers once"),
    shards: register_int_gauge!(
        "tern_queue_shards",
        "Shards the outbound queue is split into (queue.shards)"
    )
    .expect("metric registers once"),
    due: register_int_gauge!(
        "tern_queue_due_entries",
        "Queue entries due at the last scan"
    )
    .expect("metric registers once"),
    in_flight: register_int_gauge!(
        "tern_queue_in_flight_entries",
        "Queue entries being delivered"
    )
    .expect("metric registers once"),
    entries: register_int_gauge_vec!(
        Opts::new("tern_queue_entries", "Queue entries by shard and status"),
        &["shard", "status"]
    )
    .expect("metric registers once"),
    oldest_seconds: register_int_gauge_vec!(
        Opts::new(
            "tern_queue_oldest_seconds",
            "Age of the oldest queue entry by shard and status"
        ),
        &["shard", "status"]
    )
    .expect("metric registers once"),
    scan_seconds: register_histogram!(
        HistogramOpts::new(
            "tern_queue_scan_seconds",
            "Seconds per scan of the owned shards for due entries"
        )
        .buckets(vec![0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0])
    )
    .expect("metric registers once"),
    owned_shards: register_int_gauge!("tern_queue_owned_shards", "Queue shards this node holds")
        .expect("metric registers once"),
    shard_moves: register_int_counter_vec!(
        Opts::new(
            "tern_queue_shard_moves_total",
            "Queue shards this node took (gained) or gave up (lost)"
        ),
        &["direction"]
    )
    .expect("metric registers once"),
    fenced: register_int_counter_vec!(
        Opts::new(
            "tern_queue_fenced_writes_total",
            "Queue owner writes refused because another node holds the shard now (seen in the \
             store's shard owner epoch, in the write's transaction or by an earlier scan), by \
             write: attempt, postpone, connection, claim"
        ),
        &["write"]
    )
    .expect("metric registers once"),
    actor_failures: register_int_counter!(
        "tern_queue_destination_actor_failures_total",
        "Destination actors that died and were replaced"
    )
    .expect("metric registers once"),
    deliveries_active: register_int_gauge!(
        "tern_queue_deliveries_active",
        "Outbound deliveries running now"
    )
    .expect("metric registers once"),
    deliveries_limit: register_int_gauge!(
        "tern_queue_deliveries_limit",
        "Outbound deliveries allowed at once on this node (queue.max_concurrent_deliveries)"
    )
    .expect("metric registers once"),
});

/// Exports every queue metric family at 0 from start, for `shards` shards and a cap of `limit`
/// deliveries at once.
pub fn init(shards: u16, limit: usize) {
    let m = &*METRICS;
    m.deliveries_limit.set(limit as i64);
    m.shards.set(i64::from(shards));
    m.recipients.with_label_values(&["delivered", "none"]);
    for result in ["deferred", "failed"] {
        for reason in super::cause::Reason::ALL {
            m.recipients.with_label_values(&[result, reason.label()]);
        }
    }
    for result in ["ok", "failed"] {
        m.connections.with_label_values(&[result]);
    }
    for kind in ["failure", "delay", "success"] {
        m.dsn.with_label_values(&[kind]);
    }
    for tls in ["yes", "no"] {
        m.tls.with_label_values(&[tls]);
    }
    for direction in ["gained", "lost"] {
        m.shard_moves.with_label_values(&[direction]);
    }
    for write in ["attempt", "postpone", "connection", "claim"] {
        m.fenced.with_label_values(&[write]);
    }
    for shard in 0..shards {
        let shard = shard.to_string();
        for status in tern_store::model::queue::ops::STATUSES {
            m.entries.with_label_values(&[&shard, status]);
            m.oldest_seconds.with_label_values(&[&shard, status]);
        }
    }
}
