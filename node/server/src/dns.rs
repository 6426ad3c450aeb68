//! The node's DNS resolver (hickory-resolver): the configured server (`queue.dns_server`) or
//! the system's configuration, with names taken as absolute, and a cache that keeps answers
//! for their TTL (negative answers too). The outbound queue's routing and the inbound policy
//! checks share one ([`shared`]), so they share its cache; the doctor's checks make their own.
//! Its cache's hits and misses are exported ([`crate::dns_metrics`]).

use std::{net::SocketAddr, sync::Mutex};

use hickory_resolver::{
    TokioResolver,
    config::{ConnectionConfig, NameServerConfig, ResolverConfig, ResolverOpts},
    net::runtime::TokioRuntimeProvider,
};

/// A resolver asking `server` (UDP, then TCP), or the system's resolvers when `None`.
pub fn resolver(server: Option<SocketAddr>) -> anyhow::Result<TokioResolver> {
    crate::dns_metrics::install();
    let mut builder = match server {
        Some(addr) => {
            let conn = |mut c: ConnectionConfig| {
                c.port = addr.port();
                c
            };
            let ns = NameServerConfig::new(
                addr.ip(),
                true,
                vec![conn(ConnectionConfig::udp()), conn(ConnectionConfig::tcp())],
            );
            TokioResolver::builder_with_config(
                ResolverConfig::from_parts(None, vec![], vec![ns]),
                TokioRuntimeProvider::default(),
            )
        }
        None => TokioResolver::builder_tokio()?,
    };
    let opts: &mut ResolverOpts = builder.options_mut();
    opts.ndots = 0;
    // Room for the MX routes and the DNS list answers of a busy MX.
    opts.cache_size = CACHE_ANSWERS;
    Ok(builder.build()?)
}

/// Answers the node's resolver keeps.
const CACHE_ANSWERS: u64 = 8192;

/// The process's resolver for `server` (made on first use; clones share its cache).
pub fn shared(server: Option<SocketAddr>) -> anyhow::Result<TokioResolver> {
    static RESOLVERS: Mutex<Vec<(Option<SocketAddr>, TokioResolver)>> = Mutex::new(Vec::new());
    let mut made = RESOLVERS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some((_, r)) = made.iter().find(|(s, _)| *s == server) {
        return Ok(r.clone());
    }
    let r = resolver(server)?;
    made.push((server, r.clone()));
    Ok(r)
}
