//! The PROXY protocol on a mail listener: before limits, TLS and the session, a connection from
//! a trusted load balancer is read for the header naming the real client, which then stands in
//! for the peer address everywhere (limits, policy, logs, `Received:`). `required`: every
//! connection must come from a trusted network and begin with a header. `optional`: one from a
//! trusted network may begin with a header (on a port where the server speaks first, a direct
//! client from there waits up to the header timeout for its greeting); one from elsewhere is a
//! direct client, and a header it sends on an implicit-TLS port is refused (elsewhere it is an
//! unknown command to the protocol, and never changes the client address).

use std::{
    net::SocketAddr,
    sync::{Arc, LazyLock},
    time::Duration,
};

use ipnet::IpNet;
use prometheus::{IntCounterVec, Opts, register_int_counter_vec};
use tern_proto::proxy::{self, Parsed, Start};
use tokio::{io::AsyncReadExt, net::TcpStream};

use crate::config::proxy::{ProxyConfig, ProxyMode};

/// How one listener treats PROXY headers.
#[derive(Debug, Clone)]
pub struct ProxyPolicy {
    /// Every connection must carry a header.
    pub required: bool,
    /// Where headers may come from.
    pub trusted: Arc<[IpNet]>,
    /// How long a header may take.
    pub timeout: Duration,
}

impl ProxyPolicy {
    /// The policy of listener `key` (`None`: off).
    pub fn of(config: &ProxyConfig, key: &str) -> Option<ProxyPolicy> {
        let required = match config.mode(key) {
            ProxyMode::Off => return None,
            ProxyMode::Optional => false,
            ProxyMode::Required => true,
        };
        for version in ["1", "2"] {
            METRICS.headers.with_label_values(&[key, version]);
        }
        Some(ProxyPolicy {
            required,
            trusted: config.trusted.clone().into(),
            timeout: config.header_timeout,
        })
    }

    fn trusts(&self, peer: SocketAddr) -> bool {
        let ip = peer.ip().to_canonical();
        self.trusted.iter().any(|n| n.contains(&ip))
    }
}

/// Why a connection was turned away.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refused {
    /// A header (or, when required, any connection) from outside the trusted networks.
    Untrusted,
    /// No header where one is required.
    Missing,
    /// Not within the header timeout.
    Timeout,
    /// A malformed header, or the connection closed inside it.
    Invalid(String),
}

impl Refused {
    /// The refusal's metric label.
    pub fn label(&self) -> &'static str {
        match self {
            Refused::Untrusted => "proxy_untrusted",
            Refused::Missing => "proxy_missing",
            Refused::Timeout => "proxy_timeout",
            Refused::Invalid(_) => "proxy_invalid",
        }
    }
}

/// The refusal labels, for metrics present at zero.
pub const REFUSALS: [&str; 4] = [
    "proxy_untrusted",
    "proxy_missing",
    "proxy_timeout",
    "proxy_invalid",
];

struct Metrics {
    headers: IntCounterVec,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| Metrics {
    headers: register_int_counter_vec!(
        Opts::new(
            "tern_proxy_headers_total",
            "PROXY protocol headers accepted, by listener and version"
        ),
        &["listener", "version"]
    )
    .expect("metric registers once"),
});

/// Applies `policy` to a new connection from `peer` on `listener`, consuming the header if there
/// is one; the client address the session is to use. `client_first`: the client speaks first
/// (implicit TLS), so its first bytes come without waiting for the server.
pub async fn accept(
    stream: &mut TcpStream,
    peer: SocketAddr,
    policy: &ProxyPolicy,
    listener: &str,
    client_first: bool,
) -> Result<SocketAddr, Refused> {
    if !policy.trusts(peer) {
        if policy.required {
            return Err(Refused::Untrusted);
        }
        if client_first
            && let Ok(Ok(Some(_))) = tokio::time::timeout(policy.timeout, read(stream)).await
        {
            return Err(Refused::Untrusted);
        }
        return Ok(peer);
    }
    match tokio::time::timeout(policy.timeout, read(stream)).await {
        Ok(Ok(Some(h))) => {
            METRICS
                .headers
                .with_label_values(&[listener, &h.version.to_string()])
                .inc();
            let client = h.client.unwrap_or(peer);
            tracing::debug!(peer = %client, proxy = %peer, listener, version = h.version, "PROXY header");
            Ok(client)
        }
        Ok(Ok(None)) if policy.required => Err(Refused::Missing),
        Ok(Ok(None)) => Ok(peer),
        Ok(Err(reason)) => Err(Refused::Invalid(reason)),
        Err(_) if policy.required => Err(Refused::Timeout),
        // A direct client from a trusted network, waiting for the greeting.
        Err(_) => Ok(peer),
    }
}

/// Reads a PROXY header at the start of `stream`, consuming exactly its bytes; `None` when the
/// connection begins with something else (left unread).
async fn read(stream: &mut TcpStream) -> Result<Option<proxy::Header>, String> {
    let mut buf = vec![0u8; proxy::V1_MAX];
    let mut seen = 0;
    loop {
        let n = stream.peek(&mut buf).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("the connection closed before a complete header".into());
        }
        match proxy::start(&buf[..n]) {
            Start::Other => return Ok(None),
            Start::Undecided => {}
            Start::Header => match proxy::parse(&buf[..n]) {
                Parsed::Complete(h) => {
                    let mut header = vec![0u8; h.len];
                    stream
                        .read_exact(&mut header)
                        .await
                        .map_err(|e| e.to_string())?;
                    return Ok(Some(h));
                }
                Parsed::Invalid(reason) => return Err(reason),
                Parsed::Incomplete => {
                    let needed = proxy::needed(&buf[..n]);
                    if needed > buf.len() {
                        buf.resize(needed, 0);
                    }
                }
            },
        }
        // Peeking again returns at once with the same bytes until more arrive.
        if n == seen {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        seen = n;
    }
}
