//! `[smtp.checks]`: which inbound policy checks each SMTP listener runs and their settings,
//! as written ([`RawChecks`]) and validated ([`ChecksConfig`]).

use std::{collections::BTreeMap, time::Duration};

use anyhow::{anyhow, bail};
use serde::{Deserialize, Serialize};

use super::{
    proxy,
    raw::list_or_commas,
    require_positive,
    score::{RawGreylist, RawScore, greylist, score},
};
use crate::policy::{
    antivirus::AntivirusConfig,
    auth::{AuthConfig, DmarcMode},
};

/// `[smtp.checks]`: which policy checks each listener runs, in order, and their settings.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawChecks {
    /// Checks on the MX listener (port 25).
    #[serde(deserialize_with = "list_or_commas")]
    pub mx: Vec<String>,
    /// Checks on submission (587) and submissions (465).
    #[serde(deserialize_with = "list_or_commas")]
    pub submission: Vec<String>,
    /// `[smtp.checks.ip_lists]`.
    pub ip_lists: RawIpLists,
    /// `[smtp.checks.dnsbl]`.
    pub dnsbl: RawDnsbl,
    /// `[smtp.checks.auth]`.
    pub auth: RawAuth,
    /// `[smtp.checks.rate_limits]`.
    pub rate_limits: RawRateLimits,
    /// `[smtp.checks.antivirus]`.
    pub antivirus: RawAntivirus,
    /// `[smtp.checks.score]`.
    pub score: RawScore,
    /// `[smtp.checks.greylist]`.
    pub greylist: RawGreylist,
}

/// `[smtp.checks.antivirus]`: the clamd that scans messages.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawAntivirus {
    /// `host:port`, or the path of clamd's unix socket.
    pub clamd: String,
    /// Milliseconds a scan may take.
    pub timeout_ms: u64,
    /// Larger messages are not scanned (clamd's `StreamMaxLength`).
    pub max_bytes: usize,
    /// `tempfail` (451 4.7.1) or `accept` when clamd cannot scan.
    pub on_failure: String,
}

impl Default for RawAntivirus {
    fn default() -> Self {
        Self {
            clamd: String::new(),
            timeout_ms: 30_000,
            max_bytes: 25 * 1024 * 1024,
            on_failure: "tempfail".into(),
        }
    }
}

/// `[smtp.checks.rate_limits]`: rate limits shared by every node of a cluster.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawRateLimits {
    /// `<key> <what> <limit>/<window>` each, e.g. `ip connections 60/1m`.
    #[serde(deserialize_with = "list_or_commas")]
    pub rules: Vec<String>,
}

/// `[smtp.checks.dnsbl]`: DNS block and allow lists asked at connect.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawDnsbl {
    /// `zone[*weight] [listing-page-url]` per list (weight 1 by default; negative for an
    /// allow list; `{ip}` in the URL is the client's address).
    #[serde(deserialize_with = "list_or_commas")]
    pub lists: Vec<String>,
    /// Score at or over which a client is refused.
    pub threshold: i32,
    /// Score at or under which a client is trusted for the session.
    pub allow_threshold: i32,
    /// Milliseconds the lookups may take in all (a list that has not answered counts as not
    /// listing the client).
    pub timeout_ms: u64,
}

impl Default for RawDnsbl {
    fn default() -> Self {
        Self {
            lists: Vec::new(),
            threshold: 1,
            allow_threshold: -1,
            timeout_ms: 5000,
        }
    }
}

/// `[smtp.checks.ip_lists]`: networks (CIDRs or addresses) trusted or refused at connect.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawIpLists {
    /// Trusted for the session: the checks that spare trusted clients are skipped.
    #[serde(deserialize_with = "list_or_commas")]
    pub allow: Vec<String>,
    /// Refused at connect (`554 5.7.1`), unless also in `allow`.
    #[serde(deserialize_with = "list_or_commas")]
    pub deny: Vec<String>,
}

impl Default for RawChecks {
    fn default() -> Self {
        Self {
            mx: vec!["ip_lists".into(), "auth".into()],
            submission: vec!["ip_lists".into()],
            ip_lists: RawIpLists::default(),
            dnsbl: RawDnsbl::default(),
            auth: RawAuth::default(),
            rate_limits: RawRateLimits::default(),
            antivirus: RawAntivirus::default(),
            score: RawScore::default(),
            greylist: RawGreylist::default(),
        }
    }
}

/// `[smtp.checks.auth]`: SPF, DKIM, ARC and DMARC of inbound mail.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawAuth {
    /// The authserv-id of the `Authentication-Results` field added (empty: `server.hostname`);
    /// give every node of a cluster the same one.
    pub authserv_id: String,
    /// What recipient domains do with mail failing its DMARC policy: `enforce`, `quarantine`
    /// or `report`.
    pub dmarc: String,
    /// Per recipient domain, the same choice.
    pub dmarc_domains: BTreeMap<String, String>,
    /// ARC sealers (the `d=` of the newest seal) trusted to vouch for mail they forwarded.
    #[serde(deserialize_with = "list_or_commas")]
    pub arc_trusted_sealers: Vec<String>,
    /// Whether mail forwarded off this server is ARC-sealed by the forwarding domain (when it
    /// has a DKIM key).
    pub arc_seal_forwards: bool,
    /// Local addresses whose mail is also read as DMARC aggregate reports.
    #[serde(deserialize_with = "list_or_commas")]
    pub dmarc_report_addresses: Vec<String>,
    /// Milliseconds all the lookups may take.
    pub timeout_ms: u64,
}

impl Default for RawAuth {
    fn default() -> Self {
        Self {
            authserv_id: String::new(),
            dmarc: "enforce".into(),
            dmarc_domains: BTreeMap::new(),
            arc_trusted_sealers: Vec::new(),
            arc_seal_forwards: true,
            dmarc_report_addresses: Vec::new(),
            timeout_ms: 10_000,
        }
    }
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
    /// Mail authentication.
    pub auth: crate::policy::auth::AuthConfig,
    /// The rate-limit rules.
    pub rate_limits: Vec<crate::policy::rate_limits::Rule>,
    /// The virus scanner, when one is configured.
    pub antivirus: Option<crate::policy::antivirus::AntivirusConfig>,
    /// The spam score.
    pub score: crate::policy::score::ScoreConfig,
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

/// Validates `[smtp.checks]`; `hostname` is `server.hostname`.
pub fn validate(r: &RawChecks, hostname: &str) -> anyhow::Result<ChecksConfig> {
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
    // SPF and DMARC judge a sending server's right to a domain: a user submitting from home
    // fails them by design, and the message is signed on the way out.
    if submission.iter().any(|n| n == "auth") {
        bail!(
            "smtp.checks.submission: \"auth\" is for the MX listener only: people submit from \
             addresses their domain's SPF does not list (AUTH identifies them instead)"
        );
    }
    if lists.is_empty() && mx.iter().chain(&submission).any(|n| n == "dnsbl") {
        bail!("smtp.checks: the dnsbl check is on but smtp.checks.dnsbl.lists is empty");
    }
    let rate_limits = r
        .rate_limits
        .rules
        .iter()
        .map(|text| {
            crate::policy::rate_limits::Rule::parse(text)
                .map_err(|why| anyhow!("smtp.checks.rate_limits.rules: {:?} {why}", text.trim()))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    if rate_limits.is_empty() && mx.iter().chain(&submission).any(|n| n == "rate_limits") {
        bail!(
            "smtp.checks: the rate_limits check is on but smtp.checks.rate_limits.rules is empty"
        );
    }
    for (key, list) in [("mx", &mx), ("submission", &submission)] {
        if list.iter().any(|n| n == "score") && list.last().is_some_and(|n| n != "score") {
            bail!(
                "smtp.checks.{key}: \"score\" must come last: it adds up what the checks before it found"
            );
        }
    }
    let antivirus = antivirus(&r.antivirus)?;
    if antivirus.is_none() && mx.iter().chain(&submission).any(|n| n == "antivirus") {
        bail!("smtp.checks: the antivirus check is on but smtp.checks.antivirus.clamd is not set");
    }
    if r.greylist.enabled && !mx.iter().chain(&submission).any(|n| n == "score") {
        bail!(
            "smtp.checks.greylist: it is enabled but no listener runs the \"score\" check it is gated by"
        );
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
        auth: auth(&r.auth, hostname)?,
        rate_limits,
        antivirus,
        score: score(&r.score, greylist(&r.greylist)?)?,
        ip_lists: crate::policy::ip_lists::IpLists {
            allow: nets("allow", &r.ip_lists.allow)?,
            deny: nets("deny", &r.ip_lists.deny)?,
        },
    })
}

/// `[smtp.checks.auth]`.
fn auth(r: &RawAuth, hostname: &str) -> anyhow::Result<AuthConfig> {
    let mode = |key: &str, name: &str| {
        DmarcMode::parse(name.trim()).ok_or_else(|| {
            anyhow!(
                "smtp.checks.auth.{key}: {name:?} is not a DMARC mode (expected \"enforce\", \
                 \"quarantine\" or \"report\")"
            )
        })
    };
    let mut dmarc_domains = BTreeMap::new();
    for (domain, name) in &r.dmarc_domains {
        let domain = domain.trim().trim_end_matches('.').to_ascii_lowercase();
        dmarc_domains.insert(
            domain.clone(),
            mode(&format!("dmarc_domains.{domain}"), name)?,
        );
    }
    let authserv_id = match r.authserv_id.trim() {
        "" => hostname.to_string(),
        id if id.contains(|c: char| c.is_whitespace() || c == ';' || c == '(') => bail!(
            "smtp.checks.auth.authserv_id: {id:?} is not a single token (like mx.example.org)"
        ),
        id => id.to_ascii_lowercase(),
    };
    Ok(AuthConfig {
        authserv_id,
        dmarc: mode("dmarc", &r.dmarc)?,
        dmarc_domains,
        arc_trusted_sealers: r
            .arc_trusted_sealers
            .iter()
            .map(|s| s.trim().trim_end_matches('.').to_ascii_lowercase())
            .collect(),
        arc_seal_forwards: r.arc_seal_forwards,
        dmarc_report_addresses: r
            .dmarc_report_addresses
            .iter()
            .map(|a| {
                let a = a.trim().to_ascii_lowercase();
                match a.split_once('@') {
                    Some((l, d)) if !l.is_empty() && d.contains('.') => Ok(a),
                    _ => Err(anyhow!(
                        "smtp.checks.auth.dmarc_report_addresses: {a:?} is not an address"
                    )),
                }
            })
            .collect::<anyhow::Result<_>>()?,
        timeout: Duration::from_millis(require_positive(
            "smtp.checks.auth",
            "timeout_ms",
            r.timeout_ms,
        )?),
    })
}

/// `[smtp.checks.antivirus]` (`None` without a clamd).
fn antivirus(r: &RawAntivirus) -> anyhow::Result<Option<AntivirusConfig>> {
    use crate::policy::antivirus::Clamd;
    let clamd = match r.clamd.trim() {
        "" => return Ok(None),
        path if path.starts_with('/') => Clamd::Socket(path.into()),
        addr if addr
            .rsplit_once(':')
            .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok()) =>
        {
            Clamd::Tcp(addr.to_string())
        }
        other => bail!(
            "smtp.checks.antivirus.clamd: {other:?} is neither host:port nor the path of a unix \
             socket (like 127.0.0.1:3310 or /run/clamav/clamd.ctl)"
        ),
    };
    let accept_on_failure = match r.on_failure.trim() {
        "tempfail" => false,
        "accept" => true,
        other => bail!(
            "smtp.checks.antivirus.on_failure: {other:?} (expected \"tempfail\" or \"accept\")"
        ),
    };
    Ok(Some(AntivirusConfig {
        clamd,
        timeout: Duration::from_millis(require_positive(
            "smtp.checks.antivirus",
            "timeout_ms",
            r.timeout_ms,
        )?),
        max_bytes: require_positive("smtp.checks.antivirus", "max_bytes", r.max_bytes as u64)?
            as usize,
        accept_on_failure,
    }))
}
