//! `[pop3]` validated: limits, timeouts and locking of the POP3 listeners ([`Pop3Config`]).

use std::time::Duration;

use super::{raw::RawPop3, require_positive};

/// POP3 limits and locking.
#[derive(Debug, Clone)]
pub struct Pop3Config {
    /// Connections at once on the node.
    pub max_connections: usize,
    /// Connections at once per IP.
    pub max_connections_per_ip: usize,
    /// Autologout timer.
    pub idle_timeout: Duration,
    /// Mailbox lock lease.
    pub lock_lease: Duration,
    /// Bad commands before closing.
    pub max_errors: u32,
    /// Failed logins before closing.
    pub max_auth_failures: u32,
    /// Delay per failed login.
    pub auth_failure_delay: Duration,
    /// USER/PASS and AUTH need TLS.
    pub plaintext_requires_tls: bool,
    /// A write making no progress this long drops the session.
    pub write_timeout: Duration,
}

/// Validates `[pop3]`.
pub fn validate(p: &RawPop3, write_timeout: Duration) -> anyhow::Result<Pop3Config> {
    let pop3_positive = |key: &str, v: u64| require_positive("pop3", key, v);
    Ok(Pop3Config {
        max_connections: pop3_positive("max_connections", p.max_connections as u64)? as usize,
        max_connections_per_ip: pop3_positive(
            "max_connections_per_ip",
            p.max_connections_per_ip as u64,
        )? as usize,
        idle_timeout: Duration::from_secs(pop3_positive(
            "idle_timeout_seconds",
            p.idle_timeout_seconds,
        )?),
        lock_lease: Duration::from_secs(pop3_positive("lock_lease_seconds", p.lock_lease_seconds)?),
        max_errors: pop3_positive("max_errors", u64::from(p.max_errors))? as u32,
        max_auth_failures: pop3_positive("max_auth_failures", u64::from(p.max_auth_failures))?
            as u32,
        auth_failure_delay: Duration::from_millis(p.auth_failure_delay_ms),
        plaintext_requires_tls: p.plaintext_requires_tls,
        write_timeout,
    })
}
