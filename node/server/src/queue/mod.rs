//! The outbound queue: a manager actor per node scans the shards it owns for due entries and
//! hands them to one actor per destination domain, whose workers resolve the route, hold SMTP
//! connections to the destination (reused for several messages), deliver, and commit each
//! attempt's outcome — with any DSN to the sender — in one store transaction.

pub mod client;
mod commit;
mod domain;
pub mod dsn;
mod manager;
mod metrics;
pub mod outcome;
pub mod route;
mod tls;
mod worker;

use std::sync::Arc;

use tern_store::model::{Directory, queue::shard};
use tokio_rustls::TlsConnector;

use crate::{config::QueueConfig, shutdown::Shutdown};

/// What every queue actor and worker shares.
pub struct QueueContext {
    /// Limits, schedule and policy.
    pub config: Arc<QueueConfig>,
    /// This node's name (EHLO, DSNs).
    pub hostname: String,
    /// Directory and store.
    pub dir: Directory,
    /// Route resolution.
    pub router: route::Router,
    /// Outbound TLS.
    pub tls: TlsConnector,
    /// Owner epoch held for each shard (index = shard); `None`: not owned by this node.
    pub epochs: Vec<Option<i64>>,
    /// Node shutdown.
    pub shutdown: Shutdown,
}

/// Claims every shard (a single node owns them all; the cluster will hand out subsets), then
/// starts the manager. Returns when the manager is running.
pub async fn start(
    config: QueueConfig,
    hostname: String,
    dir: Directory,
    shutdown: Shutdown,
) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let config = Arc::new(config);
    let shards = config.shards;
    let epochs = dir
        .db()
        .transact(|tx| async move {
            let mut out = Vec::with_capacity(usize::from(shards));
            for s in 0..shards {
                out.push(Some(shard::claim(&tx, s).await?));
            }
            Ok::<_, tern_store::StoreError>(out)
        })
        .await?;
    let ctx = Arc::new(QueueContext {
        router: route::Router::new(config.clone())?,
        tls: tls::connector(config.verify_certificates)?,
        config,
        hostname,
        dir,
        epochs,
        shutdown,
    });
    manager::spawn(ctx).await
}
