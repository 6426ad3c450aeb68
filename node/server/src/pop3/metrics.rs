//! POP3 metrics: sessions by listener, commands by name and result, lock conflicts, bytes sent.

use std::sync::LazyLock;

use prometheus::{
    IntCounter, IntCounterVec, IntGaugeVec, Opts, register_int_counter, register_int_counter_vec,
    register_int_gauge_vec,
};

/// The POP3 metric families.
pub struct Pop3Metrics {
    /// Sessions open now, by listener.
    pub sessions_active: IntGaugeVec,
    /// Sessions opened, by listener.
    pub sessions: IntCounterVec,
    /// Commands by name and result (`ok`, `err`).
    pub commands: IntCounterVec,
    /// Logins refused because another session holds the mailbox lock.
    pub lock_conflicts: IntCounter,
    /// Message bytes sent (RETR and TOP).
    pub bytes_sent: IntCounter,
    /// Messages deleted in UPDATE.
    pub deleted: IntCounter,
    /// Connections refused before a session (limits, PROXY protocol), by reason.
    pub refused: IntCounterVec,
}

/// The process-wide POP3 metrics.
pub static METRICS: LazyLock<Pop3Metrics> = LazyLock::new(|| Pop3Metrics {
    sessions_active: register_int_gauge_vec!(
        Opts::new("tern_pop3_sessions_active", "POP3 sessions open"),
        &["listener"]
    )
    .expect("metric registers once"),
    sessions: register_int_counter_vec!(
        Opts::new("tern_pop3_sessions_total", "POP3 sessions opened"),
        &["listener"]
    )
    .expect("metric registers once"),
    commands: register_int_counter_vec!(
        Opts::new("tern_pop3_commands_total", "POP3 commands by result"),
        &["command", "result"]
    )
    .expect("metric registers once"),
    lock_conflicts: register_int_counter!(Opts::new(
        "tern_pop3_lock_conflicts_total",
        "POP3 logins refused: mailbox locked"
    ))
    .expect("metric registers once"),
    bytes_sent: register_int_counter!(Opts::new(
        "tern_pop3_sent_bytes_total",
        "Message bytes sent over POP3"
    ))
    .expect("metric registers once"),
    deleted: register_int_counter!(Opts::new(
        "tern_pop3_deleted_total",
        "Messages deleted over POP3"
    ))
    .expect("metric registers once"),
    refused: register_int_counter_vec!(
        Opts::new(
            "tern_pop3_connections_refused_total",
            "POP3 connections refused before a session (limits, PROXY protocol)"
        ),
        &["reason"]
    )
    .expect("metric registers once"),
});

/// Exports every POP3 metric family at 0 from start.
pub fn init() {
    let m = &*METRICS;
    for listener in ["pop3", "pop3s"] {
        m.sessions_active.with_label_values(&[listener]);
        m.sessions.with_label_values(&[listener]);
    }
    let proxy = crate::net::proxy::REFUSALS;
    for reason in ["per_ip", "node", "descriptors"].iter().chain(&proxy) {
        m.refused.with_label_values(&[reason]);
    }
    for command in [
        "USER", "PASS", "STAT", "LIST", "UIDL", "RETR", "DELE", "QUIT",
    ] {
        for result in ["ok", "err"] {
            m.commands.with_label_values(&[command, result]);
        }
    }
}
