//! Joining and leaving: a new node asks a member to let it in (any member forwards to the
//! leader, which checks the id is not taken by a live member and adds the node as a learner);
//! a member starting again announces itself (new addresses, back in service); operators drain
//! or remove a member. Each request that needs the leader is forwarded to it.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::Arc,
    time::Duration,
};

use openraft::ChangeMembers;

use crate::{
    node::Shared,
    rpc::{Admin, Request, Response},
    state::MemberState,
    types::{Command, Member},
};

/// What the refusal of a node id held by a live member says.
const ID_IN_USE: &str = "is already in use";

/// How long a cluster request to a peer may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// Tells the leader this member is up, until it has heard: through the other members it knows
/// (and `join`), since after a restart on other addresses neither the leader can reach it nor
/// may its own idea of the leader be current. When it leads itself (alone, or a leader
/// restarted quickly enough to resume its term, whose old address the others would forward to)
/// it handles the announcement itself.
pub(crate) async fn rejoin(shared: Arc<Shared>, mut through: Vec<String>, member: Member) {
    through.extend(
        shared
            .applied
            .borrow()
            .membership
            .nodes()
            .filter(|(id, _)| **id != shared.id)
            .map(|(_, m)| m.raft.clone()),
    );
    loop {
        if through.is_empty() || shared.raft.current_leader().await == Some(shared.id) {
            // Bounded: a leader that resumed its term and then lost it to a newer one waits for
            // its uncommitted address change until the new leader overwrites it, which needs
            // the new address: the others must be asked instead.
            match tokio::time::timeout(
                REQUEST_TIMEOUT,
                handle_join(&shared, shared.id, member.clone(), true),
            )
            .await
            {
                Ok(Ok(())) => return,
                Ok(Err(why)) => {
                    tracing::debug!(node = shared.id, reason = %why, "announcing this member again")
                }
                Err(_) => {
                    tracing::warn!(
                        node = shared.id,
                        "announcing this member by itself did not commit (leadership lost?); asking the other members"
                    )
                }
            }
        } else if ask(&shared, &through, &member, true).await {
            return;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Asks the members in `through` to let this node join, until one says yes.
pub(crate) async fn join(shared: Arc<Shared>, through: Vec<String>, member: Member) {
    while !ask(&shared, &through, &member, false).await {
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Sends the join (or rejoin) request to the members in `through` in turn; whether one
/// accepted it.
async fn ask(shared: &Shared, through: &[String], member: &Member, rejoin: bool) -> bool {
    let request = Request::Join {
        id: shared.id,
        member: member.clone(),
        rejoin,
    };
    for addr in through {
        match shared.dialer.call(addr, &request, REQUEST_TIMEOUT).await {
            Ok(Response::Join(Ok(()))) => {
                tracing::info!(node = shared.id, through = %addr, "joined the cluster");
                return true;
            }
            // A taken id is a refusal; anything else (no leader yet, another membership change
            // under way) passes, and the next try gets through.
            Ok(Response::Join(Err(why))) if why.contains(ID_IN_USE) => {
                tracing::error!(node = shared.id, through = %addr, reason = %why, "the cluster refused this node");
            }
            Ok(Response::Join(Err(why))) => {
                tracing::warn!(node = shared.id, through = %addr, reason = %why, "join not accepted yet; trying again");
            }
            Ok(_) => tracing::warn!(through = %addr, "unexpected answer to a join request"),
            Err(e) => {
                tracing::warn!(node = shared.id, through = %addr, error = %e, "cannot reach a member to join through")
            }
        }
    }
    false
}

/// Sends `request` to the leader unless this node leads (`None`: handle it here).
async fn forward(shared: &Shared, request: &Request) -> Option<Result<Response, String>> {
    let leader = shared.raft.current_leader().await;
    if leader == Some(shared.id) {
        return None;
    }
    let Some(leader) = leader else {
        return Some(Err("no leader now; try again".into()));
    };
    let addr = shared
        .applied
        .borrow()
        .membership
        .nodes()
        .find(|(n, _)| **n == leader)
        .map(|(_, m)| m.raft.clone());
    let Some(addr) = addr else {
        return Some(Err("the leader's address is unknown here".into()));
    };
    Some(
        shared
            .dialer
            .call(&addr, request, REQUEST_TIMEOUT)
            .await
            .map_err(|e| format!("cannot reach the leader at {addr}: {e}")),
    )
}

/// Handles an operator's change on the leader (forwarded there from any member): drain
/// marks the node draining so the duties move its shards away; leave removes it from Raft and
/// from the members. Neither may leave the cluster without an active member.
pub(crate) async fn handle_admin(shared: &Shared, a: Admin) -> Result<(), String> {
    if let Some(answer) = forward(shared, &Request::Admin(a)).await {
        return match answer? {
            Response::Admin(r) => r,
            _ => Err("unexpected answer from the leader".into()),
        };
    }
    let (Admin::Drain(id) | Admin::Leave(id)) = a;
    let state = shared.applied.borrow().state.clone();
    if !state.members.contains_key(&id) {
        return Err(format!("node {id} is not a member"));
    }
    if state.active().iter().all(|m| *m == id) {
        return Err(format!(
            "node {id} is the last active member: its shards would have nowhere to go"
        ));
    }
    let write = |c: Command| async move {
        shared
            .raft
            .client_write(c)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    match a {
        Admin::Drain(_) => {
            tracing::info!(node = id, "operator: drain");
            write(Command::State {
                id,
                state: MemberState::Draining,
            })
            .await
        }
        Admin::Leave(_) => {
            tracing::info!(node = id, "operator: leave");
            let set = BTreeSet::from([id]);
            shared
                .raft
                .change_membership(ChangeMembers::RemoveVoters(set.clone()), true)
                .await
                .map_err(|e| e.to_string())?;
            shared
                .raft
                .change_membership(ChangeMembers::RemoveNodes(set), false)
                .await
                .map_err(|e| e.to_string())?;
            write(Command::Remove { id }).await
        }
    }
}

/// Handles a join request: on the leader, checks the id (a new node may not take the id of a
/// live member at other addresses; a member starting again with its Raft log may move) and adds
/// the node as a learner (the duties promote it); elsewhere, forwards it to the leader.
pub(crate) async fn handle_join(
    shared: &Shared,
    id: u64,
    member: Member,
    rejoin: bool,
) -> Result<(), String> {
    if let Some(answer) = forward(
        shared,
        &Request::Join {
            id,
            member: member.clone(),
            rejoin,
        },
    )
    .await
    {
        return match answer? {
            Response::Join(r) => r,
            _ => Err("unexpected answer from the leader".into()),
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
        && !rejoin
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
                "node id {id} {ID_IN_USE} by the member at {}",
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
