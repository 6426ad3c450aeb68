//! The live view across the cluster: an [`Ask`] is answered by this node from its registries
//! and sent to every other member over the cluster port (the handler [`handler`] registers
//! answers theirs); members that cannot answer are reported, so a partial list says so.

use std::{sync::Arc, time::Duration};

use serde::{Deserialize, Serialize};
use tern_cluster::node::{Cluster, NodeRequests};

use super::{
    Live, outbound,
    sessions::{Filter, Info, Target},
};

/// How long a member has to answer.
pub const PEER_TIMEOUT: Duration = Duration::from_secs(3);

/// A question for every node.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Ask {
    /// Its sessions that match.
    Sessions(Filter),
    /// End these sessions.
    Kick(Target),
    /// Its open outbound connections.
    Outbound,
    /// Its wall clock (the doctor compares the members').
    Clock,
}

/// One node's answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Answer {
    /// Sessions listed.
    Sessions(Vec<Info>),
    /// Sessions ended.
    Kicked(Vec<Info>),
    /// Outbound connections.
    Outbound(Vec<outbound::Info>),
    /// Wall clock, Unix milliseconds.
    Clock(i64),
}

/// A member that did not answer, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Unanswered {
    /// Its node id.
    pub node: u64,
    /// Why.
    pub error: String,
}

impl Live {
    /// This node's answer.
    pub fn answer(&self, ask: &Ask) -> Answer {
        match ask {
            Ask::Sessions(f) => Answer::Sessions(self.sessions.list(f)),
            Ask::Kick(t) => Answer::Kicked(self.sessions.kick(t)),
            Ask::Outbound => Answer::Outbound(self.outbound.list()),
            Ask::Clock => Answer::Clock(chrono::Utc::now().timestamp_millis()),
        }
    }
}

/// Answers peers' asks from `live`.
pub fn handler(live: Live) -> NodeRequests {
    Arc::new(move |request| {
        let ask: Ask = serde_json::from_value(request).map_err(|e| format!("bad ask: {e}"))?;
        serde_json::to_value(live.answer(&ask)).map_err(|e| e.to_string())
    })
}

/// This node's answer and every other member's (none without a cluster), and the members that
/// gave none.
pub async fn gather(
    live: &Live,
    cluster: Option<&Cluster>,
    ask: &Ask,
) -> (Vec<Answer>, Vec<Unanswered>) {
    let mut answers = vec![live.answer(ask)];
    let mut missing = Vec::new();
    let Some(cluster) = cluster else {
        return (answers, missing);
    };
    let request = match serde_json::to_value(ask) {
        Ok(r) => r,
        Err(e) => {
            missing.push(Unanswered {
                node: 0,
                error: e.to_string(),
            });
            return (answers, missing);
        }
    };
    for (node, answer) in cluster.ask_peers(request, PEER_TIMEOUT).await {
        match answer.and_then(|v| serde_json::from_value(v).map_err(|e| e.to_string())) {
            Ok(a) => answers.push(a),
            Err(error) => {
                tracing::warn!(node, error = %error, "a member did not answer the live view");
                missing.push(Unanswered { node, error });
            }
        }
    }
    (answers, missing)
}
