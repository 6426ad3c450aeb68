//! The mailbox actor: one per open mailbox on this node (ractor). It hands its sessions one
//! write permit, so this node's changes to the mailbox are made one at a time (no optimistic
//! conflicts between local sessions), and it watches the mailbox's change counter in the store — so changes committed by SMTP delivery, by other sessions and
//! by other nodes are all seen the same way — and publishes each new value to the node's
//! sessions that have the mailbox selected; sessions then read what changed since their own
//! view and speak to their client (so each keeps its own sequence numbers). Local sessions
//! also poke the actor after they commit, so they need not wait for the watch. The [`Hub`] is
//! the node's registry: it starts an actor on first use and the actor stops with its last
//! session. The actor also keeps the mailbox's [`Index`] current from the same deltas and
//! publishes it with each change, and names the read-write session that claims new mail as
//! `\Recent` (the claim is that session's store transaction, not the actor's, so the
//! notification of every other session waits for no write).

use std::{collections::HashMap, sync::Arc, time::Instant};

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tern_store::{
    Db,
    keys::mail as k,
    model::{MessageMeta, mailbox, message},
};
use tokio::sync::{Mutex, watch};

use super::{index::Index, metrics::METRICS};

/// What changed in a mailbox between two MODSEQs, read once by the actor for all its sessions.
#[derive(Debug, Default)]
pub struct Delta {
    /// The MODSEQ it starts after.
    pub from: u64,
    /// The MODSEQ it brings a view to.
    pub to: u64,
    /// Messages added or changed (their state at `to`).
    pub changed: Vec<MessageMeta>,
    /// UIDs expunged.
    pub expunged: Vec<u32>,
}

/// The latest change a mailbox actor saw.
#[derive(Debug, Clone)]
pub struct Change {
    /// The store's change counter.
    pub counter: i64,
    /// When the actor saw it (the start of the notification latency).
    pub seen: Instant,
    /// What changed, when the actor could read it.
    pub delta: Option<Arc<Delta>>,
    /// The mailbox's records after the change, when the actor has them.
    pub index: Option<Arc<Index>>,
    /// The member that claims new mail as `\Recent` (the first read-write session to join
    /// that is still here), so that only one session on the node pays for the claim.
    pub recent_owner: Option<u64>,
}

/// Messages to a mailbox actor.
pub enum MailboxMsg {
    /// A session selects the mailbox (read-write or not); it is told its member number.
    Join(
        bool,
        RpcReplyPort<(watch::Receiver<Change>, Arc<Mutex<()>>, u64)>,
    ),
    /// A session leaves it.
    Leave(u64),
    /// The counter may have moved: read and publish it.
    Poll,
}

/// The actor kind.
pub struct MailboxActor;

/// Its state.
pub struct MailboxState {
    id: u64,
    db: Db,
    hub: Arc<HubInner>,
    tx: watch::Sender<Change>,
    modseq: u64,
    index: Option<Arc<Index>>,
    write: Arc<Mutex<()>>,
    members: usize,
    /// The read-write sessions' member numbers, in the order they joined: the first is the
    /// one that claims new mail as `\Recent`.
    writers: Vec<u64>,
    /// The next member number.
    next_member: u64,
    watcher: tokio::task::JoinHandle<()>,
}

async fn read_counter(db: &Db, mailbox: u64) -> Option<i64> {
    db.run(|tx| async move { tx.get_counter(&k::change(mailbox)).await })
        .await
        .map_err(|e| tracing::warn!(mailbox, error = %e, "cannot read a mailbox's change counter"))
        .ok()
}

/// The change counter and every record of the mailbox, in one transaction (`None` when the
/// store cannot say now: sessions then read the store themselves).
async fn load_index(db: &Db, mailbox: u64) -> Option<(i64, Arc<Index>)> {
    db.run(|tx| async move {
        let counter = tx.get_counter(&k::change(mailbox)).await?;
        let modseq = mailbox::highest_modseq(&tx, mailbox).await?;
        let metas = message::list(&tx, mailbox, 1, None).await?;
        Ok((counter, Arc::new(Index::new(modseq, metas))))
    })
    .await
    .map_err(|e| tracing::warn!(mailbox, error = %e, "cannot load a mailbox's index"))
    .ok()
}

fn index_bytes(index: &Option<Arc<Index>>) -> i64 {
    index.as_ref().map_or(0, |i| i.bytes() as i64)
}

async fn read_delta(db: &Db, mailbox: u64, from: u64) -> Option<Delta> {
    db.run(|tx| async move {
        let to = mailbox::highest_modseq(&tx, mailbox).await?;
        let changed = message::changed_since(&tx, mailbox, from).await?;
        let expunged = message::expunged_since(&tx, mailbox, from).await?;
        Ok(Delta {
            from,
            to,
            changed,
            expunged,
        })
    })
    .await
    .map_err(|e| tracing::warn!(mailbox, error = %e, "cannot read what changed in a mailbox"))
    .ok()
}

/// Arms a store watch on the change counter, pokes the actor each time it fires.
fn watch_store(db: Db, mailbox: u64, actor: ActorRef<MailboxMsg>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let armed = async {
                let tx = db.begin().await?;
                let w = tx.watch(&k::change(mailbox))?;
                tx.commit().await?;
                Ok::<_, tern_store::StoreError>(w)
            }
            .await;
            match armed {
                Ok(w) => {
                    if let Err(e) = w.await {
                        tracing::debug!(mailbox, error = %e, "mailbox watch ended; re-arming");
                        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                    }
                }
                Err(e) => {
                    tracing::warn!(mailbox, error = %e, "cannot watch a mailbox; retrying");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
            }
            if actor.cast(MailboxMsg::Poll).is_err() {
                return;
            }
        }
    })
}

/// Tells the sessions which of them claims new mail as `\Recent` now (no wake-up: they read
/// it at their next sync).
fn name_owner(state: &MailboxState) {
    let owner = state.writers.first().copied();
    state.tx.send_if_modified(|c| {
        c.recent_owner = owner;
        false
    });
}

impl Actor for MailboxActor {
    type Msg = MailboxMsg;
    type State = MailboxState;
    type Arguments = (u64, Db, Arc<HubInner>);

    async fn pre_start(
        &self,
        myself: ActorRef<Self::Msg>,
        (id, db, hub): Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        // The counter, the index and the MODSEQ deltas start from, read together.
        let (counter, modseq, index) = match load_index(&db, id).await {
            Some((counter, index)) => (counter, index.modseq, Some(index)),
            None => {
                let (counter, modseq) = db
                    .run(|tx| async move {
                        Ok((
                            tx.get_counter(&k::change(id)).await?,
                            mailbox::highest_modseq(&tx, id).await?,
                        ))
                    })
                    .await
                    .unwrap_or((0, 0));
                (counter, modseq, None)
            }
        };
        crate::memory::add("mailbox_indexes", index_bytes(&index));
        let (tx, _) = watch::channel(Change {
            counter,
            seen: Instant::now(),
            delta: None,
            index: index.clone(),
            recent_owner: None,
        });
        let watcher = watch_store(db.clone(), id, myself);
        let write = hub.permit_lock(id);
        METRICS.mailbox_actors.inc();
        Ok(MailboxState {
            id,
            db,
            hub,
            tx,
            modseq,
            index,
            write,
            members: 0,
            writers: Vec::new(),
            next_member: 1,
            watcher,
        })
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            MailboxMsg::Join(writer, reply) => {
                state.members += 1;
                let member = state.next_member;
                state.next_member += 1;
                if writer {
                    state.writers.push(member);
                    name_owner(state);
                }
                let _ = reply.send((state.tx.subscribe(), state.write.clone(), member));
            }
            MailboxMsg::Leave(member) => {
                state.members = state.members.saturating_sub(1);
                if state.writers.first() == Some(&member) {
                    state.writers.remove(0);
                    name_owner(state);
                } else {
                    state.writers.retain(|w| *w != member);
                }
                if state.members == 0 {
                    let mut map = state.hub.actors.lock().await;
                    if map.get(&state.id).map(|a| a.get_id()) == Some(myself.get_id()) {
                        map.remove(&state.id);
                    }
                    drop(map);
                    myself.stop(None);
                }
            }
            MailboxMsg::Poll => {
                let Some(counter) = read_counter(&state.db, state.id).await else {
                    return Ok(());
                };
                if counter == state.tx.borrow().counter {
                    return Ok(());
                }
                let seen = Instant::now();
                let delta = read_delta(&state.db, state.id, state.modseq).await;
                // The published change lets go of the index first, so that it is copied only
                // when a session is searching it right now.
                state.tx.send_if_modified(|c| {
                    c.index = None;
                    false
                });
                let before = index_bytes(&state.index);
                match (&delta, state.index.as_mut()) {
                    (Some(d), Some(index)) => Arc::make_mut(index).apply(d),
                    // A change the index missed: it is read again whole.
                    (None, _) => state.index = None,
                    (Some(_), None) => {
                        state.index = load_index(&state.db, state.id).await.map(|(_, i)| i)
                    }
                }
                crate::memory::add("mailbox_indexes", index_bytes(&state.index) - before);
                if let Some(d) = &delta {
                    state.modseq = d.to;
                }
                state.tx.send_replace(Change {
                    counter,
                    seen,
                    delta: delta.map(Arc::new),
                    index: state.index.clone(),
                    recent_owner: state.writers.first().copied(),
                });
            }
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        state.watcher.abort();
        crate::memory::add("mailbox_indexes", -index_bytes(&state.index));
        METRICS.mailbox_actors.dec();
        Ok(())
    }
}

/// How long a session waits for a mailbox actor to take it in.
const JOIN_TIMEOUT_MS: u64 = 5000;

/// The registry's shared part.
pub struct HubInner {
    actors: Mutex<HashMap<u64, ActorRef<MailboxMsg>>>,
    /// One write permit per mailbox this node is writing to, shared by its actor and by
    /// writers that have not selected it (APPEND, COPY).
    permits: std::sync::Mutex<HashMap<u64, std::sync::Weak<Mutex<()>>>>,
}

impl HubInner {
    fn permit_lock(&self, mailbox: u64) -> Arc<Mutex<()>> {
        let mut map = self.permits.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(lock) = map.get(&mailbox).and_then(std::sync::Weak::upgrade) {
            return lock;
        }
        map.retain(|_, w| w.strong_count() > 0);
        let lock = Arc::new(Mutex::new(()));
        map.insert(mailbox, Arc::downgrade(&lock));
        lock
    }
}

/// The node's open mailboxes.
#[derive(Clone)]
pub struct Hub {
    db: Db,
    inner: Arc<HubInner>,
    watches: Arc<super::watcher::Watches>,
}

/// A session's membership of a mailbox actor; leaving is dropping it.
pub struct Subscription {
    /// New changes.
    pub rx: watch::Receiver<Change>,
    /// This session's member number.
    pub member: u64,
    write: Arc<Mutex<()>>,
    actor: ActorRef<MailboxMsg>,
}

impl Subscription {
    /// Waits for this node's write permit on the mailbox; hold it across the transaction.
    pub async fn writing(&self) -> tokio::sync::OwnedMutexGuard<()> {
        self.write.clone().lock_owned().await
    }

    /// Tells the actor this node just committed a change, so every session hears of it now.
    pub fn committed(&self) {
        let _ = self.actor.cast(MailboxMsg::Poll);
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let _ = self.actor.cast(MailboxMsg::Leave(self.member));
    }
}

impl Hub {
    /// An empty registry over `db`.
    pub fn new(db: Db) -> Self {
        Self {
            watches: Arc::new(super::watcher::Watches::new(db.clone())),
            db,
            inner: Arc::new(HubInner {
                actors: Mutex::new(HashMap::new()),
                permits: std::sync::Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The node's shared store watches for sessions that follow many mailboxes (NOTIFY).
    pub fn watches(&self) -> &Arc<super::watcher::Watches> {
        &self.watches
    }

    /// Waits for this node's write permit on `mailbox` (for writers that have not selected it).
    pub async fn writing(&self, mailbox: u64) -> tokio::sync::OwnedMutexGuard<()> {
        self.inner.permit_lock(mailbox).lock_owned().await
    }

    /// Tells the actor of `mailbox`, if one runs here, that this node just committed a change
    /// to it (the store watch would tell it too, a little later).
    pub async fn poke(&self, mailbox: u64) {
        if let Some(actor) = self.inner.actors.lock().await.get(&mailbox) {
            let _ = actor.cast(MailboxMsg::Poll);
        }
    }

    /// Joins the actor of `mailbox`, starting it if needed. The registry lock is never held
    /// while waiting for an actor (an actor takes it when its last session leaves).
    pub async fn join(&self, mailbox: u64, writer: bool) -> anyhow::Result<Subscription> {
        let mut last_error = None;
        for _ in 0..3 {
            let actor = {
                let mut map = self.inner.actors.lock().await;
                match map.get(&mailbox) {
                    Some(a) => a.clone(),
                    None => {
                        let (a, _) = Actor::spawn(
                            None,
                            MailboxActor,
                            (mailbox, self.db.clone(), self.inner.clone()),
                        )
                        .await?;
                        map.insert(mailbox, a.clone());
                        a
                    }
                }
            };
            match ractor::call_t!(actor, MailboxMsg::Join, JOIN_TIMEOUT_MS, writer) {
                Ok((rx, write, member)) => {
                    return Ok(Subscription {
                        rx,
                        member,
                        write,
                        actor,
                    });
                }
                Err(e) => {
                    // The actor was stopping with its last session: forget it, start anew.
                    let mut map = self.inner.actors.lock().await;
                    if map.get(&mailbox).map(|a| a.get_id()) == Some(actor.get_id()) {
                        map.remove(&mailbox);
                    }
                    last_error = Some(e.to_string());
                }
            }
        }
        anyhow::bail!(
            "cannot join the actor of mailbox {mailbox}: {}",
            last_error.unwrap_or_default()
        )
    }
}
