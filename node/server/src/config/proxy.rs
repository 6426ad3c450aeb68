//! `[proxy]`: the PROXY protocol (HAProxy's v1 and v2) per mail listener — `off`, `optional`
//! or `required` — the networks of the load balancers that may send the header, and how long it
//! may take. As written ([`RawProxy`]) and validated ([`ProxyConfig`]).

use std::{net::IpAddr, time::Duration};

use anyhow::{Context, bail};
use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// The mail listeners, by their key under `[listeners]`.
pub const LISTENERS: [&str; 7] = [
    "smtp",
    "submission",
    "submissions",
    "imap",
    "imaps",
    "pop3",
    "pop3s",
];

/// `[proxy]` as written.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawProxy {
    /// Port 25: `off`, `optional` or `required`.
    pub smtp: String,
    /// Submission (587).
    pub submission: String,
    /// Submission over implicit TLS (465).
    pub submissions: String,
    /// IMAP (143).
    pub imap: String,
    /// IMAP over implicit TLS (993).
    pub imaps: String,
    /// POP3 (110).
    pub pop3: String,
    /// POP3 over implicit TLS (995).
    pub pop3s: String,
    /// Networks (CIDR) or addresses of the load balancers allowed to send a header.
    #[serde(deserialize_with = "super::raw::list_or_commas")]
    pub trusted_networks: Vec<String>,
    /// Seconds a header may take to arrive.
    pub header_timeout_seconds: u64,
}

impl Default for RawProxy {
    fn default() -> Self {
        let off = || "off".to_string();
        Self {
            smtp: off(),
            submission: off(),
            submissions: off(),
            imap: off(),
            imaps: off(),
            pop3: off(),
            pop3s: off(),
            trusted_networks: Vec::new(),
            header_timeout_seconds: 5,
        }
    }
}

impl RawProxy {
    fn mode_of(&self, key: &str) -> &str {
        match key {
            "smtp" => &self.smtp,
            "submission" => &self.submission,
            "submissions" => &self.submissions,
            "imap" => &self.imap,
            "imaps" => &self.imaps,
            "pop3" => &self.pop3,
            _ => &self.pop3s,
        }
    }
}

/// A listener's PROXY protocol mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyMode {
    /// No header is read.
    Off,
    /// Connections from trusted networks may carry one.
    Optional,
    /// Every connection must come from a trusted network with one.
    Required,
}

/// The validated `[proxy]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyConfig {
    modes: Vec<(&'static str, ProxyMode)>,
    /// Where headers may come from.
    pub trusted: Vec<IpNet>,
    /// How long a header may take.
    pub header_timeout: Duration,
}

impl ProxyConfig {
    /// Checks `[proxy]`, naming the key at fault.
    pub fn validate(r: &RawProxy) -> anyhow::Result<Self> {
        let mut modes = Vec::new();
        for key in LISTENERS {
            let mode = match r.mode_of(key).trim().to_ascii_lowercase().as_str() {
                "off" | "" => ProxyMode::Off,
                "optional" => ProxyMode::Optional,
                "required" => ProxyMode::Required,
                other => bail!("proxy.{key}: {other:?} is not off, optional or required"),
            };
            modes.push((key, mode));
        }
        let trusted = r
            .trusted_networks
            .iter()
            .map(|n| network("proxy.trusted_networks", n.trim()))
            .collect::<anyhow::Result<Vec<_>>>()?;
        if let Some((key, _)) = modes.iter().find(|(_, m)| *m != ProxyMode::Off)
            && trusted.is_empty()
        {
            bail!(
                "proxy.{key}: needs proxy.trusted_networks (the load balancers' networks): a \
                 header from any other address is refused"
            );
        }
        if !(1..=60).contains(&r.header_timeout_seconds) {
            bail!(
                "proxy.header_timeout_seconds: {} is not between 1 and 60",
                r.header_timeout_seconds
            );
        }
        Ok(Self {
            modes,
            trusted,
            header_timeout: Duration::from_secs(r.header_timeout_seconds),
        })
    }

    /// The mode of listener `key`.
    pub fn mode(&self, key: &str) -> ProxyMode {
        self.modes
            .iter()
            .find(|(k, _)| *k == key)
            .map_or(ProxyMode::Off, |(_, m)| *m)
    }
}

/// A CIDR network, or one address as a network of its own; errors name `key`.
pub(super) fn network(key: &str, text: &str) -> anyhow::Result<IpNet> {
    match text.parse::<IpNet>() {
        Ok(n) => Ok(n.trunc()),
        Err(_) => text.parse::<IpAddr>().map(IpNet::from).with_context(|| {
            format!("{key}: {text:?} is not a network (like 10.0.0.0/8) or an address")
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_networks_and_their_errors() {
        let ok = ProxyConfig::validate(&RawProxy {
            smtp: "required".into(),
            imaps: "Optional".into(),
            trusted_networks: vec![
                "10.1.2.3/8".into(),
                "192.0.2.7".into(),
                "2001:db8::/32".into(),
            ],
            ..RawProxy::default()
        })
        .expect("valid");
        assert_eq!(ok.mode("smtp"), ProxyMode::Required);
        assert_eq!(ok.mode("imaps"), ProxyMode::Optional);
        assert_eq!(ok.mode("pop3"), ProxyMode::Off);
        assert_eq!(
            ok.trusted
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            ["10.0.0.0/8", "192.0.2.7/32", "2001:db8::/32"]
        );
        let bad = |f: fn(&mut RawProxy)| {
            let mut r = RawProxy {
                trusted_networks: vec!["10.0.0.0/8".into()],
                ..RawProxy::default()
            };
            f(&mut r);
            ProxyConfig::validate(&r).expect_err("refused").to_string()
        };
        assert!(bad(|r| r.pop3 = "on".into()).contains("proxy.pop3"));
        assert!(
            bad(|r| r.trusted_networks = vec!["10.0.0.0/33".into()]).contains("trusted_networks")
        );
        assert!(bad(|r| r.header_timeout_seconds = 0).contains("header_timeout_seconds"));
        assert!(
            bad(|r| {
                r.trusted_networks.clear();
                r.submission = "required".into();
            })
            .contains("proxy.submission: needs proxy.trusted_networks")
        );
    }
}
