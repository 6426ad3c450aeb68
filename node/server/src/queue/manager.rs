//! The queue manager of this node. On every tick — and at once when the ownership input
//! changes — it first brings the shards it holds in line with the input (claiming gained
//! shards in the store, giving up lost or superseded ones and stopping their destination
//! actors), then scans the held shards for due entries and hands each one (once: it tracks
//! what is in flight) to the actor of its destination domain. Destination actors are linked to
//! the manager: one that dies is replaced at once and its queued ids are taken back, so it
//! never stalls the other domains.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    sync::{Arc, Mutex},
};

use ractor::{Actor, ActorId, ActorProcessingErr, ActorRef, SupervisionEvent};
use tern_store::model::{
    now,
    queue::{
        destination, ops,
        shard::{self, Claim},
        shard_of,
    },
};

use super::{
    QueueContext,
    domain::{DomainActor, DomainMsg},
    metrics::METRICS,
    ownership::{self, Shards},
};

/// Due entries taken per scan.
const SCAN_BATCH: usize = 2000;

/// Messages to the manager.
pub enum ManagerMsg {
    /// Reconcile ownership and look for due entries.
    Scan,
    /// A worker is done with this entry (delivered, deferred or skipped).
    Finished(String),
    /// A destination actor has nothing left.
    Idle(String),
}

/// The actor kind.
pub struct ManagerActor;

/// A running destination actor and the list its workers take ids from.
struct Domain {
    actor: ActorRef<DomainMsg>,
    list: Arc<Mutex<VecDeque<String>>>,
    shard: u16,
}

/// The manager's state.
pub struct ManagerState {
    ctx: Arc<QueueContext>,
    domains: HashMap<String, Domain>,
    in_flight: HashMap<String, String>,
    /// Epochs the store had already superseded when this node tried to claim them.
    refused: Shards,
    /// Destination actors started so far (their registry names end in it).
    spawned: u64,
}

impl ManagerState {
    /// Takes the ids a destination actor had not started yet back out of flight.
    fn take_back(&mut self, domain: &Domain) {
        let ids: Vec<String> = domain
            .list
            .lock()
            .map(|mut l| l.drain(..).collect())
            .unwrap_or_default();
        for id in ids {
            self.in_flight.remove(&id);
        }
    }

    /// Stops a destination actor (its workers finish the entry they hold).
    fn stop_domain(&mut self, name: &str) {
        if let Some(d) = self.domains.remove(name) {
            self.take_back(&d);
            d.actor.stop(None);
        }
    }

    fn release(&mut self, s: u16, why: &str, owner: Option<shard::Owner>) {
        let epoch = self.ctx.held.epoch(s);
        self.ctx.held.remove(s);
        let names: Vec<String> = self
            .domains
            .iter()
            .filter(|(_, d)| d.shard == s)
            .map(|(n, _)| n.clone())
            .collect();
        for n in names {
            self.stop_domain(&n);
        }
        METRICS.shard_moves.with_label_values(&["lost"]).inc();
        tracing::info!(
            shard = s,
            node = self.ctx.node_id,
            epoch,
            new_owner = owner.map(|o| o.node),
            new_epoch = owner.map(|o| o.epoch),
            reason = why,
            "queue shard given up"
        );
    }

    /// Brings the held shards in line with the ownership input.
    async fn reconcile(&mut self) -> anyhow::Result<()> {
        let input = self.ctx.given.borrow().clone();
        let (gain, lose) = ownership::diff(&input, &self.ctx.held.all(), &self.refused);
        for s in lose {
            self.release(s, "no longer given to this node", None);
        }
        self.refused.retain(|s, e| input.get(s) == Some(e));
        for (s, epoch) in gain {
            let node = self.ctx.node_id;
            match ownership::claim(self.ctx.dir.db(), s, node, epoch).await? {
                Claim::Claimed => {
                    self.ctx.held.insert(s, epoch);
                    METRICS.shard_moves.with_label_values(&["gained"]).inc();
                    tracing::info!(shard = s, node, epoch, "queue shard taken");
                }
                Claim::Superseded(owner) => {
                    self.refused.insert(s, epoch);
                    METRICS.fenced.with_label_values(&["claim"]).inc();
                    tracing::warn!(
                        shard = s,
                        node,
                        epoch,
                        owner_node = owner.node,
                        owner_epoch = owner.epoch,
                        "queue shard not taken: the store names a newer owner"
                    );
                }
            }
        }
        METRICS.owned_shards.set(self.ctx.held.all().len() as i64);
        Ok(())
    }

    async fn scan(&mut self, myself: &ActorRef<ManagerMsg>) -> anyhow::Result<()> {
        self.reconcile().await?;
        let held = self.ctx.held.all();
        let skip: HashSet<String> = self.in_flight.keys().cloned().collect();
        let (held_ref, skip) = (&held, &skip);
        let at = now();
        let (entries, due, suspended, owners) = self
            .ctx
            .dir
            .db()
            .transact(|tx| async move {
                let owners = shard::owners(&tx).await?;
                let mut due = 0usize;
                let mut entries = Vec::new();
                for shard in held_ref.keys() {
                    if entries.len() >= SCAN_BATCH {
                        break;
                    }
                    for (_, id) in ops::due(&tx, *shard, at, SCAN_BATCH).await? {
                        due += 1;
                        if skip.contains(&id) || entries.len() >= SCAN_BATCH {
                            continue;
                        }
                        if let Some(e) = ops::get(&tx, &id).await? {
                            entries.push((e.id, e.domain));
                        }
                    }
                }
                let suspended: Vec<i64> = destination::all(&tx)
                    .await?
                    .iter()
                    .filter(|d| d.is_suspended(at))
                    .map(|d| d.failing_for(at))
                    .collect();
                Ok::<_, tern_store::StoreError>((entries, due, suspended, owners))
            })
            .await?;
        // Another node claimed a shard after this one: give it up before handing anything out.
        let mut lost = HashSet::new();
        for (s, owner) in owners {
            if let Some(epoch) = held.get(&s)
                && owner.epoch != *epoch
            {
                self.refused.insert(s, *epoch);
                self.release(s, "the store names a newer owner", Some(owner));
                lost.insert(s);
            }
        }
        METRICS.owned_shards.set(self.ctx.held.all().len() as i64);
        METRICS.due.set(due as i64);
        METRICS.suspended.set(suspended.len() as i64);
        METRICS
            .suspended_longest
            .set(suspended.into_iter().max().unwrap_or(0));
        let shards = self.ctx.config.shards;
        for (id, domain) in entries {
            let s = shard_of(&domain, shards);
            if lost.contains(&s) {
                continue;
            }
            if let Err(e) = self.dispatch(myself, &id, &domain, s).await {
                tracing::error!(queue_id = %id, domain, error = %e, "cannot hand the entry to its destination actor; it stays queued");
            }
        }
        METRICS.in_flight.set(self.in_flight.len() as i64);
        Ok(())
    }

    /// Hands `id` to its destination's actor, starting (or replacing a dead) one as needed.
    async fn dispatch(
        &mut self,
        myself: &ActorRef<ManagerMsg>,
        id: &str,
        domain: &str,
        shard: u16,
    ) -> anyhow::Result<()> {
        for _ in 0..2 {
            if !self.domains.contains_key(domain) {
                let list = Arc::new(Mutex::new(VecDeque::new()));
                self.spawned += 1;
                let name = format!("{}{}", self.ctx.destination_actors(domain), self.spawned);
                let (actor, _) = Actor::spawn_linked(
                    Some(name),
                    DomainActor,
                    (
                        self.ctx.clone(),
                        domain.to_string(),
                        myself.clone(),
                        list.clone(),
                    ),
                    myself.get_cell(),
                )
                .await?;
                self.domains
                    .insert(domain.to_string(), Domain { actor, list, shard });
            }
            let d = &self.domains[domain];
            if d.actor.cast(DomainMsg::Deliver(id.to_string())).is_ok() {
                self.in_flight.insert(id.to_string(), domain.to_string());
                return Ok(());
            }
            // Dead before its supervision event arrived: replace it now.
            self.stop_domain(domain);
        }
        anyhow::bail!("the destination actor died twice in a row")
    }

    /// The domain whose actor has this id.
    fn domain_of(&self, actor: ActorId) -> Option<String> {
        self.domains
            .iter()
            .find(|(_, d)| d.actor.get_id() == actor)
            .map(|(n, _)| n.clone())
    }
}

impl Actor for ManagerActor {
    type Msg = ManagerMsg;
    type State = ManagerState;
    type Arguments = Arc<QueueContext>;

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        ctx: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(ManagerState {
            ctx,
            domains: HashMap::new(),
            in_flight: HashMap::new(),
            refused: Shards::new(),
            spawned: 0,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            ManagerMsg::Scan => {
                let started = std::time::Instant::now();
                match state.scan(&myself).await {
                    Ok(()) => {}
                    // The store said so already, once; the next scan tries again.
                    Err(e)
                        if e.chain().any(|c| {
                            c.downcast_ref::<tern_store::StoreError>()
                                .is_some_and(tern_store::StoreError::refuses_writes)
                        }) =>
                    {
                        tracing::warn!(error = %e, "queue scan skipped: the store takes no writes now");
                    }
                    Err(e) => tracing::error!(error = %e, "queue scan failed"),
                }
                METRICS
                    .scan_seconds
                    .observe(started.elapsed().as_secs_f64());
            }
            ManagerMsg::Finished(id) => {
                state.in_flight.remove(&id);
                METRICS.in_flight.set(state.in_flight.len() as i64);
            }
            ManagerMsg::Idle(domain) => {
                if !state.in_flight.values().any(|d| *d == domain) {
                    state.stop_domain(&domain);
                }
            }
        }
        Ok(())
    }

    async fn handle_supervisor_evt(
        &self,
        myself: ActorRef<Self::Msg>,
        event: SupervisionEvent,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        // Actors the manager stopped itself were removed from `domains` first; anything still
        // listed here died on its own.
        let (cell, why) = match &event {
            SupervisionEvent::ActorFailed(cell, e) => (cell, e.to_string()),
            SupervisionEvent::ActorTerminated(cell, _, reason) => {
                (cell, reason.clone().unwrap_or_default())
            }
            _ => return Ok(()),
        };
        if let Some(domain) = state.domain_of(cell.get_id()) {
            METRICS.actor_failures.inc();
            tracing::error!(domain, error = %why, "destination actor died; replacing it");
            state.stop_domain(&domain);
            // The ids it had not started are due again: hand them to a new actor now.
            let _ = myself.cast(ManagerMsg::Scan);
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        for (_, d) in state.domains.drain() {
            d.actor.stop(None);
        }
        Ok(())
    }
}

/// Starts the manager and its scan ticker (which also wakes it when the ownership input
/// changes); the returned task ends after shutdown.
pub async fn spawn(ctx: Arc<QueueContext>) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let (manager, handle) = Actor::spawn(None, ManagerActor, ctx.clone()).await?;
    let interval = ctx.config.scan_interval;
    let stop = ctx.shutdown.wait();
    let mut given = ctx.given.clone();
    Ok(tokio::spawn(async move {
        tokio::pin!(stop);
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut input_open = true;
        loop {
            tokio::select! {
                _ = &mut stop => break,
                _ = tick.tick() => {}
                changed = given.changed(), if input_open => {
                    // A closed input keeps its last value: the ticks go on.
                    input_open = changed.is_ok();
                    if !input_open {
                        continue;
                    }
                }
            }
            if manager.cast(ManagerMsg::Scan).is_err() {
                break;
            }
        }
        manager.stop(None);
        let _ = handle.await;
    }))
}
