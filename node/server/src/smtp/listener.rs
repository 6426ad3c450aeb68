//! SMTP listeners: accept connections, apply the node-wide and per-IP limits (refusing with
//! `421` before any session exists), do the implicit-TLS handshake on 465, and start one
//! session actor per connection.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use anyhow::Context;
use ractor::Actor;
use tern_proto::smtp::reply;
use tokio::{
    io::AsyncWriteExt,
    net::{TcpListener, TcpStream},
    task::JoinHandle,
};

use super::{
    ListenerKind, SmtpContext, actor::SessionActor, limits::Refusal, metrics::METRICS,
    session::Session, stream::MaybeTls,
};

/// Longest an implicit-TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// Binds a listener, naming the config key on failure.
pub async fn bind(addr: SocketAddr, key: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("listeners.{key}: cannot bind {addr}"))
}

/// Serves `listener` until shutdown.
pub fn spawn(listener: TcpListener, kind: ListenerKind, ctx: Arc<SmtpContext>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let stop = ctx.shutdown.wait();
        tokio::pin!(stop);
        loop {
            let (stream, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(pair) => pair,
                    Err(e) => {
                        // Out of file descriptors and the like: back off instead of spinning.
                        tracing::warn!(listener = kind.label(), error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                },
                _ = &mut stop => break,
            };
            let ctx = ctx.clone();
            tokio::spawn(connection(stream, peer, kind, ctx));
        }
        tracing::info!(listener = kind.label(), "listener stopped");
    })
}

async fn connection(
    mut stream: TcpStream,
    peer: SocketAddr,
    kind: ListenerKind,
    ctx: Arc<SmtpContext>,
) {
    let _ = stream.set_nodelay(true);
    let slot = match ctx.limits.acquire(peer.ip()) {
        Ok(slot) => slot,
        Err(refusal) => {
            let (label, r) = match refusal {
                Refusal::Ip => ("per_ip", reply::too_many_connections_from_ip(&ctx.hostname)),
                Refusal::Node => ("node", reply::too_many_connections(&ctx.hostname)),
            };
            METRICS.refused.with_label_values(&[label]).inc();
            tracing::warn!(peer = %peer, listener = kind.label(), reason = label, "connection refused by limits");
            // On 465 the client expects a handshake first; a clear-text reply would be noise.
            if kind != ListenerKind::Submissions {
                let _ = stream.write_all(r.to_wire().as_bytes()).await;
                let _ = stream.shutdown().await;
            }
            return;
        }
    };
    let io = if kind == ListenerKind::Submissions {
        let Some(tls) = ctx.tls.clone() else { return };
        match tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.acceptor().accept(stream)).await {
            Ok(Ok(s)) => MaybeTls::Tls(Box::new(s)),
            Ok(Err(e)) => {
                tracing::info!(peer = %peer, error = %e, "TLS handshake failed");
                return;
            }
            Err(_) => {
                tracing::info!(peer = %peer, "TLS handshake timed out");
                return;
            }
        }
    } else {
        MaybeTls::Plain(stream)
    };
    let session = Session::new(ctx, kind, io, peer);
    match Actor::spawn(None, SessionActor::new(), (session, Some(slot))).await {
        Ok((_, handle)) => {
            let _ = handle.await;
        }
        Err(e) => tracing::error!(peer = %peer, error = %e, "cannot start a session actor"),
    }
}
