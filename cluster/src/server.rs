//! The server side of the cluster port: accepts mutually authenticated TLS connections (a peer
//! whose certificate the cluster CA did not sign is refused, logged with its address and
//! counted) and answers each request in turn: Raft's RPCs go to openraft, join requests to the
//! join handler, the node's own requests to the handler it registered.

use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};

use crate::{
    membership::{handle_admin, handle_join},
    metrics::METRICS,
    node::Shared,
    rpc::{self, Request, Response},
};

/// Accepts connections until the task is aborted.
pub(crate) async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "cluster port: accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let shared = shared.clone();
        tokio::spawn(async move {
            if let Err(e) = connection(tcp, &shared).await {
                tracing::debug!(peer = %peer, error = %e, "cluster connection ended");
            }
        });
    }
}

async fn connection(tcp: TcpStream, shared: &Shared) -> std::io::Result<()> {
    let peer = tcp.peer_addr()?;
    let _ = tcp.set_nodelay(true);
    let mut tls = match shared.tls.acceptor.accept(tcp).await {
        Ok(t) => t,
        Err(e) => {
            METRICS.tls_failures.inc();
            tracing::error!(peer = %peer, error = %e, "cluster port: TLS handshake refused (is the peer's certificate signed by this cluster's CA?)");
            return Ok(());
        }
    };
    while let Some(request) = rpc::read::<_, Request>(&mut tls).await? {
        let response = match request {
            Request::Append(r) => Response::Append(shared.raft.append_entries(r).await),
            Request::Vote(r) => Response::Vote(shared.raft.vote(r).await),
            Request::Snapshot(r) => Response::Snapshot(shared.raft.install_snapshot(r).await),
            Request::Join { id, member, rejoin } => {
                Response::Join(handle_join(shared, id, member, rejoin).await)
            }
            Request::Admin(a) => Response::Admin(handle_admin(shared, a).await),
            Request::Node(r) => Response::Node(match &shared.requests {
                Some(handle) => handle(r),
                None => Err("this node answers no node requests".into()),
            }),
        };
        rpc::write(&mut tls, &response).await?;
    }
    Ok(())
}
