//! IMAP metrics: sessions by listener, commands by name and result, IDLE sessions, open
//! mailbox actors, the notification latency from a committed change to the untagged
//! response written to an IDLE or selected session, and what COMPRESS saves.

use std::sync::LazyLock;

use prometheus::{
    Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    register_histogram, register_int_counter, register_int_counter_vec, register_int_gauge,
    register_int_gauge_vec,
};

/// The IMAP metric families.
pub struct ImapMetrics {
    /// Sessions open now, by listener.
    pub sessions_active: IntGaugeVec,
    /// Sessions opened, by listener.
    pub sessions: IntCounterVec,
    /// Commands by name and result (`ok`, `no`, `bad`).
    pub commands: IntCounterVec,
    /// Sessions in IDLE now.
    pub idle: IntGauge,
    /// Mailbox actors running on this node.
    pub mailbox_actors: IntGauge,
    /// Seconds from a change being seen committed to the untagged response being written.
    pub notify_latency: Histogram,
    /// Connections refused before a session (limits, PROXY protocol), by reason.
    pub refused: IntCounterVec,
    /// Searches by where the records came from (`index`: the mailbox actor's; `store`).
    pub search_sources: IntCounterVec,
    /// Envelope cache lookups by result (`hit`, `miss`).
    pub envelope_lookups: IntCounterVec,
    /// Sessions that turned COMPRESS on.
    pub compress_sessions: IntCounter,
    /// What compressing sessions sent, by `stage` (`plain`: before DEFLATE, `compressed`: on
    /// the wire), added as each session ends.
    pub compress_bytes: IntCounterVec,
    /// Updates sent for searches kept up to date (CONTEXT=SEARCH/SORT), by `kind` (`addto`,
    /// `removefrom`), and `noupdate` refusals past the per-session limit.
    pub search_updates: IntCounterVec,
    /// Sessions that set NOTIFY.
    pub notify_sessions: IntCounter,
    /// STATUS and LIST notifications sent for mailboxes other than the selected one.
    pub notify_events: IntCounter,
}

/// The process-wide IMAP metrics.
pub static METRICS: LazyLock<ImapMetrics> = LazyLock::new(|| ImapMetrics {
    sessions_active: register_int_gauge_vec!(
        Opts::new("tern_imap_sessions_active", "IMAP sessions open"),
        &["listener"]
    )
    .expect("metric registers once"),
    sessions: register_int_counter_vec!(
        Opts::new("tern_imap_sessions_total", "IMAP sessions opened"),
        &["listener"]
    )
    .expect("metric registers once"),
    commands: register_int_counter_vec!(
        Opts::new("tern_imap_commands_total", "IMAP commands by result"),
        &["command", "result"]
    )
    .expect("metric registers once"),
    idle: register_int_gauge!(Opts::new(
        "tern_imap_idle_sessions",
        "IMAP sessions in IDLE"
    ))
    .expect("metric registers once"),
    mailbox_actors: register_int_gauge!(Opts::new(
        "tern_imap_mailbox_actors",
        "Open-mailbox actors on this node"
    ))
    .expect("metric registers once"),
    notify_latency: register_histogram!(
        HistogramOpts::new(
            "tern_imap_notify_latency_seconds",
            "From a committed mailbox change to the untagged response written"
        )
        .buckets(vec![
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5
        ])
    )
    .expect("metric registers once"),
    refused: register_int_counter_vec!(
        Opts::new(
            "tern_imap_connections_refused_total",
            "IMAP connections refused before a session (limits, PROXY protocol)"
        ),
        &["reason"]
    )
    .expect("metric registers once"),
    search_sources: register_int_counter_vec!(
        Opts::new(
            "tern_imap_searches_total",
            "IMAP searches by where the message records came from (index: the open mailbox's \
             in-memory index, for criteria on flags, keywords, sizes, dates, sets and MODSEQ; \
             store: read record by record)"
        ),
        &["source"]
    )
    .expect("metric registers once"),
    envelope_lookups: register_int_counter_vec!(
        Opts::new(
            "tern_imap_envelope_cache_lookups_total",
            "Envelope cache lookups by SEARCH and SORT, by result (a miss reads the summary \
             from the store)"
        ),
        &["result"]
    )
    .expect("metric registers once"),
    compress_sessions: register_int_counter!(Opts::new(
        "tern_imap_compress_sessions_total",
        "IMAP sessions that turned COMPRESS=DEFLATE on"
    ))
    .expect("metric registers once"),
    compress_bytes: register_int_counter_vec!(
        Opts::new(
            "tern_imap_compress_output_bytes_total",
            "Bytes compressing IMAP sessions sent, by stage (plain: before DEFLATE; compressed: \
             on the wire), added as each session ends"
        ),
        &["stage"]
    )
    .expect("metric registers once"),
    search_updates: register_int_counter_vec!(
        Opts::new(
            "tern_imap_search_updates_total",
            "ESEARCH updates sent for searches kept up to date (CONTEXT=SEARCH/SORT), by kind \
             (addto, removefrom; noupdate: a search refused updates past the session's limit)"
        ),
        &["kind"]
    )
    .expect("metric registers once"),
    notify_sessions: register_int_counter!(Opts::new(
        "tern_imap_notify_sessions_total",
        "NOTIFY SET commands accepted (sessions following many mailboxes)"
    ))
    .expect("metric registers once"),
    notify_events: register_int_counter!(Opts::new(
        "tern_imap_notify_events_total",
        "NOTIFY notifications sent about mailboxes other than the selected one (STATUS for \
         their messages, LIST for names and subscriptions)"
    ))
    .expect("metric registers once"),
});

/// Exports every IMAP metric family at 0 from start.
pub fn init() {
    let m = &*METRICS;
    for source in ["index", "store"] {
        m.search_sources.with_label_values(&[source]);
    }
    for result in ["hit", "miss"] {
        m.envelope_lookups.with_label_values(&[result]);
    }
    for stage in ["plain", "compressed"] {
        m.compress_bytes.with_label_values(&[stage]);
    }
    for kind in ["addto", "removefrom", "noupdate"] {
        m.search_updates.with_label_values(&[kind]);
    }
    for listener in ["imap", "imaps"] {
        m.sessions_active.with_label_values(&[listener]);
        m.sessions.with_label_values(&[listener]);
    }
    let proxy = crate::net::proxy::REFUSALS;
    for reason in ["per_ip", "node", "descriptors"].iter().chain(&proxy) {
        m.refused.with_label_values(&[reason]);
    }
    for command in [
        "LOGIN", "SELECT", "FETCH", "STORE", "SEARCH", "APPEND", "IDLE", "COMPRESS",
    ] {
        for result in ["ok", "no", "bad"] {
            m.commands.with_label_values(&[command, result]);
        }
    }
}
