//! The connection actor: a thin ractor shell that owns one connection's session (SMTP, POP3, ...)
//! and its connection slot, and runs the session to its end. Sessions stay generic over the
//! stream and testable without actors; the node stops them through the shared shutdown signal.

use std::{future::Future, marker::PhantomData, net::SocketAddr};

use ractor::{Actor, ActorProcessingErr, ActorRef};

use super::limits::Slot;

/// A session that runs one connection to its end.
pub trait Connection: Send + 'static {
    /// Runs the session.
    fn run(self) -> impl Future<Output = ()> + Send;
}

/// Messages to a connection actor; sessions are driven by their socket, so none yet.
pub enum ConnectionMsg {}

/// The actor kind, one instance per connection.
pub struct ConnectionActor<C>(PhantomData<fn() -> C>);

/// The actor's state: the session until it runs, and the slot it holds until it stops.
pub struct ConnectionState<C> {
    session: Option<C>,
    _slot: Option<Slot>,
}

impl<C: Connection> Actor for ConnectionActor<C> {
    type Msg = ConnectionMsg;
    type State = ConnectionState<C>;
    type Arguments = (C, Option<Slot>);

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(ConnectionState {
            session: Some(args.0),
            _slot: args.1,
        })
    }

    async fn post_start(
        &self,
        myself: ActorRef<Self::Msg>,
        state: &mut Self::State,
    ) -> Result<(), ActorProcessingErr> {
        if let Some(session) = state.session.take() {
            session.run().await;
        }
        myself.stop(None);
        Ok(())
    }
}

/// Starts an actor for `session` and waits until it ends.
pub async fn run<C: Connection>(session: C, slot: Slot, peer: SocketAddr) {
    match Actor::spawn(
        None,
        ConnectionActor::<C>(PhantomData),
        (session, Some(slot)),
    )
    .await
    {
        Ok((_, handle)) => {
            let _ = handle.await;
        }
        Err(e) => tracing::error!(peer = %peer, error = %e, "cannot start a connection actor"),
    }
}
