//! The actor of one destination domain with queued mail on this node. It keeps the list of
//! entries to deliver (shared with the manager, which takes the ids back if the actor dies or
//! the shard moves) and runs up to `max_connections_per_destination` workers on it (each
//! holding one SMTP connection); when the list is empty and its workers are gone it tells the
//! manager, which stops it.

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
};

use ractor::{Actor, ActorProcessingErr, ActorRef};

use super::{QueueContext, manager::ManagerMsg, worker};

/// Messages to a destination actor.
pub enum DomainMsg {
    /// Deliver this queue entry.
    Deliver(String),
    /// A worker ended.
    WorkerDone,
}

/// The actor kind.
pub struct DomainActor;

/// A destination actor's state.
pub struct DomainState {
    ctx: Arc<QueueContext>,
    domain: String,
    manager: ActorRef<ManagerMsg>,
    list: Arc<Mutex<VecDeque<String>>>,
    workers: usize,
}

impl DomainState {
    fn queued(&self) -> usize {
        self.list.lock().map(|l| l.len()).unwrap_or(0)
    }

    fn spawn_workers(&mut self, myself: &ActorRef<DomainMsg>) {
        let limit = self.ctx.config.max_connections_per_destination;
        while self.workers < limit && self.workers < self.queued() {
            self.workers += 1;
            let (ctx, domain, list, manager, me) = (
                self.ctx.clone(),
                self.domain.clone(),
                self.list.clone(),
                self.manager.clone(),
                myself.clone(),
            );
            tokio::spawn(async move {
                worker::run(ctx, domain, list, manager).await;
                let _ = me.cast(DomainMsg::WorkerDone);
            });
        }
    }
}

impl Actor for DomainActor {
    type Msg = DomainMsg;
    type State = DomainState;
    type Arguments = (
        Arc<QueueContext>,
        String,
        ActorRef<ManagerMsg>,
        Arc<Mutex<VecDeque<String>>>,
    );

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        (ctx, domain, manager, list): Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(DomainState {
            ctx,
            domain,
            manager,
            list,
            workers: 0,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            DomainMsg::Deliver(id) => {
                if let Ok(mut l) = state.list.lock() {
                    l.push_back(id);
                }
            }
            DomainMsg::WorkerDone => state.workers = state.workers.saturating_sub(1),
        }
        state.spawn_workers(&myself);
        if state.workers == 0 && state.queued() == 0 {
            let _ = state.manager.cast(ManagerMsg::Idle(state.domain.clone()));
        }
        Ok(())
    }
}
