//! The connection actor: a ractor shell that owns one connection's session (SMTP, POP3, ...)
//! and takes messages while the session runs in a task of its own: an operator's
//! [`ConnectionMsg::Kick`] reaches the session through its live entry, and the session's end
//! stops the actor. Sessions stay generic over the stream and testable without actors; the
//! node stops them through the shared shutdown signal. The actor is listed in the node's live
//! sessions from start to end.

use std::{future::Future, marker::PhantomData, net::SocketAddr, sync::Arc};

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::task::JoinHandle;

use super::limits::Slot;
use crate::live::sessions::{Entry, Sessions};

/// A session that runs one connection to its end.
pub trait Connection: Send + 'static {
    /// Its live entry (what the session list shows; how a kick reaches it).
    fn entry(&self) -> Arc<Entry>;

    /// Runs the session.
    fn run(self) -> impl Future<Output = ()> + Send;
}

/// Messages to a connection actor.
#[derive(Debug)]
pub enum ConnectionMsg {
    /// An operator ends the session: it says its protocol's goodbye and closes.
    Kick,
    /// The session ended (sent by its task).
    Ended,
}

/// The actor kind, one instance per connection.
pub struct ConnectionActor<C>(PhantomData<fn() -> C>);

/// The actor's state: the session until it starts, then its task; its live entry.
pub struct ConnectionState<C> {
    pending: Option<(C, Slot)>,
    entry: Arc<Entry>,
    task: Option<JoinHandle<()>>,
}

impl<C: Connection> Actor for ConnectionActor<C> {
    type Msg = ConnectionMsg;
    type State = ConnectionState<C>;
    type Arguments = (C, Slot);

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        (session, slot): Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(ConnectionState {
            entry: session.entry(),
            pending: Some((session, slot)),
            task: None,
        })
    }

    async fn post_start(
        &self,
        myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if let Some((session, slot)) = state.pending.take() {
            state.task = Some(tokio::spawn(async move {
                session.run().await;
                // The slot is the connection's: it goes when the session ends.
                drop(slot);
                let _ = myself.cast(ConnectionMsg::Ended);
            }));
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<Self::Msg>,
        msg: Self::Msg,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            ConnectionMsg::Kick => state.entry.kick(),
            ConnectionMsg::Ended => myself.stop(None),
        }
        Ok(())
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        // Stopped for another reason than the session's end (the actor system going away):
        // the session does not outlive its actor.
        if let Some(task) = state.task.take()
            && !task.is_finished()
        {
            task.abort();
        }
        Ok(())
    }
}

/// Starts an actor for `session`, lists it in `sessions` and waits until it ends.
///
/// The session goes to the actor through a boxed spawn: the returned future, which waits for
/// the connection's whole life, then holds a pointer (freed once the actor runs) instead of
/// room for the session itself.
pub fn run<C: Connection>(
    session: C,
    slot: Slot,
    peer: SocketAddr,
    sessions: Sessions,
) -> impl Future<Output = ()> + Send {
    let entry = session.entry();
    let spawning = Box::pin(Actor::spawn(
        None,
        ConnectionActor::<C>(PhantomData),
        (session, slot),
    ));
    async move {
        match spawning.await {
            Ok((actor, handle)) => {
                let _listed = sessions.register(entry, actor);
                let _ = handle.await;
            }
            Err(e) => tracing::error!(peer = %peer, error = %e, "cannot start a connection actor"),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::sync::oneshot;

    use super::*;
    use crate::{
        live::sessions::{Filter, Stop, Target},
        net::{conn::Wire, limits::ConnectionLimits},
        shutdown::Shutdown,
    };

    /// A session that waits to be stopped and reports why.
    struct Waiter {
        entry: Arc<Entry>,
        node: Shutdown,
        why: oneshot::Sender<Stop>,
    }

    impl Connection for Waiter {
        fn entry(&self) -> Arc<Entry> {
            self.entry.clone()
        }

        async fn run(self) {
            let stop = self.entry.stopped(&self.node).await;
            let _ = self.why.send(stop);
        }
    }

    fn waiter(id: &str, node: &Shutdown) -> (Waiter, oneshot::Receiver<Stop>) {
        let peer: SocketAddr = "192.0.2.1:40000".parse().expect("addr");
        let entry = Entry::new(id, "imap", "imaps", peer, Arc::new(Wire::default()));
        let (why, rx) = oneshot::channel();
        let w = Waiter {
            entry,
            node: node.clone(),
            why,
        };
        (w, rx)
    }

    #[tokio::test]
    async fn a_kick_reaches_the_session_through_its_actor_and_unlists_it() {
        let (node, sessions) = (Shutdown::new(), Sessions::new(7));
        let limits = ConnectionLimits::new(10, 10);
        let peer: SocketAddr = "192.0.2.1:40000".parse().expect("addr");
        let (a, a_why) = waiter("aaaa", &node);
        let (b, b_why) = waiter("bbbb", &node);
        a.entry.show(Some("ann@example.test"), "idle INBOX");
        b.entry.show(Some("bob@example.test"), "authenticated");
        let slot = || limits.acquire(peer.ip()).expect("slot");
        let ra = tokio::spawn(run(a, slot(), peer, sessions.clone()));
        let rb = tokio::spawn(run(b, slot(), peer, sessions.clone()));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while sessions.list(&Filter::default()).len() < 2 {
            assert!(tokio::time::Instant::now() < deadline, "both listed");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let ann = Filter {
            account: Some("ANN@example.test".into()),
            ..Filter::default()
        };
        let listed = sessions.list(&ann);
        assert_eq!(listed.len(), 1);
        assert_eq!(
            (
                listed[0].id.as_str(),
                listed[0].node,
                listed[0].state.as_str()
            ),
            ("aaaa", 7, "idle INBOX")
        );
        let kicked = sessions.kick(&Target::Account("ann@example.test".into()));
        assert_eq!(kicked.len(), 1);
        assert_eq!(a_why.await.expect("stopped"), Stop::Kicked);
        ra.await.expect("actor ended");
        assert_eq!(sessions.list(&Filter::default()).len(), 1, "unlisted");
        assert!(sessions.kick(&Target::Id("aaaa".into())).is_empty());

        node.trigger();
        assert_eq!(b_why.await.expect("stopped"), Stop::Shutdown);
        rb.await.expect("actor ended");
        assert!(sessions.list(&Filter::default()).is_empty());
        assert_eq!(limits.acquire(peer.ip()).map(|_| ()), Ok(()), "slots freed");
    }
}
