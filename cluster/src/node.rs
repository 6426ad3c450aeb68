//! One node's part in the cluster: it opens the Raft log and state machine in its data
//! directory, serves the cluster port, starts a new cluster or joins one through any member,
//! and — while it leads — runs the leader's duties: recording members, marking one that stopped
//! answering Raft's heartbeats for `down_after` as down (and back up when it answers again),
//! promoting learners to voters up to the configured number, and moving shards so every active
//! member holds its share. Every node turns the shard map into its queue's ownership input.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
    time::Duration,
};

use openraft::{Config, ServerState, SnapshotPolicy};
use serde::Serialize;
use tokio::{net::TcpListener, sync::watch, task::JoinHandle};

use crate::{
    leader,
    log_store::LogStore,
    membership,
    metrics::{self, METRICS},
    network::{Dialer, Liveness, Network},
    rpc::{Admin, Request, Response},
    server,
    state::{ClusterState, MemberState, NO_NODE},
    state_machine::{Applied, StateMachine},
    tls::ClusterTls,
    types::{Member, Raft},
};

/// Raft timing. Measured with openraft 0.9.25 on a busy 2-core machine: a 250 ms heartbeat
/// and a 750–1500 ms election timeout elect a new leader in about 3 s; openraft's defaults
/// (50 ms, 150–300 ms) never formed a cluster there.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Heartbeat interval, milliseconds.
    pub heartbeat_ms: u64,
    /// Election timeout range, milliseconds.
    pub election_ms: (u64, u64),
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            heartbeat_ms: 250,
            election_ms: (750, 1500),
        }
    }
}

/// What a node needs to take part.
pub struct Options {
    /// This node's id.
    pub id: u64,
    /// Directory of the Raft log and snapshot.
    pub dir: std::path::PathBuf,
    /// The bound cluster port.
    pub listener: TcpListener,
    /// Addresses others reach this node at.
    pub member: Member,
    /// Members to join through (empty: start a new cluster if this node has none).
    pub join: Vec<String>,
    /// Start a new cluster even though `join` names members, if this node has none.
    pub init: bool,
    /// Voters wanted (others stay learners).
    pub voters: usize,
    /// Silence after which the leader marks a member down.
    pub down_after: Duration,
    /// The queue's shard count.
    pub shards: u16,
    /// The owner epochs the store holds (read when this node starts a cluster).
    pub floor: BTreeMap<u16, i64>,
    /// TLS of the cluster port.
    pub tls: ClusterTls,
    /// The local address connections to peers leave from (`None`: the OS chooses).
    pub source: Option<std::net::IpAddr>,
    /// Raft timing.
    pub timing: Timing,
    /// Answers the node's own requests from peers ([`Cluster::ask_peers`]).
    pub requests: Option<NodeRequests>,
}

/// The node's handler of its peers' requests: a document in, a document (or why not) out.
/// It must answer at once (it runs on the cluster port's connection task).
pub type NodeRequests =
    Arc<dyn Fn(serde_json::Value) -> Result<serde_json::Value, String> + Send + Sync>;

/// What the server and the duties share.
pub(crate) struct Shared {
    pub(crate) id: u64,
    pub(crate) raft: Raft,
    pub(crate) tls: ClusterTls,
    pub(crate) dialer: Dialer,
    pub(crate) log: LogStore,
    pub(crate) applied: watch::Receiver<Applied>,
    pub(crate) liveness: Liveness,
    pub(crate) requests: Option<NodeRequests>,
}

/// A running cluster node.
pub struct Cluster {
    shared: Arc<Shared>,
    ownership: watch::Receiver<BTreeMap<u16, i64>>,
    tasks: Vec<JoinHandle<()>>,
}

/// A member as `ternctl cluster status` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct MemberStatus {
    /// Node id.
    pub id: u64,
    /// Cluster port address.
    pub raft: String,
    /// Admin address.
    pub admin: String,
    /// `active`, `draining`, `down`.
    pub state: &'static str,
    /// `leader`, `voter` or `learner`.
    pub role: &'static str,
    /// Shards it owns.
    pub shards: usize,
    /// Log entries it is behind the leader (known on the leader only).
    pub lag: Option<u64>,
}

/// The cluster as this node sees it.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// This node.
    pub node_id: u64,
    /// The leader, if known.
    pub leader: Option<u64>,
    /// Current term.
    pub term: u64,
    /// Last log index here.
    pub last_log_index: Option<u64>,
    /// Index of the last entry this node knows committed (0: none yet).
    pub commit_index: u64,
    /// Last applied index here.
    pub applied_index: Option<u64>,
    /// The queue's shard count.
    pub shards: u16,
    /// Shards without an owner.
    pub unowned_shards: usize,
    /// Members.
    pub members: Vec<MemberStatus>,
}

impl Cluster {
    /// Opens the log, serves the cluster port, and starts or joins the cluster.
    pub async fn start(o: Options) -> anyhow::Result<Cluster> {
        metrics::init();
        std::fs::create_dir_all(&o.dir)?;
        let log = LogStore::open(&o.dir.join("log"))?;
        let sm = StateMachine::open(&o.dir)?;
        let applied = sm.watch();
        let config = Config {
            cluster_name: "tern".into(),
            heartbeat_interval: o.timing.heartbeat_ms,
            election_timeout_min: o.timing.election_ms.0,
            election_timeout_max: o.timing.election_ms.1,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(1000),
            max_in_snapshot_log_to_keep: 100,
            ..Config::default()
        }
        .validate()?;
        let liveness = Liveness::default();
        let dialer = Dialer {
            tls: o.tls.clone(),
            source: o.source,
        };
        let network = Network {
            dialer: dialer.clone(),
            liveness: liveness.clone(),
        };
        let raft = Raft::new(o.id, Arc::new(config), network, log.clone(), sm).await?;
        let shared = Arc::new(Shared {
            id: o.id,
            raft: raft.clone(),
            tls: o.tls.clone(),
            dialer,
            log: log.clone(),
            applied: applied.clone(),
            liveness,
            requests: o.requests,
        });
        let mut tasks = vec![tokio::spawn(server::serve(o.listener, shared.clone()))];

        if !raft.is_initialized().await? {
            if o.join.is_empty() || o.init {
                tracing::info!(node = o.id, "starting a new cluster");
                raft.initialize(BTreeMap::from([(o.id, o.member.clone())]))
                    .await?;
            } else {
                tasks.push(tokio::spawn(membership::join(
                    shared.clone(),
                    o.join.clone(),
                    o.member.clone(),
                )));
            }
        } else {
            // A member starting again says so: the leader records its (maybe new) addresses and
            // makes it active again (a drained or down member restarted is back in service).
            tasks.push(tokio::spawn(membership::rejoin(
                shared.clone(),
                o.join.clone(),
                o.member.clone(),
            )));
        }
        let ownership = ownership_of(o.id, applied, &mut tasks);
        tasks.push(tokio::spawn(export_metrics(shared.clone())));
        tasks.push(tokio::spawn(leader::duties(
            shared.clone(),
            leader::Duties {
                member: o.member,
                voters: o.voters,
                down_after: o.down_after,
                shards: o.shards,
                floor: o.floor,
            },
        )));
        Ok(Cluster {
            shared,
            ownership,
            tasks,
        })
    }

    /// The shards the shard map gives this node, with their epochs: the queue's ownership input.
    pub fn ownership(&self) -> watch::Receiver<BTreeMap<u16, i64>> {
        self.ownership.clone()
    }

    /// The cluster as this node sees it now.
    pub fn status(&self) -> Status {
        let m = self.shared.raft.metrics().borrow().clone();
        let applied = self.shared.applied.borrow().clone();
        let voters: BTreeSet<u64> = applied.membership.voter_ids().collect();
        let matched = m.replication.clone().unwrap_or_default();
        let last = m.last_log_index.unwrap_or(0);
        let members = applied
            .membership
            .nodes()
            .map(|(id, node)| {
                let info = applied.state.members.get(id);
                MemberStatus {
                    id: *id,
                    raft: node.raft.clone(),
                    admin: node.admin.clone(),
                    state: info.map_or("joining", |i| i.state.label()),
                    role: if m.current_leader == Some(*id) {
                        "leader"
                    } else if voters.contains(id) {
                        "voter"
                    } else {
                        "learner"
                    },
                    shards: applied.state.owned_by(*id).len(),
                    lag: if *id == self.shared.id {
                        (m.state == ServerState::Leader).then_some(0)
                    } else {
                        matched
                            .get(id)
                            .map(|l| last.saturating_sub(l.map_or(0, |l| l.index)))
                    },
                }
            })
            .collect();
        Status {
            node_id: self.shared.id,
            leader: m.current_leader,
            term: m.current_term,
            last_log_index: m.last_log_index,
            commit_index: self.shared.log.commit_index(),
            applied_index: m.last_applied.map(|l| l.index),
            shards: applied.state.shard_count,
            unowned_shards: unowned(&applied.state),
            members,
        }
    }

    /// Asks the leader to drain or remove a node.
    pub async fn admin(&self, a: Admin) -> Result<(), String> {
        membership::handle_admin(&self.shared, a).await
    }

    /// Sends `request` to every other member at once and collects each answer (or why there
    /// is none: a member marked down is not asked; one that does not answer within `timeout`
    /// is reported so).
    pub async fn ask_peers(
        &self,
        request: serde_json::Value,
        timeout: Duration,
    ) -> Vec<(u64, Result<serde_json::Value, String>)> {
        let applied = self.shared.applied.borrow().clone();
        let mut asks = tokio::task::JoinSet::new();
        let mut out = Vec::new();
        for (id, member) in applied.membership.nodes() {
            if *id == self.shared.id {
                continue;
            }
            let state = applied.state.members.get(id).map(|i| i.state);
            if state == Some(MemberState::Down) {
                out.push((*id, Err("the member is down".to_string())));
                continue;
            }
            let (id, addr) = (*id, member.raft.clone());
            let (dialer, request) = (self.shared.dialer.clone(), request.clone());
            asks.spawn(async move {
                let answer = match dialer.call(&addr, &Request::Node(request), timeout).await {
                    Ok(Response::Node(r)) => r,
                    Ok(_) => Err("the member answered another request".into()),
                    Err(e) => Err(format!("no answer from {addr}: {e}")),
                };
                (id, answer)
            });
        }
        while let Some(done) = asks.join_next().await {
            if let Ok(answer) = done {
                out.push(answer);
            }
        }
        out.sort_by_key(|(id, _)| *id);
        out
    }

    /// Stops Raft and the cluster port.
    pub async fn shutdown(&self) {
        for t in &self.tasks {
            t.abort();
        }
        if let Err(e) = self.shared.raft.shutdown().await {
            tracing::warn!(error = %e, "raft did not stop cleanly");
        }
    }
}

fn unowned(state: &ClusterState) -> usize {
    (0..state.shard_count)
        .filter(|s| {
            state
                .shards
                .get(s)
                .is_none_or(|o| o.node == NO_NODE || !state.members.contains_key(&o.node))
        })
        .count()
}

/// Follows the shard map and publishes this node's part of it.
fn ownership_of(
    id: u64,
    mut applied: watch::Receiver<Applied>,
    tasks: &mut Vec<JoinHandle<()>>,
) -> watch::Receiver<BTreeMap<u16, i64>> {
    let first = applied.borrow().state.owned_by(id);
    let (tx, rx) = watch::channel(first);
    tasks.push(tokio::spawn(async move {
        loop {
            let mine = applied.borrow_and_update().state.owned_by(id);
            METRICS.owned_shards.set(mine.len() as i64);
            tx.send_if_modified(|m| {
                if *m == mine {
                    return false;
                }
                *m = mine;
                true
            });
            if applied.changed().await.is_err() {
                return;
            }
        }
    }));
    rx
}

/// Keeps the Raft gauges current.
async fn export_metrics(shared: Arc<Shared>) {
    let mut m = shared.raft.metrics();
    let mut applied = shared.applied.clone();
    loop {
        {
            let r = m.borrow_and_update();
            METRICS.term.set(r.current_term as i64);
            METRICS
                .is_leader
                .set(i64::from(r.state == ServerState::Leader));
            METRICS
                .last_log_index
                .set(r.last_log_index.unwrap_or(0) as i64);
            METRICS.commit_index.set(shared.log.commit_index() as i64);
            METRICS
                .applied_index
                .set(r.last_applied.map_or(0, |l| l.index) as i64);
        }
        {
            let a = applied.borrow_and_update();
            for state in [
                MemberState::Active,
                MemberState::Draining,
                MemberState::Down,
            ] {
                let n = a
                    .state
                    .members
                    .values()
                    .filter(|i| i.state == state)
                    .count();
                METRICS
                    .members
                    .with_label_values(&[state.label()])
                    .set(n as i64);
            }
        }
        tokio::select! {
            r = m.changed() => if r.is_err() { return },
            r = applied.changed() => if r.is_err() { return },
        }
    }
}
