//! The cluster as this member sees it: a leader, every member up, every queue shard owned.

use super::{Doctor, Finding};

/// Findings on the cluster (none on a node that is not in one).
pub fn health(d: &Doctor) -> Vec<Finding> {
    let Some(cluster) = &d.cluster else {
        return Vec::new();
    };
    let s = cluster.status();
    let mut out = Vec::new();
    match s.leader {
        Some(l) => out.push(Finding::ok(
            "cluster.leader",
            "cluster",
            format!(
                "node {l} leads (term {}); {} members",
                s.term,
                s.members.len()
            ),
        )),
        None => out.push(Finding::error(
            "cluster.leader",
            "cluster",
            "no Raft leader: no shard moves and no member joins or leaves".into(),
            "see ops/runbooks/TernClusterNoLeader.md".into(),
        )),
    }
    for m in s.members.iter().filter(|m| m.state == "down") {
        out.push(Finding::warning(
            "cluster.member",
            &format!("node {}", m.id),
            format!(
                "node {} ({}) is down; its shards moved to the others",
                m.id, m.raft
            ),
            format!(
                "bring it back, or `ternctl cluster leave {}` if it is gone for good",
                m.id
            ),
        ));
    }
    if s.unowned_shards > 0 {
        out.push(Finding::error(
            "cluster.shards",
            "cluster",
            format!(
                "{} of {} queue shards have no owner: their mail is not delivered",
                s.unowned_shards, s.shards
            ),
            "see ops/runbooks/TernQueueShardUnowned.md".into(),
        ));
    }
    out
}
