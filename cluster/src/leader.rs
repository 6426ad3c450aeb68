//! The leader's duties, four times a second while this node leads: record the cluster's
//! shard count (with the store's epochs as the floor) and this member; mark a member that has
//! not answered Raft's heartbeats for `down_after` down, and a down one that answers again
//! active; promote learners to voters up to the number wanted; and move shards so every active
//! member holds its share, each move logged with shard, old and new owner, epoch and reason.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
    time::{Duration, Instant},
};

use openraft::{ChangeMembers, ServerState};

use crate::{
    metrics::METRICS,
    node::Shared,
    state::{MemberState, NO_NODE},
    types::{Command, Member},
};

/// How often the leader looks at members and shards.
const DUTY_INTERVAL: Duration = Duration::from_millis(250);

/// What the duties need to know.
pub(crate) struct Duties {
    /// This node's addresses.
    pub(crate) member: Member,
    /// Voters wanted.
    pub(crate) voters: usize,
    /// Silence before a member is down.
    pub(crate) down_after: Duration,
    /// The queue's shard count.
    pub(crate) shards: u16,
    /// The store's owner epochs.
    pub(crate) floor: BTreeMap<u16, i64>,
}

/// The leader's duties, every [`DUTY_INTERVAL`].
pub(crate) async fn duties(shared: Arc<Shared>, d: Duties) {
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
        if let Err(e) = lead(&shared, &d, since, &mut marked_down).await {
            tracing::warn!(error = %e, "cluster leader duties");
        }
    }
}

/// One round of the duties; `since` is when this node became leader (a member is not judged
/// silent for longer than this node has led), `marked_down` when each member was marked down.
async fn lead(
    shared: &Shared,
    d: &Duties,
    since: Instant,
    marked_down: &mut BTreeMap<u64, Instant>,
) -> anyhow::Result<()> {
    let (member, voters, down_after) = (&d.member, d.voters, d.down_after);
    let write = |c: Command| async move { shared.raft.client_write(c).await.map(|r| r.data) };
    let applied = shared.applied.borrow().clone();
    let state = &applied.state;
    if state.shard_count == 0 {
        write(Command::Shards {
            count: d.shards,
            floor: d.floor.clone(),
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
    // Leadership may have moved during this round's writes: a membership change sent now would
    // only be refused (and logged as an error by openraft) for the new leader to redo.
    let still_leader = shared.raft.metrics().borrow().state == ServerState::Leader;
    if !promote.is_empty() && still_leader {
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
            let from = state
                .shards
                .get(shard)
                .map(|o| o.node)
                .filter(|f| *f != NO_NODE);
            let reason = match from.map(|f| state.members.get(&f).map(|m| m.state)) {
                None => "assign",
                Some(None) => "leave",
                Some(Some(MemberState::Down)) => "down",
                Some(Some(MemberState::Draining)) => "drain",
                Some(Some(MemberState::Active)) => "rebalance",
            };
            let epoch = state.shards.get(shard).map_or(0, |o| o.epoch) + 1;
            METRICS.shard_moves.with_label_values(&[reason]).inc();
            tracing::info!(shard, from = ?from, to, epoch, reason, "shard moves");
        }
        write(Command::Assign(moves)).await?;
    }
    Ok(())
}
