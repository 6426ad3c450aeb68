//! The outbound queue: a manager actor per node scans the shards it owns for due entries and
//! hands them to one actor per destination domain, whose workers resolve the route, hold SMTP
//! connections to the destination (reused for several messages), deliver, and commit each
//! attempt's outcome — with any DSN to the sender — in one store transaction.

pub mod cause;
mod census;
pub mod client;
mod commit;
mod domain;
pub mod dsn;
pub mod inject;
mod manager;
mod metrics;
pub mod operator;
pub mod outcome;
pub mod ownership;
pub mod route;
mod tls;
mod worker;

use std::sync::Arc;

use anyhow::bail;
use tern_store::{
    Db,
    model::{
        Directory,
        queue::{ops, shard},
    },
};
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsConnector;

use crate::{config::QueueConfig, live::outbound::Outbound, shutdown::Shutdown};

/// What every queue actor and worker shares.
pub struct QueueContext {
    /// Limits, schedule and policy.
    pub config: Arc<QueueConfig>,
    /// This node's name (EHLO, DSNs).
    pub hostname: String,
    /// This node's id (`cluster.node_id`), written into the owner record of its shards.
    pub node_id: u64,
    /// Directory and store.
    pub dir: Directory,
    /// Route resolution.
    pub router: route::Router,
    /// Outbound TLS.
    pub tls: TlsConnector,
    /// The shards this node is given, with their epochs (the ownership input).
    pub given: watch::Receiver<ownership::Shards>,
    /// The shards this node holds, claimed in the store.
    pub held: ownership::Held,
    /// Deliveries at once on the node (`queue.max_concurrent_deliveries`).
    pub deliveries: Semaphore,
    /// The open outbound connections, as `ternctl queue connections` lists them.
    pub connections: Outbound,
    /// Node shutdown.
    pub shutdown: Shutdown,
    /// Tells this queue's actors apart from another queue's in the same process (in-process
    /// test nodes) in the actor registry.
    instance: u64,
}

impl QueueContext {
    /// The registry name prefix of `domain`'s destination actors (each one adds a sequence
    /// number): what an operator's debugger or a test finds them by.
    pub fn destination_actors(&self, domain: &str) -> String {
        format!("tern-queue/{}/{domain}/", self.instance)
    }

    /// Deliveries running now (each holds one of the node-wide permits).
    pub fn deliveries_running(&self) -> usize {
        self.config.max_concurrent_deliveries - self.deliveries.available_permits()
    }
}

/// Refuses a `queue.shards` other than the one the store's queue was laid out with (stored at
/// the first start), and builds the shard counters of a queue from before they existed.
pub async fn check_layout(db: &Db, shards: u16) -> anyhow::Result<()> {
    let stored = db
        .run(|tx| async move { shard::layout(&tx, shards).await })
        .await?;
    if stored != shards {
        bail!(
            "queue.shards: {shards} differs from the {stored} shards this store's queue was laid \
             out with at its first start; set queue.shards = {stored} (with another count, the \
             mail queued in the shards that no longer exist would never be delivered)"
        );
    }
    if ops::count_existing(db, shards).await? {
        tracing::info!(
            shards,
            "queue: shard counters built for the entries already queued"
        );
    }
    Ok(())
}

/// Starts the manager on the shards `given` hands this node (it claims each one in the store
/// before working on it). Returns the shared context and the manager's task.
pub async fn start(
    config: QueueConfig,
    hostname: String,
    node_id: u64,
    dir: Directory,
    given: watch::Receiver<ownership::Shards>,
    connections: Outbound,
    shutdown: Shutdown,
) -> anyhow::Result<(Arc<QueueContext>, tokio::task::JoinHandle<()>)> {
    let config = Arc::new(config);
    metrics::init(config.shards, config.max_concurrent_deliveries);
    let ctx = Arc::new(QueueContext {
        router: route::Router::new(config.clone())?,
        tls: tls::connector(config.verify_certificates)?,
        deliveries: Semaphore::new(config.max_concurrent_deliveries),
        config,
        hostname,
        node_id,
        dir,
        given,
        held: ownership::Held::default(),
        connections,
        shutdown,
        instance: {
            static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
            NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        },
    });
    let handle = manager::spawn(ctx.clone()).await?;
    tokio::spawn(census::run(ctx.clone()));
    Ok((ctx, handle))
}
