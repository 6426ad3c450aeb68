//! `[cluster]`: this node's identity among the nodes sharing one store, as written
//! ([`RawCluster`]) and validated ([`ClusterConfig`]).

use anyhow::bail;
use serde::{Deserialize, Serialize};

/// `[cluster]` as written.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawCluster {
    /// This node's id: unique among the nodes sharing a store, stable across restarts (on
    /// Kubernetes, the StatefulSet ordinal plus one). It names the node in the store's shard
    /// owner records and in logs.
    pub node_id: u64,
}

impl Default for RawCluster {
    fn default() -> Self {
        Self { node_id: 1 }
    }
}

/// The validated `[cluster]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// This node's id (≥ 1).
    pub node_id: u64,
}

impl TryFrom<&RawCluster> for ClusterConfig {
    type Error = anyhow::Error;

    fn try_from(r: &RawCluster) -> anyhow::Result<Self> {
        if r.node_id == 0 {
            bail!("cluster.node_id: must be at least 1 (0 means no node)");
        }
        Ok(Self { node_id: r.node_id })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_zero_is_refused_naming_the_key() {
        let err = ClusterConfig::try_from(&RawCluster { node_id: 0 }).expect_err("refused");
        assert!(err.to_string().contains("cluster.node_id"), "{err}");
        assert_eq!(
            ClusterConfig::try_from(&RawCluster::default())
                .expect("default")
                .node_id,
            1
        );
    }
}
