//! The node's live view of its connections: the client sessions running on it (who is
//! connected where, doing what; an operator's kick) and the outbound queue's open SMTP
//! connections, and the cluster request that gathers both from every member so `ternctl
//! sessions` and `ternctl queue connections` see the whole cluster from any node.

pub mod ask;
mod metrics;
pub mod outbound;
pub mod sessions;

pub use metrics::init;

/// The registries of one node.
#[derive(Clone)]
pub struct Live {
    /// Client sessions.
    pub sessions: sessions::Sessions,
    /// Outbound connections.
    pub outbound: outbound::Outbound,
}

impl Live {
    /// The empty registries of node `node`.
    pub fn new(node: u64) -> Live {
        Live {
            sessions: sessions::Sessions::new(node),
            outbound: outbound::Outbound::new(node),
        }
    }
}
