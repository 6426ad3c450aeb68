//! Node-level Prometheus metrics (build info, process, HTTP requests; readiness, the wall
//! clock, session limits and the certificate's expiry, which the alert rules compare against)
//! and the text rendering of every registered family, the store's included.

use std::sync::LazyLock;

use prometheus::{
    Gauge, IntCounterVec, IntGauge, IntGaugeVec, Opts, register_gauge, register_int_counter_vec,
    register_int_gauge, register_int_gauge_vec,
};

/// `tern_build_info{version}` = 1.
pub static BUILD_INFO: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    register_int_gauge_vec!(
        Opts::new("tern_build_info", "Build of this node"),
        &["version"]
    )
    .expect("metric registers once")
});

/// Admin HTTP requests by method and status.
pub static HTTP_REQUESTS: LazyLock<IntCounterVec> = LazyLock::new(|| {
    register_int_counter_vec!(
        Opts::new("tern_http_requests_total", "Admin HTTP requests"),
        &["method", "status"]
    )
    .expect("metric registers once")
});

/// `tern_node_ready`: 1 while not draining and the store is healthy (set at each scrape).
pub static NODE_READY: LazyLock<IntGauge> = LazyLock::new(|| {
    register_int_gauge!(
        "tern_node_ready",
        "1 while the node serves, 0 while it drains or its store is failed"
    )
    .expect("metric registers once")
});

/// `tern_node_time_seconds`: the node's wall clock at the scrape, for clock skew alerts.
static NODE_TIME: LazyLock<Gauge> = LazyLock::new(|| {
    register_gauge!(
        "tern_node_time_seconds",
        "The node's wall clock (Unix seconds) when it was scraped; against the scrape's timestamp it shows the clock's skew"
    )
    .expect("metric registers once")
});

/// `tern_sessions_limit{protocol}`: the node's `max_connections` of each protocol.
pub static SESSIONS_LIMIT: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    register_int_gauge_vec!(
        Opts::new(
            "tern_sessions_limit",
            "Sessions the node takes at once per protocol (its max_connections)"
        ),
        &["protocol"]
    )
    .expect("metric registers once")
});

/// `tern_tls_certificate_expiry_seconds{certificate}`: when a served certificate ends.
pub static CERTIFICATE_EXPIRY: LazyLock<IntGaugeVec> = LazyLock::new(|| {
    register_int_gauge_vec!(
        Opts::new(
            "tern_tls_certificate_expiry_seconds",
            "When the certificate this node serves ends (Unix seconds; certificate mail: the mail listeners')"
        ),
        &["certificate"]
    )
    .expect("metric registers once")
});

/// `tern_data_filesystem_bytes{kind}` and `tern_data_filesystem_inodes{kind}` (`free`, `size`):
/// the filesystem of `server.data_dir` (the Raft log, certificates, and the embedded store),
/// whatever the store.
static DATA_FILESYSTEM: LazyLock<[IntGaugeVec; 2]> = LazyLock::new(|| {
    let family = |name: &str, help: &str| {
        register_int_gauge_vec!(Opts::new(name, help), &["kind"]).expect("metric registers once")
    };
    [
        family(
            "tern_data_filesystem_bytes",
            "Bytes of the filesystem holding server.data_dir (kind free: available to tern, or size)",
        ),
        family(
            "tern_data_filesystem_inodes",
            "Inodes of the filesystem holding server.data_dir (kind free or size)",
        ),
    ]
});

/// Sets the data filesystem gauges from `data_dir` (at each scrape).
pub fn refresh_data_filesystem(data_dir: &std::path::Path) {
    let Ok(space) = tern_store::space::Space::of(data_dir) else {
        return;
    };
    let gauge = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    let [bytes, inodes] = &*DATA_FILESYSTEM;
    for (kind, b, i) in [
        ("free", space.free_bytes, space.free_inodes),
        ("size", space.total_bytes, space.total_inodes),
    ] {
        bytes.with_label_values(&[kind]).set(gauge(b));
        inodes.with_label_values(&[kind]).set(gauge(i));
    }
}

/// Registers the process collector and build info; call once at start.
pub fn init() {
    BUILD_INFO
        .with_label_values(&[env!("CARGO_PKG_VERSION")])
        .set(1);
    LazyLock::force(&HTTP_REQUESTS);
    LazyLock::force(&NODE_READY);
    LazyLock::force(&NODE_TIME);
    LazyLock::force(&SESSIONS_LIMIT);
    LazyLock::force(&CERTIFICATE_EXPIRY);
    LazyLock::force(&DATA_FILESYSTEM);
    LazyLock::force(&tern_store::metrics::METRICS);
    crate::headroom::init();
    crate::net::budget::init();
    crate::notices::init();
    crate::live::init();
    crate::filer::init();
    crate::serve::reclaim::init();
    crate::tracking::init();
    crate::admin::doctor::init();
    crate::password_check::init();
    crate::tls::resumption::init();
    crate::smtp::metrics::init();
    crate::pop3::metrics::init();
    crate::imap::metrics::init();
    crate::memory::init();
    let _ = prometheus::register(Box::new(
        prometheus::process_collector::ProcessCollector::for_self(),
    ));
}

/// Every metric in the text exposition format.
pub fn render() -> String {
    NODE_TIME.set(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs_f64())
            .unwrap_or(0.0),
    );
    prometheus::TextEncoder::new()
        .encode_to_string(&prometheus::gather())
        .unwrap_or_else(|e| format!("# encoding failed: {e}\n"))
}
