//! The session actor: a thin ractor shell that owns one connection's [`Session`] and runs it to
//! the end. The session itself is generic over the stream, so tests drive it in memory.

use std::marker::PhantomData;

use ractor::{Actor, ActorProcessingErr, ActorRef};
use tokio::io::{AsyncRead, AsyncWrite};

use super::session::Session;
use crate::net::limits::Slot;

/// Messages to a session actor. Sessions are driven by their socket; the node stops them
/// through the shared shutdown signal, so nothing else is sent yet.
pub enum SessionMsg {}

/// The actor kind; one instance per connection.
pub struct SessionActor<S>(PhantomData<fn() -> S>);

impl<S> SessionActor<S> {
    /// A new actor value.
    pub fn new() -> Self {
        Self(PhantomData)
    }
}

/// The actor's state: the session until it runs, and the connection slot it holds.
pub struct SessionState<S> {
    session: Option<Session<S>>,
    _slot: Option<Slot>,
}

impl<S> Actor for SessionActor<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    type Msg = SessionMsg;
    type State = SessionState<S>;
    type Arguments = (Session<S>, Option<Slot>);

    async fn pre_start(
        &self,
        _myself: ActorRef<Self::Msg>,
        args: Self::Arguments,
    ) -> Result<Self::State, ActorProcessingErr> {
        Ok(SessionState {
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
