//! The POP3 listeners: the shared accept loop with POP3's `-ERR [SYS/TEMP]` refusals, one
//! session actor per admitted connection.

use std::sync::Arc;

use tern_proto::pop3::reply;
use tokio::{net::TcpListener, task::JoinHandle};

use super::{ListenerKind, Pop3Context, metrics::METRICS, session::Session};
use crate::net::{
    actor,
    limits::Refusal,
    listener::{self, ListenerSpec},
    proxy::ProxyPolicy,
};

/// Serves `listener` until shutdown, with the PROXY protocol `proxy`.
pub fn spawn(
    listener: TcpListener,
    kind: ListenerKind,
    ctx: Arc<Pop3Context>,
    proxy: Option<ProxyPolicy>,
) -> JoinHandle<()> {
    let spec = ListenerSpec {
        label: kind.label(),
        implicit_tls: kind == ListenerKind::Pop3s,
        limits: ctx.limits.clone(),
        proxy,
        tls: ctx.tls.clone(),
        shutdown: ctx.shutdown.clone(),
        refusal: Box::new(|r| {
            reply::too_many_connections(r == Refusal::Ip)
                .to_wire()
                .into_bytes()
        }),
        count_refusal: |reason| METRICS.refused.with_label_values(&[reason]).inc(),
        log: crate::throttle::Throttle::new(std::time::Duration::from_secs(10)),
    };
    listener::spawn(listener, spec, move |io, peer, slot| {
        let session = Session::new(ctx.clone(), kind, io, peer);
        actor::run(session, slot, peer, ctx.sessions.clone())
    })
}
