//! Metrics of the live view: sessions operators ended, outbound connections open.

use std::sync::LazyLock;

use prometheus::{IntCounterVec, IntGauge, register_int_counter_vec, register_int_gauge};

pub(super) struct Metrics {
    pub(super) kicked: IntCounterVec,
    pub(super) outbound_open: IntGauge,
}

pub(super) static METRICS: LazyLock<Metrics> = LazyLock::new(|| Metrics {
    kicked: register_int_counter_vec!(
        prometheus::Opts::new(
            "tern_sessions_kicked_total",
            "Client sessions an operator ended (ternctl sessions kick), by protocol"
        ),
        &["protocol"]
    )
    .expect("metric registers once"),
    outbound_open: register_int_gauge!(
        "tern_queue_connections_open",
        "Outbound SMTP connections this node's queue holds open"
    )
    .expect("metric registers once"),
});

/// Exports the families at 0 from start.
pub fn init() {
    let m = &*METRICS;
    for protocol in ["smtp", "imap", "pop3"] {
        m.kicked.with_label_values(&[protocol]);
    }
}
