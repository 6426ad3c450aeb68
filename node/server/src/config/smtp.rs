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
    pub checks: ChecksConfig,
}

/// `[smtp.checks]`, validated.
#[derive(Debug, Clone)]
pub struct ChecksConfig {
    /// Check names on the MX listener, in order.
    pub mx: Vec<String>,
    /// Check names on submission and submissions, in order.
    pub submission: Vec<String>,
    /// The IP allow and deny lists.
    pub ip_lists: crate::policy::ip_lists::IpLists,
    /// The DNS lists.
    pub dnsbl: crate::policy::dnsbl::DnsblConfig,
}

/// One `zone[*weight] [url]` entry of `smtp.checks.dnsbl.lists`.
fn dns_list(entry: &str) -> anyhow::Result<crate::policy::dnsbl::List> {
    let bad = |why: &str| anyhow!("smtp.checks.dnsbl.lists: {entry:?} {why}");
    let mut parts = entry.split_whitespace();
    let head = parts.next().ok_or_else(|| bad("is empty"))?;
    let (zone, weight) = match head.split_once('*') {
        Some((zone, w)) => (
            zone,
            w.parse::<i32>()
                .map_err(|_| bad("has a weight that is not a whole number"))?,
        ),
        None => (head, 1),
    };
    let zone = zone.trim_end_matches('.').to_ascii_lowercase();
    if !zone.contains('.') || zone.starts_with('.') {
        return Err(bad("does not name a DNS zone (like zen.spamhaus.org)"));
    }
    let url = parts.next().map(str::to_string);
    if url
        .as_deref()
        .is_some_and(|u| !u.starts_with("https://") && !u.starts_with("http://"))
    {
        return Err(bad("has a listing page that is not an http(s) URL"));
    }
    if parts.next().is_some() {
        return Err(bad("has more than a zone, a weight and a URL"));
    }
    Ok(crate::policy::dnsbl::List { zone, weight, url })
}

fn checks(r: &crate::config::raw::RawChecks) -> anyhow::Result<ChecksConfig> {
    let names = |key: &str, list: &[String]| -> anyhow::Result<Vec<String>> {
        let mut out: Vec<String> = Vec::new();
        for name in list.iter().map(|n| n.trim()) {
            if !crate::policy::CHECKS.contains(&name) {
                bail!(
                    "smtp.checks.{key}: {name:?} is not a check (known: {})",
                    crate::policy::CHECKS.join(", ")
                );
            }
            if out.iter().any(|n| n == name) {
                bail!("smtp.checks.{key}: {name:?} is listed twice");
            }
            out.push(name.to_string());
        }
        Ok(out)
    };
    let nets = |key: &str, list: &[String]| -> anyhow::Result<Vec<ipnet::IpNet>> {
        list.iter()
            .map(|n| proxy::network(&format!("smtp.checks.ip_lists.{key}"), n.trim()))
            .collect()
    };
    let (mx, submission) = (names("mx", &r.mx)?, names("submission", &r.submission)?);
    let lists = r
        .dnsbl
        .lists
        .iter()
        .map(|e| dns_list(e.trim()))
        .collect::<anyhow::Result<Vec<_>>>()?;
    // DNS lists judge sending servers; submission clients are people on home and mobile
    // addresses, which policy lists (Spamhaus PBL and the like) list by design.
    if submission.iter().any(|n| n == "dnsbl") {
        bail!(
            "smtp.checks.submission: \"dnsbl\" is for the MX listener only: DNS lists list the \
             dynamic addresses people submit from (AUTH protects submission)"
        );
    }
    if lists.is_empty() && mx.iter().chain(&submission).any(|n| n == "dnsbl") {
        bail!("smtp.checks: the dnsbl check is on but smtp.checks.dnsbl.lists is empty");
    }
    if r.dnsbl.threshold <= r.dnsbl.allow_threshold {
        bail!("smtp.checks.dnsbl: threshold must be above allow_threshold");
    }
    Ok(ChecksConfig {
        mx,
        submission,
        dnsbl: crate::policy::dnsbl::DnsblConfig {
            lists,
            threshold: r.dnsbl.threshold,
            allow_threshold: r.dnsbl.allow_threshold,
            timeout: Duration::from_millis(require_positive(
                "smtp.checks.dnsbl",
                "timeout_ms",
                r.dnsbl.timeout_ms,
            )?),
        },
        ip_lists: crate::policy::ip_lists::IpLists {
            allow: nets("allow", &r.ip_lists.allow)?,
            deny: nets("deny", &r.ip_lists.deny)?,
        },
    })
}

/// Validates `[smtp]`; `postmaster` is `server.postmaster`, `queue_shards` the queue's.
pub fn validate(
    r: &RawSmtp,
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
        checks: checks(&r.checks)?,
    })
}
