//! The accept loop shared by the mail protocols: binds, accepts until shutdown, reads a trusted
//! load balancer's PROXY header where the listener takes one (the client it names is the peer
//! from then on), applies the connection limits (answering the protocol's own refusal before
//! closing; also when the process is out of descriptors, through the spare one), performs the
//! implicit-TLS handshake where the port needs one, then starts the protocol's session.
//! Refusals are logged at most once per ten seconds per listener.

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use tokio::{
    io::AsyncWriteExt,
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};

use super::{
    descriptors,
    limits::{ConnectionLimits, Refusal, Slot},
    proxy::{self, ProxyPolicy},
    stream::MaybeTls,
};
use crate::{shutdown::Shutdown, throttle::Throttle, tls::TlsConfig};

/// Longest an implicit-TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest writing a refusal may take.
const REFUSAL_TIMEOUT: Duration = Duration::from_secs(5);

/// How a listener treats new connections.
pub struct ListenerSpec {
    /// Label for logs (`smtp`, `pop3s`, ...).
    pub label: &'static str,
    /// TLS from the first byte.
    pub implicit_tls: bool,
    /// The limits to apply.
    pub limits: ConnectionLimits,
    /// The PROXY protocol (`None`: off).
    pub proxy: Option<ProxyPolicy>,
    /// TLS configuration.
    pub tls: Option<Arc<TlsConfig>>,
    /// Node shutdown.
    pub shutdown: Shutdown,
    /// What to write before closing a refused clear-text connection.
    pub refusal: Box<dyn Fn(Refusal) -> Vec<u8> + Send + Sync>,
    /// Counts a refusal (metrics) by reason label.
    pub count_refusal: fn(&'static str),
    /// Budget of the refusal and accept-error log lines.
    pub log: Throttle,
}

/// Binds a listener, naming the config key on failure.
pub async fn bind(addr: SocketAddr, key: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("listeners.{key}: cannot bind {addr}"))
}

/// Accepts on `listener` until shutdown, running `start` for every admitted connection.
pub fn spawn<F, Fut>(listener: TcpListener, spec: ListenerSpec, start: F) -> JoinHandle<()>
where
    F: Fn(MaybeTls<TcpStream>, SocketAddr, Slot) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let spec = Arc::new(spec);
    let start = Arc::new(start);
    tokio::spawn(async move {
        let stop = spec.shutdown.wait();
        tokio::pin!(stop);
        loop {
            let (stream, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(pair) => pair,
                    Err(e) if descriptors::exhausted(&e) => {
                        // Take the waiting client with the spare descriptor and turn it away,
                        // rather than leave it hanging in the listen queue.
                        let turned_away = descriptors::with_spare(async || {
                            let (stream, peer) = listener.accept().await.ok()?;
                            refuse(stream, peer, &spec, Refusal::Node, "descriptors").await;
                            Some(())
                        })
                        .await;
                        if turned_away.is_none() {
                            // Not even the spare was there: wait for sessions to end.
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                        continue;
                    }
                    Err(e) => {
                        if spec.log.allow().is_some() {
                            tracing::warn!(listener = spec.label, error = %e, "accept failed");
                        }
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
                _ = &mut stop => break,
            };
            let (spec, start) = (spec.clone(), start.clone());
            tokio::spawn(async move {
                // Boxed: the task lives as long as the connection, the PROXY header and the
                // TLS handshake only until it is admitted.
                if let Some((io, peer, slot)) = Box::pin(admit(stream, peer, &spec)).await {
                    start(io, peer, slot).await;
                }
            });
        }
        tracing::info!(listener = spec.label, "listener stopped");
    })
}

/// Answers the protocol's refusal (not on implicit-TLS ports, where the client expects a
/// handshake) and closes.
async fn refuse(
    mut stream: TcpStream,
    peer: SocketAddr,
    spec: &ListenerSpec,
    refusal: Refusal,
    label: &'static str,
) {
    // Counted after its log line is written, so a count seen means the line is out.
    if let Some(suppressed) = spec.log.allow() {
        tracing::warn!(peer = %peer, listener = spec.label, reason = label, suppressed, "connection refused");
    }
    (spec.count_refusal)(label);
    if !spec.implicit_tls {
        let _ = tokio::time::timeout(REFUSAL_TIMEOUT, async {
            let _ = stream.write_all(&(spec.refusal)(refusal)).await;
            let _ = stream.shutdown().await;
        })
        .await;
    }
}

/// Admits a connection: the stream, the client's address (from a PROXY header where one is
/// taken) and its slot under the limits.
async fn admit(
    mut stream: TcpStream,
    mut peer: SocketAddr,
    spec: &ListenerSpec,
) -> Option<(MaybeTls<TcpStream>, SocketAddr, Slot)> {
    let _ = stream.set_nodelay(true);
    if let Some(policy) = &spec.proxy {
        match proxy::accept(&mut stream, peer, policy, spec.label, spec.implicit_tls).await {
            Ok(client) => peer = client,
            Err(refused) => {
                if let Some(suppressed) = spec.log.allow() {
                    let detail = match &refused {
                        proxy::Refused::Invalid(why) => why.as_str(),
                        _ => "",
                    };
                    tracing::warn!(peer = %peer, listener = spec.label, reason = refused.label(), detail, suppressed, "connection refused: PROXY protocol");
                }
                (spec.count_refusal)(refused.label());
                return None;
            }
        }
    }
    let slot = match spec.limits.acquire(peer.ip()) {
        Ok(slot) => slot,
        Err(refusal) => {
            let label = match refusal {
                Refusal::Ip => "per_ip",
                Refusal::Node => "node",
            };
            refuse(stream, peer, spec, refusal, label).await;
            return None;
        }
    };
    if !spec.implicit_tls {
        return Some((MaybeTls::Plain(stream), peer, slot));
    }
    let tls = spec.tls.clone()?;
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.accept(stream)).await {
        Ok(Ok(s)) => Some((MaybeTls::Tls(Box::new(s)), peer, slot)),
        Ok(Err(e)) => {
            tracing::info!(peer = %peer, listener = spec.label, error = %e, "TLS handshake failed");
            None
        }
        Err(_) => {
            tracing::info!(peer = %peer, listener = spec.label, "TLS handshake timed out");
            None
        }
    }
}
