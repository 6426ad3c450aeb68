//! The cluster as this member sees it: a leader, every member up, every queue shard owned, and
//! the members' clocks agreeing with this one's.

use super::{Doctor, Finding};
use crate::live::ask::{Answer, Ask, PEER_TIMEOUT};

/// Clock difference beyond which a member's clock is reported (as the alert's threshold).
const SKEW_MS: i64 = 1000;

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

/// Each other member's clock against this node's: asked over the cluster port, compared with
/// the middle of the exchange (the difference is known to within half the exchange's time).
pub async fn clocks(d: &Doctor) -> Vec<Finding> {
    let Some(cluster) = &d.cluster else {
        return Vec::new();
    };
    let Ok(ask) = serde_json::to_value(Ask::Clock) else {
        return Vec::new();
    };
    let sent = chrono::Utc::now().timestamp_millis();
    let answers = cluster.ask_peers(ask, PEER_TIMEOUT).await;
    let back = chrono::Utc::now().timestamp_millis();
    let (middle, margin) = ((sent + back) / 2, (back - sent) / 2);
    let mut out = Vec::new();
    for (node, answer) in answers {
        let subject = format!("node {node}");
        let Ok(Answer::Clock(theirs)) =
            answer.and_then(|v| serde_json::from_value(v).map_err(|e| e.to_string()))
        else {
            continue; // a member that does not answer is reported by cluster.member
        };
        let skew = theirs - middle;
        if skew.abs() > SKEW_MS + margin {
            out.push(Finding::warning(
                "cluster.clock",
                &subject,
                format!(
                    "node {node}'s clock is {:.1} s {} this node's: queue retry times, suspensions and the order of tracking events assume the members agree",
                    skew.abs() as f64 / 1000.0,
                    if skew > 0 { "ahead of" } else { "behind" }
                ),
                "run NTP (chrony, systemd-timesyncd) on every host; see ops/runbooks/TernClockSkew.md".into(),
            ));
        } else {
            out.push(Finding::ok(
                "cluster.clock",
                &subject,
                format!(
                    "node {node}'s clock agrees with this node's (within {} ms)",
                    skew.abs() + margin
                ),
            ));
        }
    }
    out
}
