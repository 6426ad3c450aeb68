//! `[smtp]` validated: limits, timeouts and policy of the SMTP listeners ([`SmtpConfig`]).

use std::time::Duration;

use anyhow::{anyhow, bail};

use super::{proxy, raw::RawSmtp, require_positive};

/// SMTP limits and policy.
#[derive(Debug, Clone)]
pub struct SmtpConfig {
    /// Connections at once on the node.
    pub max_connections: usize,
    /// Connections at once per IP.
    pub max_connections_per_ip: usize,
    /// Networks exempt from the per-IP limit.
    pub trusted_networks: Vec<ipnet::IpNet>,
    /// Silence allowed between commands.
    pub idle_timeout: Duration,
    /// Time allowed for a body on top of what its bytes earn at `min_data_rate`.
    pub data_timeout: Duration,
    /// Bytes per second a body must average beyond `data_timeout`.
    pub min_data_rate: u64,
    /// Total session time.
    pub max_session: Duration,
    /// A write making no progress this long drops the session.
    pub write_timeout: Duration,
    /// Errors before 421.
    pub max_errors: u32,
    /// AUTH failures before 421.
    pub max_auth_failures: u32,
    /// AUTH needs TLS.
    pub auth_requires_tls: bool,
    /// Largest message.
    pub max_message_bytes: usize,
    /// Most recipients.
    pub max_recipients: usize,
    /// A full mailbox is refused permanently (552 5.2.2) rather than temporarily (452 4.2.2).
    pub quota_permanent: bool,
    /// Authenticated users may send as anyone.
    pub allow_any_sender: bool,
    /// Where the bare `postmaster` goes (`None`: postmaster@ the primary domain).
    pub postmaster: Option<String>,
    /// Outbound queue shards (from `[queue]`).
    pub queue_shards: u16,
    /// The inbound policy checks (`[smtp.checks]`).
    pub checks: super::checks::ChecksConfig,
}

/// Validates `[smtp]`; `hostname` is `server.hostname`, `postmaster` `server.postmaster`,
/// `queue_shards` the queue's.
pub fn validate(
    r: &RawSmtp,
    hostname: &str,
    postmaster: &str,
    write_timeout: Duration,
    queue_shards: u16,
) -> anyhow::Result<SmtpConfig> {
    let positive = |key: &str, v: u64| require_positive("smtp", key, v);
    positive("max_connections", r.max_connections as u64)?;
    positive("max_connections_per_ip", r.max_connections_per_ip as u64)?;
    positive("max_message_bytes", r.max_message_bytes as u64)?;
    positive("max_recipients", r.max_recipients as u64)?;
    Ok(SmtpConfig {
        max_connections: r.max_connections,
        max_connections_per_ip: r.max_connections_per_ip,
        trusted_networks: r
            .trusted_networks
            .iter()
            .map(|n| proxy::network("smtp.trusted_networks", n.trim()))
            .collect::<anyhow::Result<_>>()?,
        idle_timeout: Duration::from_secs(positive(
            "idle_timeout_seconds",
            r.idle_timeout_seconds,
        )?),
        data_timeout: Duration::from_secs(positive(
            "data_timeout_seconds",
            r.data_timeout_seconds,
        )?),
        min_data_rate: positive("min_data_rate", r.min_data_rate)?,
        max_session: Duration::from_secs(positive("max_session_seconds", r.max_session_seconds)?),
        write_timeout,
        max_errors: positive("max_errors", u64::from(r.max_errors))? as u32,
        max_auth_failures: positive("max_auth_failures", u64::from(r.max_auth_failures))? as u32,
        auth_requires_tls: r.auth_requires_tls,
        max_message_bytes: r.max_message_bytes,
        max_recipients: r.max_recipients,
        quota_permanent: match r.quota_failure.as_str() {
            "temporary" => false,
            "permanent" => true,
            other => {
                bail!("smtp.quota_failure: {other:?} (expected \"temporary\" or \"permanent\")")
            }
        },
        allow_any_sender: r.allow_any_sender,
        postmaster: match postmaster.trim() {
            "" => None,
            a => Some(
                tern_proto::Address::parse(a)
                    .map_err(|e| anyhow!("server.postmaster: {a:?} is not an address: {e}"))?
                    .to_string(),
            ),
        },
        queue_shards,
        checks: super::checks::validate(&r.checks, hostname)?,
    })
}
