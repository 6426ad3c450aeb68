//! `[cluster]`: this node's identity among the nodes sharing one store, and — when
//! `listeners.cluster` is set — how it takes part in the Raft cluster: whom to join through, how
//! many voters, when a silent member counts as down, the cluster's TLS files and Raft timing.
//! As written ([`RawCluster`]) and validated ([`ClusterConfig`]).

use std::{net::IpAddr, path::PathBuf, time::Duration};

use anyhow::bail;
use serde::{Deserialize, Serialize};

/// `[cluster]` as written.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawCluster {
    /// This node's id: unique among the nodes sharing a store, stable across restarts (on
    /// Kubernetes, the StatefulSet ordinal plus one). It names the node in Raft, in the store's
    /// shard owner records and in logs.
    pub node_id: u64,
    /// Cluster ports (`host:port`) of members to join through; empty: a node without a cluster
    /// yet starts a new one. A list, or one string separated by commas.
    #[serde(deserialize_with = "super::raw::list_or_commas")]
    pub join: Vec<String>,
    /// The address other nodes reach this node's cluster port at (empty: `listeners.cluster`,
    /// which must then not be a wildcard address).
    pub advertise: String,
    /// The admin address `ternctl cluster status` shows for this node (empty:
    /// `listeners.http`).
    pub advertise_admin: String,
    /// The local IP address this node's connections to other members leave from (empty: the
    /// OS chooses), for hosts with a separate cluster network.
    pub source_address: String,
    /// Raft voters wanted; further nodes stay learners.
    pub voters: usize,
    /// Milliseconds without an answer to Raft's heartbeats after which the leader marks a
    /// member down and moves its shards.
    pub down_after_ms: u64,
    /// PEM file of the cluster's CA, which signs every node's certificate.
    pub ca_file: String,
    /// PEM certificate chain of this node (with the DNS name `tern-cluster`).
    pub certificate: String,
    /// PEM private key of this node.
    pub private_key: String,
    /// Raft heartbeat, milliseconds (at least 50; 250 suits busy machines).
    pub heartbeat_ms: u64,
    /// Raft election timeout range, milliseconds.
    pub election_timeout_min_ms: u64,
    /// Upper end of the election timeout range.
    pub election_timeout_max_ms: u64,
}

impl Default for RawCluster {
    fn default() -> Self {
        Self {
            node_id: 1,
            join: Vec::new(),
            advertise: String::new(),
            advertise_admin: String::new(),
            source_address: String::new(),
            voters: 3,
            down_after_ms: 3000,
            ca_file: String::new(),
            certificate: String::new(),
            private_key: String::new(),
            heartbeat_ms: 250,
            election_timeout_min_ms: 750,
            election_timeout_max_ms: 1500,
        }
    }
}

/// Taking part in the Raft cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaftConfig {
    /// Members to join through.
    pub join: Vec<String>,
    /// Start a new cluster even though `join` names members (`tern serve --cluster-init`), if
    /// this node has no Raft state yet.
    pub init: bool,
    /// This node's advertised cluster address (empty: from the bound listener).
    pub advertise: String,
    /// Advertised admin address (empty: from the bound listener).
    pub advertise_admin: String,
    /// Where connections to peers leave from.
    pub source: Option<IpAddr>,
    /// Voters wanted.
    pub voters: usize,
    /// Silence before a member is down.
    pub down_after: Duration,
    /// CA, certificate and key files.
    pub tls: (PathBuf, PathBuf, PathBuf),
    /// Heartbeat, milliseconds.
    pub heartbeat_ms: u64,
    /// Election timeout range, milliseconds.
    pub election_ms: (u64, u64),
}

/// The validated `[cluster]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterConfig {
    /// This node's id (≥ 1).
    pub node_id: u64,
    /// Raft, when `listeners.cluster` is set.
    pub raft: Option<RaftConfig>,
}

impl ClusterConfig {
    /// Checks `[cluster]`; `listening` says whether `listeners.cluster` is set.
    pub fn validate(r: &RawCluster, listening: bool) -> anyhow::Result<Self> {
        if r.node_id == 0 {
            bail!("cluster.node_id: must be at least 1 (0 means no node)");
        }
        if !listening {
            if !r.join.is_empty() {
                bail!(
                    "cluster.join: needs listeners.cluster (the port this node's cluster traffic uses)"
                );
            }
            return Ok(Self {
                node_id: r.node_id,
                raft: None,
            });
        }
        for (key, v) in [
            ("ca_file", &r.ca_file),
            ("certificate", &r.certificate),
            ("private_key", &r.private_key),
        ] {
            if v.trim().is_empty() {
                bail!(
                    "cluster.{key}: required with listeners.cluster (the cluster port uses mutual \
                     TLS; `ternctl cluster certs` makes a CA and node certificates)"
                );
            }
        }
        let source = match r.source_address.trim() {
            "" => None,
            a => Some(a.parse::<IpAddr>().map_err(|_| {
                anyhow::anyhow!("cluster.source_address: {a:?} is not an IP address")
            })?),
        };
        if r.voters == 0 {
            bail!("cluster.voters: must be at least 1");
        }
        if r.down_after_ms < 500 {
            bail!("cluster.down_after_ms: {} is under 500", r.down_after_ms);
        }
        if r.heartbeat_ms < 50 {
            bail!("cluster.heartbeat_ms: {} is under 50", r.heartbeat_ms);
        }
        if r.election_timeout_min_ms <= r.heartbeat_ms
            || r.election_timeout_max_ms <= r.election_timeout_min_ms
        {
            bail!(
                "cluster.election_timeout_min_ms: must be above cluster.heartbeat_ms and below \
                 cluster.election_timeout_max_ms ({} < {} < {} does not hold)",
                r.heartbeat_ms,
                r.election_timeout_min_ms,
                r.election_timeout_max_ms
            );
        }
        Ok(Self {
            node_id: r.node_id,
            raft: Some(RaftConfig {
                join: r.join.iter().map(|j| j.trim().to_string()).collect(),
                init: false,
                advertise: r.advertise.trim().to_string(),
                advertise_admin: r.advertise_admin.trim().to_string(),
                source,
                voters: r.voters,
                down_after: Duration::from_millis(r.down_after_ms),
                tls: (
                    r.ca_file.clone().into(),
                    r.certificate.clone().into(),
                    r.private_key.clone().into(),
                ),
                heartbeat_ms: r.heartbeat_ms,
                election_ms: (r.election_timeout_min_ms, r.election_timeout_max_ms),
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_values_are_refused_naming_the_key() {
        let bad = |f: fn(&mut RawCluster), listening: bool| {
            let mut r = RawCluster {
                ca_file: "ca.pem".into(),
                certificate: "node.pem".into(),
                private_key: "node.key".into(),
                ..RawCluster::default()
            };
            f(&mut r);
            ClusterConfig::validate(&r, listening)
                .expect_err("refused")
                .to_string()
        };
        assert!(bad(|r| r.node_id = 0, false).contains("cluster.node_id"));
        assert!(bad(|r| r.join = vec!["a:1".into()], false).contains("cluster.join"));
        assert!(bad(|r| r.source_address = "eth0".into(), true).contains("source_address"));
        assert!(bad(|r| r.ca_file.clear(), true).contains("cluster.ca_file"));
        assert!(bad(|r| r.voters = 0, true).contains("cluster.voters"));
        assert!(bad(|r| r.heartbeat_ms = 10, true).contains("cluster.heartbeat_ms"));
        assert!(
            bad(|r| r.election_timeout_max_ms = 700, true)
                .contains("cluster.election_timeout_min_ms")
        );
        let single = ClusterConfig::validate(&RawCluster::default(), false).expect("single");
        assert_eq!((single.node_id, single.raft), (1, None));
    }
}
