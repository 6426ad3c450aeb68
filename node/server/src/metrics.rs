//! Node-level Prometheus metrics (build info, process, HTTP requests) and the text rendering
//! of every registered family, the store's included.

use std::sync::LazyLock;

use prometheus::{
    IntCounterVec, IntGaugeVec, Opts, register_int_counter_vec, register_int_gauge_vec,
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

/// Registers the process collector and build info; call once at start.
pub fn init() {
    BUILD_INFO
        .with_label_values(&[env!("CARGO_PKG_VERSION")])
        .set(1);
    LazyLock::force(&HTTP_REQUESTS);
    LazyLock::force(&tern_store::metrics::METRICS);
    crate::headroom::init();
    crate::net::budget::init();
    crate::password_check::init();
    crate::smtp::metrics::init();
    crate::pop3::metrics::init();
    crate::imap::metrics::init();
    let _ = prometheus::register(Box::new(
        prometheus::process_collector::ProcessCollector::for_self(),
    ));
}

/// Every metric in the text exposition format.
pub fn render() -> String {
    prometheus::TextEncoder::new()
        .encode_to_string(&prometheus::gather())
        .unwrap_or_else(|e| format!("# encoding failed: {e}\n"))
}
