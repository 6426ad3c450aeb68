//! The configuration as written: a serde struct with defaults, read by the `config` crate from
//! a TOML file and `TERN_<SECTION>__<KEY>` environment variables. Unknown keys are refused.

use serde::Deserialize;

/// Top level of the TOML file.
#[derive(Debug, Clone, Deserialize, Default)]
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
}

/// `[server]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawServer {
    /// Host name announced in greetings and `Received:` headers.
    pub hostname: String,
    /// Directory for the embedded store, certificates and state.
    pub data_dir: String,
    /// Seconds to let in-flight work finish after SIGTERM.
    pub shutdown_grace_seconds: u64,
}

impl Default for RawServer {
    fn default() -> Self {
        Self {
            hostname: "localhost".into(),
            data_dir: "/var/lib/tern".into(),
            shutdown_grace_seconds: 30,
        }
    }
}

/// `[store]`
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawStore {
    /// `embedded` or `fdb`.
    pub backend: String,
    /// FoundationDB cluster file (for `fdb`).
    pub fdb_cluster_file: Option<String>,
}

impl Default for RawStore {
    fn default() -> Self {
        Self {
            backend: "embedded".into(),
            fdb_cluster_file: None,
        }
    }
}

/// `[listeners]`: `host:port` for each service; empty string disables one.
#[derive(Debug, Clone, Deserialize)]
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
        }
    }
}

/// `[tls]`
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct RawTls {
    /// PEM certificate chain.
    pub certificate: Option<String>,
    /// PEM private key.
    pub private_key: Option<String>,
}

/// `[addresses]`
#[derive(Debug, Clone, Deserialize)]
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
#[derive(Debug, Clone, Deserialize)]
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
