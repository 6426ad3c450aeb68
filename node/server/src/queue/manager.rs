//! The queue manager of this node: on every tick it scans the shards this node owns for due
//! entries and hands each one (once: it tracks what is in flight) to the actor of its
//! destination domain, starting that actor when needed and stopping it when it runs dry.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tern_store::model::{
    now,
    queue::{destination, ops},
};

use super::{
    QueueContext,
    domain::{DomainActor, DomainMsg},
    metrics::METRICS,
};

/// Due entries taken per scan.
const SCAN_BATCH: usize = 2000;

/// Messages to the manager.
pub enum ManagerMsg {
    /// Look for due entries.
    Scan,
    /// A worker is done with this entry (delivered, deferred or skipped).
    Finished(String),
    /// A destination actor has nothing left.
    Idle(String),
}

/// The actor kind.
pub struct ManagerActor;

/// The manager's state.
pub struct ManagerState {
    ctx: Arc<QueueContext>,
    domains: HashMap<String, ActorRef<DomainMsg>>,
    in_flight: HashMap<String, String>,
}

impl ManagerState {
    async fn scan(&mut self, myself: &ActorRef<ManagerMsg>) -> anyhow::Result<()> {
        let shards: Vec<u16> = self
            .ctx
            .epochs
            .iter()
            .enumerate()
            .filter(|(_, e)| e.is_some())
            .map(|(s, _)| s as u16)
            .collect();
        let skip: HashSet<String> = self.in_flight.keys().cloned().collect();
        let (shards, skip) = (&shards, &skip);
        let at = now();
        let (entries, due, suspended) = self
            .ctx
            .dir
            .db()
            .transact(|tx| async move {
                let mut due = 0usize;
                let mut entries = Vec::new();
                for shard in shards {
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
                let suspended = destination::all(&tx)
                    .await?
                    .iter()
                    .filter(|d| d.is_suspended(at))
                    .count();
                Ok::<_, tern_store::StoreError>((entries, due, suspended))
            })
            .await?;
        METRICS.due.set(due as i64);
        METRICS.suspended.set(suspended as i64);
        for (id, domain) in entries {
            let actor = match self.domains.get(&domain) {
                Some(a) => a.clone(),
                None => {
                    let (a, _) = Actor::spawn(
                        None,
                        DomainActor,
                        (self.ctx.clone(), domain.clone(), myself.clone()),
                    )
                    .await?;
                    self.domains.insert(domain.clone(), a.clone());
                    a
                }
            };
            actor.cast(DomainMsg::Deliver(id.clone()))?;
            self.in_flight.insert(id, domain);
        }
        METRICS.in_flight.set(self.in_flight.len() as i64);
        Ok(())
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
                if !state.in_flight.values().any(|d| *d == domain)
                    && let Some(actor) = state.domains.remove(&domain)
                {
                    actor.stop(None);
                }
            }
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        for (_, actor) in state.domains.drain() {
            actor.stop(None);
        }
        Ok(())
    }
}

/// Starts the manager and its scan ticker; the returned task ends after shutdown.
pub async fn spawn(ctx: Arc<QueueContext>) -> anyhow::Result<tokio::task::JoinHandle<()>> {
    let (manager, handle) = Actor::spawn(None, ManagerActor, ctx.clone()).await?;
    let interval = ctx.config.scan_interval;
    let stop = ctx.shutdown.wait();
    Ok(tokio::spawn(async move {
        tokio::pin!(stop);
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut stop => break,
                _ = tick.tick() => {
                    if manager.cast(ManagerMsg::Scan).is_err() {
                        break;
                    }
                }
            }
        }
        manager.stop(None);
        let _ = handle.await;
    }))
}
