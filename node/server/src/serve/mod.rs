//! `tern serve`: builds a node ([`Node::build`]: store, certificates, fixtures, listeners,
//! queue) and runs it ([`Node::run`]: the HTTP endpoint until shutdown, then the drain). The
//! binary triggers shutdown on SIGTERM/SIGINT; tests that start nodes in-process trigger it
//! through [`Node::shutdown`].

mod cluster;
mod maintenance;
mod node;
pub(crate) mod reclaim;
mod store;

pub use node::{Addresses, Node};

use crate::{config::Config, shutdown};

/// Runs the node until a shutdown signal.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let node = Node::build(config).await?;
    let stop = node.shutdown();
    let signal = shutdown::signal();
    tokio::spawn(async move {
        signal.await;
        tracing::info!("shutdown requested, draining");
        stop.trigger();
    });
    node.run().await
}
