//! The configuration as written: a serde struct with defaults, read by the `config` crate from
//! a TOML file and `TERN_<SECTION>__<KEY>` environment variables. Unknown keys are refused.

use serde::{Deserialize, Serialize};

/// Top level of the TOML file.
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RawConfig {
    /// Node identity and data directory.
    pub server: RawServer,
    /// Which store backend.
    pub store: RawStore,
    /// Socket addresses of every listener.
    pub listeners: RawListeners,
    /// Certificate and key.
    pub tls: RawTls,
    /// Address comparison.
    pub addresses: RawAddresses,
    /// Logging.
    pub log: RawLog,
    /// SMTP limits and policy.
    pub smtp: RawSmtp,
    /// POP3 limits and locking.
    pub pop3: RawPop3,
    /// `[imap]`.
    pub imap: super::imap::RawImap,
    /// Outbound queue.
    pub queue: super::queue::RawQueue,
    /// `[cluster]`.
    pub cluster: super::cluster::RawCluster,
    /// `[proxy]`.
    pub proxy: super::proxy::RawProxy,
    /// `[passwords]`.
    pub passwords: super::passwords::RawPasswords,
    /// `[security]`.
    pub security: super::security::RawSecurity,
}

/// `[server]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawServer {
    /// This node's public host name: the EHLO name, the greeting, `Received:` headers and the
    /// domain of DSN senders (`MAILER-DAEMON@`). Required in production.
    pub hostname: String,
    /// Where mail to the bare `postmaster` (RFC 5321 §4.5.1) goes; empty: postmaster@ the
    /// primary domain (the local domain `hostname` is in, else the first domain added).
    pub postmaster: String,
    /// Directory for the embedded store, certificates and state.
    pub data_dir: String,
    /// Seconds to let in-flight work finish after SIGTERM.
    pub shutdown_grace_seconds: u64,
    /// Bytes of client input (message bodies, literals) the node holds in memory at once;
    /// 0: a quarter of the memory the process may use.
    pub max_buffered_bytes: u64,
    /// Seconds a write to a client may make no progress before the session is dropped (a
    /// client that stops reading).
    pub write_timeout_seconds: u64,
    /// Seconds a verified login (account and a keyed hash of its password, never the
    /// password) spares later logins with the same password the Argon2id check; 0: off.
    pub login_cache_seconds: u64,
    /// Verified logins the cache holds at most.
    pub login_cache_entries: usize,
    /// Seconds before a postmaster notice about the same condition is mailed again; 0: no
    /// notices are mailed.
    pub notice_interval_seconds: u64,
    /// Seconds between evaluations of the conditions notices are about.
    pub notice_check_seconds: u64,
    /// Days message tracking events are kept; 0: none are recorded.
    pub tracking_retention_days: u64,
}

impl Default for RawServer {
    fn default() -> Self {
        Self {
            hostname: String::new(),
            postmaster: String::new(),
            data_dir: "/var/lib/tern".into(),
            shutdown_grace_seconds: 25,
            max_buffered_bytes: 0,
            write_timeout_seconds: 300,
            login_cache_seconds: 300,
            login_cache_entries: 10_000,
            notice_interval_seconds: 86_400,
            notice_check_seconds: 300,
            tracking_retention_days: 7,
        }
    }
}

/// `[store]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawStore {
    /// `embedded`, `postgres` or `fdb`.
    pub backend: String,
    /// FoundationDB cluster file (for `fdb`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fdb_cluster_file: Option<String>,
    /// `postgres://user:password@host:port/database[?sslmode=require]` (for `postgres`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postgres_url: Option<String>,
    /// PEM file of the CA that signed the database's certificate (for `postgres` with TLS);
    /// unset: the web PKI roots.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postgres_ca_file: Option<String>,
    /// Connections each node keeps to PostgreSQL.
    pub postgres_pool_size: usize,
    /// Seconds a connection to PostgreSQL may take to open.
    pub postgres_connect_timeout_seconds: u64,
    /// Seconds one statement may run before PostgreSQL cancels it.
    pub postgres_statement_timeout_seconds: u64,
    /// New mail is refused (`452 4.3.1`) when the data filesystem has less free than the
    /// smaller of this many bytes and `min_free_percent` of its size, or fewer free inodes than
    /// `min_free_percent` of them.
    pub min_free_bytes: u64,
    /// See `min_free_bytes`.
    pub min_free_percent: u8,
    /// Bytes the embedded store keeps free under all circumstances: commits that would leave
    /// less are refused, so the disk never fills under it.
    pub reserve_bytes: u64,
    /// MiB of the embedded store's block cache (recently read blocks kept in memory).
    pub cache_mib: u64,
}

impl Default for RawStore {
    fn default() -> Self {
        let floor = tern_store::space::Floor::default();
        Self {
            backend: "embedded".into(),
            fdb_cluster_file: None,
            postgres_url: None,
            postgres_ca_file: None,
            postgres_pool_size: 16,
            postgres_connect_timeout_seconds: 5,
            postgres_statement_timeout_seconds: 10,
            min_free_bytes: floor.bytes,
            min_free_percent: floor.percent,
            reserve_bytes: tern_store::EmbeddedOptions::default().reserve_bytes,
            cache_mib: tern_store::EmbeddedOptions::default().cache_bytes >> 20,
        }
    }
}

/// `[listeners]`: `host:port` for each service; empty string disables one.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawListeners {
    /// SMTP MX.
    pub smtp: String,
    /// Submission with STARTTLS.
    pub submission: String,
    /// Submission over implicit TLS.
    pub submissions: String,
    /// IMAP with STARTTLS.
    pub imap: String,
    /// IMAP over implicit TLS.
    pub imaps: String,
    /// POP3 with STLS.
    pub pop3: String,
    /// POP3 over implicit TLS.
    pub pop3s: String,
    /// Admin API, metrics and health checks.
    pub http: String,
    /// The cluster port (Raft and cluster requests, mutual TLS); empty: this node is not in a
    /// cluster and owns every queue shard itself.
    pub cluster: String,
}

impl Default for RawListeners {
    fn default() -> Self {
        Self {
            smtp: "0.0.0.0:25".into(),
            submission: "0.0.0.0:587".into(),
            submissions: "0.0.0.0:465".into(),
            imap: "0.0.0.0:143".into(),
            imaps: "0.0.0.0:993".into(),
            pop3: "0.0.0.0:110".into(),
            pop3s: "0.0.0.0:995".into(),
            http: "127.0.0.1:8080".into(),
            cluster: String::new(),
        }
    }
}

impl RawListeners {
    /// The development ports on 127.0.0.1.
    pub fn dev() -> Self {
        Self {
            smtp: "127.0.0.1:2525".into(),
            submission: "127.0.0.1:2587".into(),
            submissions: "127.0.0.1:2465".into(),
            imap: "127.0.0.1:1143".into(),
            imaps: "127.0.0.1:1993".into(),
            pop3: "127.0.0.1:1110".into(),
            pop3s: "127.0.0.1:1995".into(),
            http: "127.0.0.1:8080".into(),
            cluster: String::new(),
        }
    }
}

/// `[tls]`
#[derive(Debug, Clone, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RawTls {
    /// PEM certificate chain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub certificate: Option<String>,
    /// PEM private key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub private_key: Option<String>,
    /// Without certificate files, production refuses to start unless this is true; then a
    /// self-signed certificate is generated in the data directory (clients will warn).
    pub allow_self_signed: bool,
    /// More names (host names or IP addresses) for the generated certificate, besides
    /// `server.hostname`, `localhost` and `127.0.0.1`. A list, or one string of names separated
    /// by commas (as `TERN_TLS__EXTRA_NAMES` gives it).
    #[serde(deserialize_with = "list_or_commas")]
    pub extra_names: Vec<String>,
}

/// A list of strings, written as a TOML array or as one comma-separated string.
pub(super) fn list_or_commas<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Form {
        List(Vec<String>),
        Commas(String),
    }
    Ok(match Form::deserialize(d)? {
        Form::List(list) => list,
        Form::Commas(s) => s
            .split(',')
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(String::from)
            .collect(),
    })
}

/// `[addresses]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawAddresses {
    /// `exact` (default, RFC 5321) or `insensitive`.
    pub local_part_case: String,
}

impl Default for RawAddresses {
    fn default() -> Self {
        Self {
            local_part_case: "exact".into(),
        }
    }
}

/// `[log]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawLog {
    /// `text` or `json`.
    pub format: String,
    /// A tracing filter (`info`, `tern=debug,info`, ...).
    pub level: String,
}

impl Default for RawLog {
    fn default() -> Self {
        Self {
            format: "json".into(),
            level: "info".into(),
        }
    }
}

/// `[smtp]`: limits, timeouts and policy, in the order of a session's stages.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawSmtp {
    /// Connections at once on the node, all SMTP listeners together.
    pub max_connections: usize,
    /// Connections at once from one IP address (Postfix's default is 50).
    pub max_connections_per_ip: usize,
    /// Networks exempt from `max_connections_per_ip` (relays and MTAs of one's own that send
    /// with many sessions at once): CIDRs or addresses; a list, or one string separated by
    /// commas.
    #[serde(deserialize_with = "list_or_commas")]
    pub trusted_networks: Vec<String>,
    /// Seconds a client may stay silent between commands (RFC 5321: at least 300).
    pub idle_timeout_seconds: u64,
    /// Seconds a client may take to send a message body, on top of one second for every
    /// `min_data_rate` bytes it sent (so a trickling sender is cut off).
    pub data_timeout_seconds: u64,
    /// Bytes per second a message body must average once `data_timeout_seconds` are spent.
    pub min_data_rate: u64,
    /// Seconds one session may last in all.
    pub max_session_seconds: u64,
    /// Errors (bad commands, refused recipients) before the session is closed with 421.
    pub max_errors: u32,
    /// Failed AUTH attempts before the session is closed with 421.
    pub max_auth_failures: u32,
    /// Whether AUTH is refused (538 5.7.11) on connections without TLS.
    pub auth_requires_tls: bool,
    /// Largest message accepted, in bytes.
    pub max_message_bytes: usize,
    /// Most recipients per message.
    pub max_recipients: usize,
    /// `temporary` (452 4.2.2) or `permanent` (552 5.2.2) refusal for a full mailbox.
    pub quota_failure: String,
    /// Whether authenticated users may use any sender address.
    pub allow_any_sender: bool,
    /// `[smtp.checks]`: the inbound policy checks of each listener.
    pub checks: super::checks::RawChecks,
}

impl Default for RawSmtp {
    fn default() -> Self {
        Self {
            max_connections: 1000,
            max_connections_per_ip: 50,
            trusted_networks: Vec::new(),
            idle_timeout_seconds: 300,
            data_timeout_seconds: 180,
            min_data_rate: 1024,
            max_session_seconds: 1800,
            max_errors: 10,
            max_auth_failures: 3,
            auth_requires_tls: true,
            max_message_bytes: 50 * 1024 * 1024,
            max_recipients: 100,
            quota_failure: "temporary".into(),
            allow_any_sender: false,
            checks: super::checks::RawChecks::default(),
        }
    }
}

/// `[pop3]`
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawPop3 {
    /// Connections at once on the node, both POP3 listeners together.
    pub max_connections: usize,
    /// Connections at once from one IP address.
    pub max_connections_per_ip: usize,
    /// The autologout timer: seconds of silence before the session closes (RFC 1939: ≥ 600).
    pub idle_timeout_seconds: u64,
    /// Lifetime of the mailbox lock lease; it is renewed every half of it while the session
    /// lives, so the lock of a crashed node frees within this time.
    pub lock_lease_seconds: u64,
    /// Bad commands before the session is closed.
    pub max_errors: u32,
    /// Failed logins before the session is closed.
    pub max_auth_failures: u32,
    /// Delay before answering a failed login, multiplied by the failures so far.
    pub auth_failure_delay_ms: u64,
    /// Whether USER/PASS and AUTH are refused on connections without TLS.
    pub plaintext_requires_tls: bool,
}

impl Default for RawPop3 {
    fn default() -> Self {
        Self {
            max_connections: 1000,
            max_connections_per_ip: 20,
            idle_timeout_seconds: 600,
            lock_lease_seconds: 60,
            max_errors: 10,
            max_auth_failures: 3,
            auth_failure_delay_ms: 1000,
            plaintext_requires_tls: true,
        }
    }
}
