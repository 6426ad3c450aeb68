//! One node's part in the cluster: it opens the Raft log and state machine in its data
//! directory, serves the cluster port, starts a new cluster or joins one through any member,
//! and — while it leads — runs the leader's duties: recording members, marking one that stopped
//! answering Raft's heartbeats for `down_after` as down (and back up when it answers again),
//! promoting learners to voters up to the configured number, and moving shards so every active
//! member holds its share. Every node turns the shard map into its queue's ownership input.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
    time::{Duration, Instant},
};

use openraft::{ChangeMembers, Config, ServerState, SnapshotPolicy};
use serde::Serialize;
use tokio::{net::TcpListener, sync::watch, task::JoinHandle};

use crate::{
    log_store::LogStore,
    metrics::{self, METRICS},
    network::{self, Liveness, Network},
    rpc::{Request, Response},
    server,
    state::{ClusterState, MemberState, NO_NODE},
    state_machine::{Applied, StateMachine},
    tls::ClusterTls,
    types::{Command, Member, Raft},
};

/// How often the leader looks at members and shards.
const DUTY_INTERVAL: Duration = Duration::from_millis(250);
/// How long a cluster request to a peer may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

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
    /// Raft timing.
    pub timing: Timing,
}

/// What the server and the duties share.
pub(crate) struct Shared {
    pub(crate) id: u64,
    pub(crate) raft: Raft,
    pub(crate) tls: ClusterTls,
    applied: watch::Receiver<Applied>,
    liveness: Liveness,
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
        let network = Network {
            tls: o.tls.clone(),
            liveness: liveness.clone(),
        };
        let raft = Raft::new(o.id, Arc::new(config), network, log, sm).await?;
        let shared = Arc::new(Shared {
            id: o.id,
            raft: raft.clone(),
            tls: o.tls.clone(),
            applied: applied.clone(),
            liveness,
        });
        let mut tasks = vec![tokio::spawn(server::serve(o.listener, shared.clone()))];

        if !raft.is_initialized().await? {
            if o.join.is_empty() {
                tracing::info!(node = o.id, "starting a new cluster");
                raft.initialize(BTreeMap::from([(o.id, o.member.clone())]))
                    .await?;
            } else {
                tasks.push(tokio::spawn(join(
                    shared.clone(),
                    o.join.clone(),
                    o.member.clone(),
                )));
            }
        } else {
            // A member back at other addresses (a restart on another port or IP) tells the
            // cluster, through any member it knows, so the leader reaches it again.
            let membership = applied.borrow().membership.clone();
            let known = membership
                .nodes()
                .find(|(id, _)| **id == o.id)
                .map(|(_, m)| m.clone());
            if known.as_ref() != Some(&o.member) {
                let mut through = o.join.clone();
                through.extend(
                    membership
                        .nodes()
                        .filter(|(id, _)| **id != o.id)
                        .map(|(_, m)| m.raft.clone()),
                );
                tasks.push(tokio::spawn(join(
                    shared.clone(),
                    through,
                    o.member.clone(),
                )));
            }
        }
        let ownership = ownership_of(o.id, applied, &mut tasks);
        tasks.push(tokio::spawn(export_metrics(shared.clone())));
        tasks.push(tokio::spawn(duties(
            shared.clone(),
            o.member,
            o.voters,
            o.down_after,
            o.shards,
            o.floor,
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
            applied_index: m.last_applied.map(|l| l.index),
            shards: applied.state.shard_count,
            unowned_shards: unowned(&applied.state),
            members,
        }
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

/// Asks the members in `through` to let this node join, until one says yes.
async fn join(shared: Arc<Shared>, through: Vec<String>, member: Member) {
    let request = Request::Join {
        id: shared.id,
        member,
    };
    loop {
        for addr in &through {
            match network::call(&shared.tls, addr, &request, REQUEST_TIMEOUT).await {
                Ok(Response::Join(Ok(()))) => {
                    tracing::info!(node = shared.id, through = %addr, "joined the cluster");
                    return;
                }
                Ok(Response::Join(Err(why))) => {
                    tracing::error!(node = shared.id, through = %addr, reason = %why, "the cluster refused this node");
                }
                Ok(_) => tracing::warn!(through = %addr, "unexpected answer to a join request"),
                Err(e) => {
                    tracing::warn!(node = shared.id, through = %addr, error = %e, "cannot reach a member to join through")
                }
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Handles a join request: on the leader, checks the id and adds the node as a learner (the
/// duties promote it); elsewhere, forwards it to the leader.
pub(crate) async fn handle_join(shared: &Shared, id: u64, member: Member) -> Result<(), String> {
    let leader = shared.raft.current_leader().await;
    if leader != Some(shared.id) {
        let Some(leader) = leader else {
            return Err("no leader now; try again".into());
        };
        let addr = shared
            .applied
            .borrow()
            .membership
            .nodes()
            .find(|(n, _)| **n == leader)
            .map(|(_, m)| m.raft.clone())
            .ok_or("the leader's address is unknown here")?;
        return match network::call(
            &shared.tls,
            &addr,
            &Request::Join { id, member },
            REQUEST_TIMEOUT,
        )
        .await
        {
            Ok(Response::Join(r)) => r,
            Ok(_) => Err("unexpected answer from the leader".into()),
            Err(e) => Err(format!("cannot reach the leader at {addr}: {e}")),
        };
    }
    let known = shared
        .applied
        .borrow()
        .membership
        .nodes()
        .find(|(n, _)| **n == id)
        .map(|(_, m)| m.clone());
    if let Some(known) = &known
        && known.raft != member.raft
    {
        let state = shared
            .applied
            .borrow()
            .state
            .members
            .get(&id)
            .map(|m| m.state);
        if state != Some(MemberState::Down) {
            tracing::error!(node = id, address = %member.raft, in_use_by = %known.raft, "join refused: node id already in use");
            return Err(format!(
                "node id {id} is already in use by the member at {}",
                known.raft
            ));
        }
    }
    match known {
        // Known at other addresses: the addresses change.
        Some(known) if known != member => {
            shared
                .raft
                .change_membership(
                    ChangeMembers::SetNodes(BTreeMap::from([(id, member.clone())])),
                    true,
                )
                .await
                .map_err(|e| format!("updating node {id}'s addresses: {e}"))?;
        }
        Some(_) => {}
        None => {
            shared
                .raft
                .add_learner(id, member.clone(), true)
                .await
                .map_err(|e| format!("adding node {id}: {e}"))?;
        }
    }
    tracing::info!(node = id, raft = %member.raft, "node joins");
    shared
        .raft
        .client_write(Command::Up { id, member })
        .await
        .map_err(|e| format!("recording node {id}: {e}"))?;
    tracing::info!(node = id, "node joined");
    Ok(())
}

/// The leader's duties, every [`DUTY_INTERVAL`].
async fn duties(
    shared: Arc<Shared>,
    member: Member,
    voters: usize,
    down_after: Duration,
    shards: u16,
    floor: BTreeMap<u16, i64>,
) {
    let mut leader_since: Option<Instant> = None;
    let mut marked_down: BTreeMap<u64, Instant> = BTreeMap::new();
    let mut tick = tokio::time::interval(DUTY_INTERVAL);
    loop {
        tick.tick().await;
        let is_leader = shared.raft.metrics().borrow().state == ServerState::Leader;
        if !is_leader {
            leader_since = None;
            marked_down.clear();
            continue;
        }
        let since = *leader_since.get_or_insert_with(Instant::now);
        if let Err(e) = lead(
            &shared,
            &member,
            voters,
            down_after,
            shards,
            &floor,
            since,
            &mut marked_down,
        )
        .await
        {
            tracing::warn!(error = %e, "cluster leader duties");
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn lead(
    shared: &Shared,
    member: &Member,
    voters: usize,
    down_after: Duration,
    shards: u16,
    floor: &BTreeMap<u16, i64>,
    since: Instant,
    marked_down: &mut BTreeMap<u64, Instant>,
) -> anyhow::Result<()> {
    let write = |c: Command| async move { shared.raft.client_write(c).await.map(|r| r.data) };
    let applied = shared.applied.borrow().clone();
    let state = &applied.state;
    if state.shard_count == 0 {
        write(Command::Shards {
            count: shards,
            floor: floor.clone(),
        })
        .await?;
    }
    if state
        .members
        .get(&shared.id)
        .is_none_or(|m| m.member != *member || m.state == MemberState::Down)
    {
        write(Command::Up {
            id: shared.id,
            member: member.clone(),
        })
        .await?;
    }
    // Members that stopped answering Raft's heartbeats are down; down ones that answer again
    // are back.
    let now = Instant::now();
    for (id, info) in &state.members {
        if *id == shared.id {
            continue;
        }
        let last = shared.liveness.last(*id).map_or(since, |l| l.max(since));
        match info.state {
            MemberState::Active | MemberState::Draining
                if now.duration_since(last) > down_after =>
            {
                tracing::warn!(
                    node = id,
                    silent_ms = now.duration_since(last).as_millis() as u64,
                    "member stopped answering: marked down"
                );
                write(Command::State {
                    id: *id,
                    state: MemberState::Down,
                })
                .await?;
                marked_down.insert(*id, now);
            }
            MemberState::Down => {
                let down_at = *marked_down.entry(*id).or_insert(since);
                if shared.liveness.last(*id).is_some_and(|l| l > down_at) {
                    tracing::info!(node = id, "member answers again: active");
                    write(Command::State {
                        id: *id,
                        state: MemberState::Active,
                    })
                    .await?;
                    marked_down.remove(id);
                }
            }
            _ => {}
        }
    }
    // Learners become voters while fewer than wanted.
    let current: BTreeSet<u64> = applied.membership.voter_ids().collect();
    let promote: BTreeSet<u64> = applied
        .membership
        .nodes()
        .map(|(id, _)| *id)
        .filter(|id| !current.contains(id))
        .filter(|id| {
            state
                .members
                .get(id)
                .is_some_and(|m| m.state == MemberState::Active)
        })
        .take(voters.saturating_sub(current.len()))
        .collect();
    if !promote.is_empty() {
        tracing::info!(nodes = ?promote, "promoting learners to voters");
        shared
            .raft
            .change_membership(ChangeMembers::AddVoterIds(promote), true)
            .await?;
    }
    // Shards follow the active members.
    let state = shared.applied.borrow().state.clone();
    let moves = state.balance();
    if !moves.is_empty() {
        for (shard, to) in &moves {
            let from = state.shards.get(shard).map(|o| o.node);
            let reason = match from.and_then(|f| state.members.get(&f)).map(|m| m.state) {
                Some(MemberState::Down) => "down",
                Some(MemberState::Draining) => "drain",
                Some(MemberState::Active) => "rebalance",
                None => "join",
            };
            METRICS.shard_moves.with_label_values(&[reason]).inc();
            tracing::info!(shard, from = ?from.filter(|f| *f != NO_NODE), to, reason, "shard moves");
        }
        write(Command::Assign(moves)).await?;
    }
    Ok(())
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
