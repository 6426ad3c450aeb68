//! `[queue]`: the outbound queue's retry schedule, lifetimes, per-destination limits, host
//! suspension, DNS, TLS policy and relay host, as written ([`RawQueue`]) and validated
//! ([`QueueConfig`]).

use std::{collections::BTreeMap, net::SocketAddr, time::Duration};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

/// `[queue]` as written.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawQueue {
    /// Shards of the queue (hash of the destination domain mod this).
    pub shards: u16,
    /// Seconds between attempts, comma-separated; the last one repeats.
    pub retry_intervals_seconds: String,
    /// Age after which undelivered mail is bounced.
    pub max_lifetime_seconds: u64,
    /// Age of the first delay warning, then one a day (0: none).
    pub delay_warning_seconds: u64,
    /// Connections at once to one destination.
    pub max_connections_per_destination: usize,
    /// Deliveries at once on this node, over every destination.
    pub max_concurrent_deliveries: usize,
    /// Recipients per SMTP transaction.
    pub max_recipients_per_transaction: usize,
    /// Messages sent over one connection before it is closed.
    pub max_messages_per_connection: usize,
    /// Connection failures in a row before a destination is suspended.
    pub suspend_after_failures: u32,
    /// How long a suspension lasts.
    pub suspend_seconds: u64,
    /// Seconds to connect to a host.
    pub connect_timeout_seconds: u64,
    /// Seconds to wait for a reply.
    pub command_timeout_seconds: u64,
    /// Port of remote MX hosts.
    pub remote_port: u16,
    /// DNS server (`ip:port`); empty: the system's resolver configuration.
    pub dns_server: String,
    /// `opportunistic` (STARTTLS when offered, plaintext if it fails), `required`, or `none`.
    pub starttls: String,
    /// Whether remote certificates are verified against the web PKI roots.
    pub verify_certificates: bool,
    /// Send everything through this host (`host:port`) instead of MX lookups.
    pub relay_host: String,
    /// `starttls` (required), `implicit` (TLS from the start) or `none` for the relay host.
    pub relay_tls: String,
    /// AUTH PLAIN user for the relay host (empty: no AUTH).
    pub relay_username: String,
    /// AUTH PLAIN password for the relay host.
    pub relay_password: String,
    /// Milliseconds between scans of the owned shards for due entries.
    pub scan_interval_ms: u64,
    /// Receives a copy of every outgoing message once a remote server accepted it (empty: off).
    pub archive_address: String,
    /// The addresses receivers see this node's mail come from (behind NAT or an egress
    /// gateway, not the node's own): what the doctor checks reverse DNS, SPF and block lists
    /// of. A list, or one string separated by commas.
    #[serde(deserialize_with = "super::raw::list_or_commas")]
    pub public_addresses: Vec<String>,
    /// DNS block lists (zones such as `bl.spamcop.net`) the doctor looks the public addresses
    /// up in. A list, or one string separated by commas.
    #[serde(deserialize_with = "super::raw::list_or_commas")]
    pub blocklists: Vec<String>,
    /// Static routes by destination domain (`[queue.routes."example.org"]`).
    pub routes: BTreeMap<String, RawRoute>,
}

/// `[queue.routes."<domain>"]`: a static outbound route for one destination domain.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    /// `host:port` to send the domain's mail to.
    pub host: String,
    /// `starttls` (required, the default), `implicit` or `none`.
    #[serde(default = "default_route_tls")]
    pub tls: String,
    /// AUTH PLAIN user (empty: no AUTH).
    #[serde(default)]
    pub username: String,
    /// AUTH PLAIN password.
    #[serde(default)]
    pub password: String,
    /// Retry intervals for this route (empty: the queue's).
    #[serde(default)]
    pub retry_intervals_seconds: String,
}

fn default_route_tls() -> String {
    "starttls".into()
}

impl Default for RawQueue {
    fn default() -> Self {
        Self {
            shards: 64,
            retry_intervals_seconds: "120,300,600,900,1800,3600,7200,14400".into(),
            max_lifetime_seconds: 5 * 86_400,
            delay_warning_seconds: 4 * 3600,
            max_connections_per_destination: 20,
            max_concurrent_deliveries: 100,
            max_recipients_per_transaction: 50,
            max_messages_per_connection: 100,
            suspend_after_failures: 5,
            suspend_seconds: 900,
            connect_timeout_seconds: 30,
            command_timeout_seconds: 300,
            remote_port: 25,
            dns_server: String::new(),
            starttls: "opportunistic".into(),
            verify_certificates: false,
            relay_host: String::new(),
            relay_tls: "starttls".into(),
            relay_username: String::new(),
            relay_password: String::new(),
            scan_interval_ms: 1000,
            archive_address: String::new(),
            public_addresses: Vec::new(),
            blocklists: Vec::new(),
            routes: BTreeMap::new(),
        }
    }
}

/// STARTTLS policy towards MX hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartTls {
    /// Use it when offered; fall back to plaintext if it fails.
    Opportunistic,
    /// Refuse to send without it (temporary failure).
    Required,
    /// Never.
    Never,
}

/// How the relay host is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelayTls {
    /// STARTTLS, required.
    StartTls,
    /// TLS from the first byte.
    Implicit,
    /// Plaintext.
    None,
}

/// A relay host (smarthost) for all outbound mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relay {
    /// Host name or IP.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Transport security.
    pub tls: RelayTls,
    /// AUTH PLAIN user and password.
    pub auth: Option<(String, String)>,
}

/// The validated `[queue]`.
#[derive(Debug, Clone)]
pub struct QueueConfig {
    /// Shards.
    pub shards: u16,
    /// Intervals between attempts; the last repeats.
    pub retry_intervals: Vec<Duration>,
    /// Bounce after this age.
    pub max_lifetime: Duration,
    /// First delay warning (then daily); `None`: never.
    pub delay_warning: Option<Duration>,
    /// Connections per destination.
    pub max_connections_per_destination: usize,
    /// Deliveries at once on the node.
    pub max_concurrent_deliveries: usize,
    /// Recipients per transaction.
    pub max_recipients_per_transaction: usize,
    /// Messages per connection.
    pub max_messages_per_connection: usize,
    /// Failures before suspension.
    pub suspend_after_failures: u32,
    /// Suspension length.
    pub suspend_for: Duration,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Reply timeout.
    pub command_timeout: Duration,
    /// Remote MX port.
    pub remote_port: u16,
    /// DNS server (`None`: system configuration).
    pub dns_server: Option<SocketAddr>,
    /// STARTTLS policy.
    pub starttls: StartTls,
    /// Verify remote certificates.
    pub verify_certificates: bool,
    /// Relay host.
    pub relay: Option<Relay>,
    /// Scan interval.
    pub scan_interval: Duration,
    /// Archive copy address.
    pub archive_address: Option<String>,
    /// Static routes by destination domain (lowercase).
    pub routes: BTreeMap<String, Route>,
    /// The addresses receivers see this node's mail come from.
    pub public_addresses: Vec<std::net::IpAddr>,
    /// DNS block list zones the doctor checks them against (lowercase, no trailing dot).
    pub blocklists: Vec<String>,
}

/// A static route: where a domain's mail goes, and its own retry schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The host.
    pub relay: Relay,
    /// Retry intervals (`None`: the queue's).
    pub retry_intervals: Option<Vec<Duration>>,
}

impl QueueConfig {
    /// The wait after attempt number `attempts` (1-based) for mail to `domain`.
    pub fn retry_after(&self, domain: &str, attempts: u32) -> Duration {
        let list = self
            .routes
            .get(&domain.to_ascii_lowercase())
            .and_then(|r| r.retry_intervals.as_ref())
            .unwrap_or(&self.retry_intervals);
        let i = (attempts.max(1) as usize - 1).min(list.len() - 1);
        list[i]
    }
}

fn intervals(key: &str, list: &str) -> anyhow::Result<Vec<Duration>> {
    list.split(',')
        .map(|s| {
            s.trim()
                .parse::<u64>()
                .ok()
                .filter(|v| *v > 0)
                .map(Duration::from_secs)
                .with_context(|| format!("{key}: {s:?} is not a positive number of seconds"))
        })
        .collect()
}

fn parse_relay(
    key: &str,
    host_port: &str,
    tls: &str,
    user: &str,
    password: &str,
) -> anyhow::Result<Relay> {
    let (host, port) = host_port
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h, p.parse::<u16>().ok()?)))
        .with_context(|| format!("{key}: {host_port:?} is not host:port"))?;
    let tls = match tls {
        "starttls" => RelayTls::StartTls,
        "implicit" => RelayTls::Implicit,
        "none" => RelayTls::None,
        other => bail!("{key}: TLS mode {other:?} is not one of starttls, implicit, none"),
    };
    if user.is_empty() && !password.is_empty() {
        bail!("{key}: a password is set without a username (AUTH needs both)");
    }
    Ok(Relay {
        host: host.trim_matches(['[', ']']).to_string(),
        port,
        tls,
        auth: (!user.is_empty()).then(|| (user.to_string(), password.to_string())),
    })
}

fn positive(key: &str, v: u64) -> anyhow::Result<u64> {
    super::require_positive("queue", key, v)
}

impl TryFrom<&RawQueue> for QueueConfig {
    type Error = anyhow::Error;

    fn try_from(r: &RawQueue) -> anyhow::Result<Self> {
        let retry_intervals =
            intervals("queue.retry_intervals_seconds", &r.retry_intervals_seconds)?;
        let starttls = match r.starttls.as_str() {
            "opportunistic" => StartTls::Opportunistic,
            "required" => StartTls::Required,
            "none" => StartTls::Never,
            other => bail!("queue.starttls: {other:?} is not one of opportunistic, required, none"),
        };
        let dns_server =
            match r.dns_server.trim() {
                "" => None,
                s => Some(s.parse().with_context(|| {
                    format!("queue.dns_server: {s:?} is not an ip:port address")
                })?),
            };
        let relay = match r.relay_host.trim() {
            "" => None,
            s => Some(parse_relay(
                "queue.relay_host",
                s,
                &r.relay_tls,
                &r.relay_username,
                &r.relay_password,
            )?),
        };
        let mut routes = BTreeMap::new();
        for (domain, route) in &r.routes {
            let key = format!("queue.routes.\"{domain}\"");
            let retry_intervals = match route.retry_intervals_seconds.trim() {
                "" => None,
                list => Some(intervals(&key, list)?),
            };
            routes.insert(
                domain.to_ascii_lowercase(),
                Route {
                    relay: parse_relay(
                        &key,
                        route.host.trim(),
                        &route.tls,
                        &route.username,
                        &route.password,
                    )?,
                    retry_intervals,
                },
            );
        }
        Ok(QueueConfig {
            shards: positive("shards", u64::from(r.shards))? as u16,
            retry_intervals,
            max_lifetime: Duration::from_secs(positive(
                "max_lifetime_seconds",
                r.max_lifetime_seconds,
            )?),
            delay_warning: (r.delay_warning_seconds > 0)
                .then(|| Duration::from_secs(r.delay_warning_seconds)),
            max_connections_per_destination: positive(
                "max_connections_per_destination",
                r.max_connections_per_destination as u64,
            )? as usize,
            max_concurrent_deliveries: positive(
                "max_concurrent_deliveries",
                r.max_concurrent_deliveries as u64,
            )? as usize,
            max_recipients_per_transaction: positive(
                "max_recipients_per_transaction",
                r.max_recipients_per_transaction as u64,
            )? as usize,
            max_messages_per_connection: positive(
                "max_messages_per_connection",
                r.max_messages_per_connection as u64,
            )? as usize,
            suspend_after_failures: positive(
                "suspend_after_failures",
                u64::from(r.suspend_after_failures),
            )? as u32,
            suspend_for: Duration::from_secs(r.suspend_seconds),
            connect_timeout: Duration::from_secs(positive(
                "connect_timeout_seconds",
                r.connect_timeout_seconds,
            )?),
            command_timeout: Duration::from_secs(positive(
                "command_timeout_seconds",
                r.command_timeout_seconds,
            )?),
            remote_port: positive("remote_port", u64::from(r.remote_port))? as u16,
            dns_server,
            starttls,
            verify_certificates: r.verify_certificates,
            relay,
            scan_interval: Duration::from_millis(positive("scan_interval_ms", r.scan_interval_ms)?),
            routes,
            archive_address: match r.archive_address.trim() {
                "" => None,
                a => Some(
                    tern_proto::Address::parse(a)
                        .map_err(|e| anyhow::anyhow!("queue.archive_address: {e}"))?
                        .to_string(),
                ),
            },
            public_addresses: r
                .public_addresses
                .iter()
                .map(|a| {
                    a.trim().parse().with_context(|| {
                        format!("queue.public_addresses: {a:?} is not an IP address")
                    })
                })
                .collect::<anyhow::Result<_>>()?,
            blocklists: r
                .blocklists
                .iter()
                .map(|z| z.trim().trim_end_matches('.').to_ascii_lowercase())
                .map(|z| {
                    if z.is_empty() || z.contains(char::is_whitespace) {
                        bail!("queue.blocklists: {z:?} is not a DNS zone")
                    }
                    Ok(z)
                })
                .collect::<anyhow::Result<_>>()?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_postfix_and_the_last_interval_repeats() {
        let q = QueueConfig::try_from(&RawQueue::default()).expect("defaults");
        assert_eq!(q.retry_after("x.test", 1), Duration::from_secs(120));
        assert_eq!(q.retry_after("x.test", 8), Duration::from_secs(14_400));
        assert_eq!(q.retry_after("x.test", 50), Duration::from_secs(14_400));
        assert_eq!(q.max_connections_per_destination, 20);
        assert_eq!(q.max_recipients_per_transaction, 50);
        assert!(q.relay.is_none());
    }

    #[test]
    fn bad_values_name_their_key() {
        let bad = |f: fn(&mut RawQueue)| {
            let mut r = RawQueue::default();
            f(&mut r);
            QueueConfig::try_from(&r).expect_err("refused").to_string()
        };
        assert!(bad(|r| r.retry_intervals_seconds = "60,x".into()).contains("retry_intervals"));
        assert!(bad(|r| r.starttls = "maybe".into()).contains("queue.starttls"));
        assert!(bad(|r| r.relay_host = "nohostport".into()).contains("queue.relay_host"));
        assert!(bad(|r| r.shards = 0).contains("queue.shards"));
        assert!(bad(|r| r.dns_server = "dns".into()).contains("queue.dns_server"));
        assert!(
            bad(|r| r.public_addresses = vec!["mx.example.org".into()])
                .contains("queue.public_addresses")
        );
        assert!(bad(|r| r.blocklists = vec!["bad zone".into()]).contains("queue.blocklists"));
    }

    #[test]
    fn public_addresses_and_block_lists_are_normalised() {
        let r = RawQueue {
            public_addresses: vec![" 192.0.2.1".into(), "2001:db8::1".into()],
            blocklists: vec!["BL.Example.".into()],
            ..RawQueue::default()
        };
        let q = QueueConfig::try_from(&r).expect("valid");
        assert_eq!(q.public_addresses.len(), 2);
        assert_eq!(q.blocklists, vec!["bl.example".to_string()]);
    }

    #[test]
    fn relay_host_with_auth() {
        let r = RawQueue {
            relay_host: "[10.0.0.1]:587".into(),
            relay_username: "u".into(),
            relay_password: "p".into(),
            ..RawQueue::default()
        };
        let q = QueueConfig::try_from(&r).expect("valid");
        let relay = q.relay.expect("relay");
        assert_eq!(relay.host, "10.0.0.1");
        assert_eq!(relay.port, 587);
        assert_eq!(relay.tls, RelayTls::StartTls);
        assert_eq!(relay.auth, Some(("u".into(), "p".into())));
    }
}

#[cfg(test)]
mod route_tests {
    use super::*;

    #[test]
    fn static_routes_have_their_own_host_and_schedule() {
        let mut r = RawQueue::default();
        r.routes.insert(
            "Partner.TEST".into(),
            RawRoute {
                host: "relay.partner.test:2525".into(),
                tls: "implicit".into(),
                username: "me".into(),
                password: "pw".into(),
                retry_intervals_seconds: "60,600".into(),
            },
        );
        let q = QueueConfig::try_from(&r).expect("valid");
        let route = &q.routes["partner.test"];
        assert_eq!(route.relay.port, 2525);
        assert_eq!(route.relay.tls, RelayTls::Implicit);
        assert_eq!(q.retry_after("partner.test", 1), Duration::from_secs(60));
        assert_eq!(q.retry_after("partner.test", 9), Duration::from_secs(600));
        assert_eq!(q.retry_after("other.test", 1), Duration::from_secs(120));
        r.routes.get_mut("Partner.TEST").expect("route").tls = "sometimes".into();
        let e = QueueConfig::try_from(&r).expect_err("refused").to_string();
        assert!(e.contains("queue.routes.\"Partner.TEST\""), "{e}");
    }
}
