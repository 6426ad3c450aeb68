//! Where mail for a destination goes: its static route, else the relay host when one is
//! configured, otherwise the MX
//! hosts by preference (RFC 5321 §5.1), or the domain itself when it has no MX (implicit MX).
//! A null MX (RFC 7505) and an authoritative NXDOMAIN are permanent ("host not found"); any
//! other DNS failure is temporary ("Internet address not found"), to be retried.

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
};

use hickory_resolver::{TokioResolver, proto::rr::RData};

use crate::config::queue::{QueueConfig, Relay, RelayTls};

/// One host to try.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Its name (for TLS and logs).
    pub host: String,
    /// Its addresses, in order.
    pub addrs: Vec<SocketAddr>,
    /// TLS from the first byte.
    pub implicit_tls: bool,
    /// STARTTLS must succeed (relay host policy).
    pub require_tls: bool,
    /// AUTH PLAIN credentials.
    pub auth: Option<(String, String)>,
}

/// Why no host could be found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RouteError {
    /// The domain cannot receive mail (NXDOMAIN, null MX).
    Permanent(String),
    /// DNS failed for now.
    Temporary(String),
}

/// Resolves destinations.
pub struct Router {
    resolver: TokioResolver,
    config: Arc<QueueConfig>,
}

impl Router {
    /// A router using the configured DNS server, or the system's.
    pub fn new(config: Arc<QueueConfig>) -> anyhow::Result<Router> {
        Ok(Router {
            resolver: crate::dns::shared(config.dns_server)?,
            config,
        })
    }

    /// The hosts to try for `domain`, best first.
    pub async fn route(&self, domain: &str) -> Result<Vec<Target>, RouteError> {
        if let Some(route) = self.config.routes.get(&domain.to_ascii_lowercase()) {
            return self.relay(&route.relay).await.map(|t| vec![t]);
        }
        if let Some(relay) = &self.config.relay {
            return self.relay(relay).await.map(|t| vec![t]);
        }
        let port = self.config.remote_port;
        if let Some(ip) = literal(domain) {
            return Ok(vec![target(domain, vec![SocketAddr::new(ip, port)])]);
        }
        let fqdn = format!("{}.", domain.trim_end_matches('.'));
        let mut exchanges: Vec<(u16, String)> = match self.resolver.mx_lookup(fqdn.as_str()).await {
            Ok(lookup) => lookup
                .answers()
                .iter()
                .filter_map(|r| match &r.data {
                    RData::MX(mx) => Some((mx.preference, mx.exchange.to_ascii())),
                    _ => None,
                })
                .collect(),
            Err(e) if e.is_nx_domain() => {
                return Err(RouteError::Permanent(format!(
                    "host not found: the domain {domain} does not exist (DNS NXDOMAIN)"
                )));
            }
            Err(e) if e.is_no_records_found() => Vec::new(),
            Err(e) => {
                return Err(RouteError::Temporary(format!(
                    "this server's DNS lookup of MX {domain} failed ({e})"
                )));
            }
        };
        if exchanges.len() == 1 && exchanges[0].1 == "." {
            return Err(RouteError::Permanent(format!(
                "the domain {domain} accepts no mail (null MX, RFC 7505)"
            )));
        }
        if exchanges.is_empty() {
            // Implicit MX: the domain's own address.
            exchanges.push((0, fqdn));
        }
        exchanges.sort_by_key(|(pref, _)| *pref);
        let mut targets = Vec::new();
        let mut errors = Vec::new();
        for (_, host) in exchanges {
            let host = host.trim_end_matches('.').to_string();
            match self.resolver.lookup_ip(format!("{host}.").as_str()).await {
                Ok(ips) => {
                    let addrs: Vec<SocketAddr> =
                        ips.iter().map(|ip| SocketAddr::new(ip, port)).collect();
                    if !addrs.is_empty() {
                        targets.push(target(&host, addrs));
                    }
                }
                Err(e) if e.is_nx_domain() => errors.push(format!("{host}: no such host")),
                Err(e) if e.is_no_records_found() => errors.push(format!("{host}: no address")),
                Err(e) => errors.push(format!("{host}: {e}")),
            }
        }
        if targets.is_empty() {
            return Err(RouteError::Temporary(format!(
                "Internet address not found for the mail hosts of {domain}: {}",
                errors.join("; ")
            )));
        }
        Ok(targets)
    }

    async fn relay(&self, relay: &Relay) -> Result<Target, RouteError> {
        let addrs = match relay.host.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, relay.port)],
            Err(_) => self
                .resolver
                .lookup_ip(format!("{}.", relay.host).as_str())
                .await
                .map_err(|e| {
                    RouteError::Temporary(format!(
                        "Internet address not found for the relay host {}: {e}",
                        relay.host
                    ))
                })?
                .iter()
                .map(|ip| SocketAddr::new(ip, relay.port))
                .collect(),
        };
        Ok(Target {
            host: relay.host.clone(),
            addrs,
            implicit_tls: relay.tls == RelayTls::Implicit,
            require_tls: relay.tls == RelayTls::StartTls,
            auth: relay.auth.clone(),
        })
    }
}

fn target(host: &str, addrs: Vec<SocketAddr>) -> Target {
    Target {
        host: host.to_string(),
        addrs,
        implicit_tls: false,
        require_tls: false,
        auth: None,
    }
}

/// `[192.0.2.1]` or `[IPv6:2001:db8::1]`.
fn literal(domain: &str) -> Option<IpAddr> {
    let inner = domain.strip_prefix('[')?.strip_suffix(']')?;
    let inner = inner
        .strip_prefix("IPv6:")
        .or_else(|| inner.strip_prefix("ipv6:"))
        .unwrap_or(inner);
    inner.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_literals() {
        assert_eq!(
            literal("[127.0.0.2]"),
            Some("127.0.0.2".parse().expect("ip"))
        );
        assert_eq!(literal("[IPv6:::1]"), Some("::1".parse().expect("ip")));
        assert_eq!(literal("example.com"), None);
    }
}
