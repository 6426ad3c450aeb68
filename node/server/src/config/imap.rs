//! `[imap]`: connection limits, timers, framing caps and login policy of the IMAP listeners, as
//! written ([`RawImap`]) and validated ([`ImapConfig`]).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::require_positive;

/// `[imap]` as written.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawImap {
    /// Connections at once on the node, both IMAP listeners together.
    pub max_connections: usize,
    /// Connections at once from one IP address.
    pub max_connections_per_ip: usize,
    /// Seconds of silence before the session is logged out (RFC 9051: at least 30 minutes).
    pub idle_timeout_seconds: u64,
    /// Longest command line in bytes, literals excluded.
    pub max_line_bytes: u32,
    /// Largest literal (and so the largest APPEND) in bytes.
    pub max_append_bytes: u32,
    /// Bad commands before the session is closed.
    pub max_errors: u32,
    /// Failed logins before the session is closed.
    pub max_auth_failures: u32,
    /// Delay before answering a failed login, multiplied by the failures so far.
    pub auth_failure_delay_ms: u64,
    /// Whether LOGIN and AUTHENTICATE are refused on connections without TLS (LOGINDISABLED).
    pub plaintext_requires_tls: bool,
    /// Mailboxes an account may have; CREATE beyond it gets `NO [LIMIT]`.
    pub max_mailboxes: usize,
    /// Longest line and literal before login: an unauthenticated client is held to this.
    pub max_bytes_before_login: u32,
    /// Seconds a client that has not logged in may take to send each command.
    pub login_timeout_seconds: u64,
    /// Seconds a command may take to arrive once it has begun, on top of one second for every
    /// `min_literal_rate` bytes of literal sent.
    pub command_timeout_seconds: u64,
    /// Bytes per second a literal must average beyond `command_timeout_seconds`.
    pub min_literal_rate: u64,
    /// MiB of envelopes cached for SEARCH and SORT, node-wide (0: none).
    pub envelope_cache_mib: u64,
    /// DEFLATE level of `COMPRESS=DEFLATE` (1 fastest … 9 smallest); 0 does not offer it.
    pub compress_level: u32,
}

impl Default for RawImap {
    fn default() -> Self {
        Self {
            max_connections: 20_000,
            max_connections_per_ip: 50,
            idle_timeout_seconds: 1800,
            max_line_bytes: 64 * 1024,
            max_append_bytes: 50 * 1024 * 1024,
            max_errors: 20,
            max_auth_failures: 3,
            auth_failure_delay_ms: 1000,
            plaintext_requires_tls: true,
            max_mailboxes: 5000,
            max_bytes_before_login: 8 * 1024,
            login_timeout_seconds: 60,
            command_timeout_seconds: 60,
            min_literal_rate: 1024,
            envelope_cache_mib: 32,
            compress_level: 6,
        }
    }
}

/// The validated `[imap]`.
#[derive(Debug, Clone)]
pub struct ImapConfig {
    /// Connections at once on the node.
    pub max_connections: usize,
    /// Connections at once per IP.
    pub max_connections_per_ip: usize,
    /// Autologout timer.
    pub idle_timeout: Duration,
    /// Longest command line.
    pub max_line_bytes: u32,
    /// Largest literal / APPEND.
    pub max_append_bytes: u32,
    /// Bad commands before closing.
    pub max_errors: u32,
    /// Failed logins before closing.
    pub max_auth_failures: u32,
    /// Delay per failed login.
    pub auth_failure_delay: Duration,
    /// LOGIN and AUTHENTICATE need TLS.
    pub plaintext_requires_tls: bool,
    /// Mailboxes per account.
    pub max_mailboxes: usize,
    /// Longest line and literal before login.
    pub max_bytes_before_login: u32,
    /// Time to send each command before login.
    pub login_timeout: Duration,
    /// Time for a begun command on top of what its literal bytes earn.
    pub command_timeout: Duration,
    /// Bytes per second a literal must average.
    pub min_literal_rate: u64,
    /// A write making no progress this long drops the session (from `[server]`).
    pub write_timeout: Duration,
    /// Bytes of envelopes cached for SEARCH and SORT.
    pub envelope_cache_bytes: u64,
    /// DEFLATE level of `COMPRESS`; `None` when it is not offered.
    pub compress_level: Option<u32>,
}

impl TryFrom<&RawImap> for ImapConfig {
    type Error = anyhow::Error;

    fn try_from(r: &RawImap) -> anyhow::Result<Self> {
        let positive = |key: &str, v: u64| require_positive("imap", key, v);
        Ok(ImapConfig {
            max_connections: positive("max_connections", r.max_connections as u64)? as usize,
            max_connections_per_ip: positive(
                "max_connections_per_ip",
                r.max_connections_per_ip as u64,
            )? as usize,
            idle_timeout: Duration::from_secs(positive(
                "idle_timeout_seconds",
                r.idle_timeout_seconds,
            )?),
            max_line_bytes: positive("max_line_bytes", u64::from(r.max_line_bytes))? as u32,
            max_append_bytes: positive("max_append_bytes", u64::from(r.max_append_bytes))? as u32,
            max_errors: positive("max_errors", u64::from(r.max_errors))? as u32,
            max_auth_failures: positive("max_auth_failures", u64::from(r.max_auth_failures))?
                as u32,
            auth_failure_delay: Duration::from_millis(r.auth_failure_delay_ms),
            plaintext_requires_tls: r.plaintext_requires_tls,
            max_mailboxes: positive("max_mailboxes", r.max_mailboxes as u64)? as usize,
            max_bytes_before_login: positive(
                "max_bytes_before_login",
                u64::from(r.max_bytes_before_login),
            )? as u32,
            login_timeout: Duration::from_secs(positive(
                "login_timeout_seconds",
                r.login_timeout_seconds,
            )?),
            command_timeout: Duration::from_secs(positive(
                "command_timeout_seconds",
                r.command_timeout_seconds,
            )?),
            min_literal_rate: positive("min_literal_rate", r.min_literal_rate)?,
            write_timeout: Duration::from_secs(300),
            envelope_cache_bytes: super::mebibytes(
                "imap",
                "envelope_cache_mib",
                r.envelope_cache_mib,
            )?,
            compress_level: match r.compress_level {
                0 => None,
                level @ 1..=9 => Some(level),
                other => anyhow::bail!("imap.compress_level must be 0 (off) to 9, not {other}"),
            },
        })
    }
}
