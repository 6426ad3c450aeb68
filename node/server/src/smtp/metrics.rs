//! SMTP metrics: sessions by listener, commands by verb and reply class, messages by outcome,
//! bytes received, ingest latency, AUTH results.

use std::sync::LazyLock;

use prometheus::{
    HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts,
    register_histogram_vec, register_int_counter, register_int_counter_vec, register_int_gauge_vec,
};

/// The SMTP metric families.
pub struct SmtpMetrics {
    /// Sessions open now, by listener.
    pub sessions_active: IntGaugeVec,
    /// Sessions opened, by listener.
    pub sessions: IntCounterVec,
    /// Connections refused before a session (limits, PROXY protocol), by reason.
    pub refused: IntCounterVec,
    /// Commands by verb and reply class (2, 3, 4, 5).
    pub commands: IntCounterVec,
    /// Messages by outcome (`accepted` or a refusal reason).
    pub messages: IntCounterVec,
    /// Message bytes received (after DATA/BDAT decoding).
    pub bytes: IntCounter,
    /// Time from end of data to the 250 (durable commit included).
    pub ingest_seconds: HistogramVec,
    /// AUTH attempts by result.
    pub auth: IntCounterVec,
}

/// The process-wide SMTP metrics.
pub static METRICS: LazyLock<SmtpMetrics> = LazyLock::new(|| {
    SmtpMetrics {
    sessions_active: register_int_gauge_vec!(
        Opts::new("tern_smtp_sessions_active", "SMTP sessions open"),
        &["listener"]
    )
    .expect("metric registers once"),
    sessions: register_int_counter_vec!(
        Opts::new("tern_smtp_sessions_total", "SMTP sessions opened"),
        &["listener"]
    )
    .expect("metric registers once"),
    refused: register_int_counter_vec!(
        Opts::new(
            "tern_smtp_connections_refused_total",
            "SMTP connections refused before a session (limits, PROXY protocol)"
        ),
        &["reason"]
    )
    .expect("metric registers once"),
    commands: register_int_counter_vec!(
        Opts::new(
            "tern_smtp_commands_total",
            "SMTP commands by verb and reply class"
        ),
        &["verb", "class"]
    )
    .expect("metric registers once"),
    messages: register_int_counter_vec!(
        Opts::new("tern_smtp_messages_total", "SMTP messages by outcome"),
        &["outcome"]
    )
    .expect("metric registers once"),
    bytes: register_int_counter!(Opts::new(
        "tern_smtp_received_bytes_total",
        "Message bytes received over SMTP"
    ))
    .expect("metric registers once"),
    ingest_seconds: register_histogram_vec!(
        HistogramOpts::new(
            "tern_smtp_ingest_seconds",
            "From end of message data to the durable 250"
        )
        .buckets(vec![
            0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0
        ]),
        &["listener"]
    )
    .expect("metric registers once"),
    auth: register_int_counter_vec!(
        Opts::new(
            "tern_smtp_auth_total",
            "SMTP AUTH attempts by result (ok, failed, banned: refused unchecked by login protection, error)"
        ),
        &["result"]
    )
    .expect("metric registers once"),
}
});

/// Exports every SMTP metric family at 0 from start.
pub fn init() {
    let m = &*METRICS;
    for listener in ["smtp", "submission", "submissions"] {
        m.sessions_active.with_label_values(&[listener]);
        m.sessions.with_label_values(&[listener]);
        m.ingest_seconds.with_label_values(&[listener]);
    }
    let proxy = crate::net::proxy::REFUSALS;
    for reason in ["per_ip", "node", "descriptors"].iter().chain(&proxy) {
        m.refused.with_label_values(&[reason]);
    }
    for verb in ["EHLO", "MAIL", "RCPT", "DATA", "AUTH"] {
        for class in ["2xx", "4xx", "5xx"] {
            m.commands.with_label_values(&[verb, class]);
        }
    }
    for outcome in [
        "accepted",
        "relay_denied",
        "unknown_user",
        "quota",
        "too_big",
        "too_many_recipients",
        "storage",
        "store_error",
        "policy",
    ] {
        m.messages.with_label_values(&[outcome]);
    }
    for result in ["ok", "failed", "banned", "error"] {
        m.auth.with_label_values(&[result]);
    }
}
