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
/// starts the manager. Returns the shared context and the manager's task.
pub async fn start(
    config: QueueConfig,
    hostname: String,
    dir: Directory,
    shutdown: Shutdown,
) -> anyhow::Result<(Arc<QueueContext>, tokio::task::JoinHandle<()>)> {
    let config = Arc::new(config);
    let shards = config.shards;
    metrics::init(shards);
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
    let handle = manager::spawn(ctx.clone()).await?;
    tokio::spawn(census::run(ctx.clone()));
    Ok((ctx, handle))
}

/// Fails every open recipient of `entry` now ("bounce now") and sends the sender a DSN.
pub async fn bounce_now(
    ctx: &QueueContext,
    entry: &tern_store::model::queue::QueueEntry,
) -> Result<(), String> {
    let results = entry
        .open_recipients()
        .map(|r| {
            (
                r.address.clone(),
                outcome::Result::Failed(
                    "5.3.0 returned to the sender by the postmaster of this system".into(),
                ),
            )
        })
        .collect();
    let message = tern_store::blob::read(ctx.dir.db(), entry.blob)
        .await
        .map_err(|e| e.to_string())?;
    let body = &message[(entry.skip as usize).min(message.len())..];
    commit::attempt(ctx, entry, &results, "", body)
        .await
        .map(|_| ())
        .map_err(|e| format!("{e:?}"))
}
