//! Outbound queue metrics: attempts by result, delivery latency, DSNs sent, TLS use,
//! suspended destinations, due entries and scan time, and the queue's size and oldest entry by
//! shard and status (from a periodic census).

use std::sync::LazyLock;

use prometheus::{
    Histogram, HistogramOpts, IntCounterVec, IntGauge, IntGaugeVec, Opts, register_histogram,
    register_int_counter_vec, register_int_gauge, register_int_gauge_vec,
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
    /// Destinations suspended by this node's workers, now.
    pub suspended: IntGauge,
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
});

/// Exports every queue metric family at 0 from start, for `shards` shards.
pub fn init(shards: u16) {
    let m = &*METRICS;
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
    for shard in 0..shards {
        let shard = shard.to_string();
        for status in ["pending", "deferred", "held"] {
            m.entries.with_label_values(&[&shard, status]);
            m.oldest_seconds.with_label_values(&[&shard, status]);
        }
    }
}
