//! Starting this node's part in the Raft cluster when `listeners.cluster` is set: the cluster
//! port with its TLS, the addresses to advertise, and the store's shard epochs for a cluster
//! that starts here (so the cluster's epochs begin above them).

use std::{net::SocketAddr, sync::Arc};

use anyhow::Context;
use tern_cluster::{
    node::{Cluster, NodeRequests, Options, Timing},
    tls::ClusterTls,
    types::Member,
};
use tern_store::{Db, model::queue::shard};
use tokio::net::TcpListener;

use crate::config::Config;

/// Starts the cluster part, if configured.
pub async fn start(
    config: &Config,
    db: &Db,
    http: SocketAddr,
    requests: NodeRequests,
) -> anyhow::Result<Option<Arc<Cluster>>> {
    let (Some(addr), Some(raft)) = (config.listeners.cluster, &config.cluster.raft) else {
        return Ok(None);
    };
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("listeners.cluster: cannot bind {addr}"))?;
    let local = listener.local_addr()?;
    println!("cluster listening on {local}");
    let advertise = match raft.advertise.as_str() {
        "" if local.ip().is_unspecified() => anyhow::bail!(
            "cluster.advertise: required when listeners.cluster is a wildcard address ({local}): \
             the address other nodes reach this one at"
        ),
        "" => local.to_string(),
        a => a.to_string(),
    };
    let admin = match raft.advertise_admin.as_str() {
        "" => http.to_string(),
        a => a.to_string(),
    };
    let (ca, cert, key) = &raft.tls;
    let tls = ClusterTls::load(ca, cert, key)?;
    let floor = db
        .run(|tx| async move { shard::owners(&tx).await })
        .await?
        .into_iter()
        .map(|(s, o)| (s, o.epoch))
        .collect();
    let cluster = Cluster::start(Options {
        id: config.cluster.node_id,
        dir: config.data_dir.join("raft"),
        listener,
        member: Member {
            raft: advertise.clone(),
            admin,
        },
        // Joining through itself would wait for itself (a StatefulSet's list names every pod).
        join: raft
            .join
            .iter()
            .filter(|j| **j != advertise)
            .cloned()
            .collect(),
        init: raft.init,
        voters: raft.voters,
        down_after: raft.down_after,
        shards: config.queue.shards,
        floor,
        tls,
        source: raft.source,
        timing: Timing {
            heartbeat_ms: raft.heartbeat_ms,
            election_ms: raft.election_ms,
        },
        requests: Some(requests),
    })
    .await
    .context("starting the cluster")?;
    tracing::info!(node = config.cluster.node_id, address = %local, advertise, "cluster port listening");
    Ok(Some(Arc::new(cluster)))
}
