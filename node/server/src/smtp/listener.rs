//! The SMTP listeners: the shared accept loop with SMTP's `421` refusals, starting one session
//! actor per admitted connection.

use std::sync::Arc;

use tern_proto::smtp::reply;
use tokio::{net::TcpListener, task::JoinHandle};

use super::{ListenerKind, SmtpContext, metrics::METRICS, session::Session};
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
    ctx: Arc<SmtpContext>,
    proxy: Option<ProxyPolicy>,
) -> JoinHandle<()> {
    let host = ctx.hostname.clone();
    let spec = ListenerSpec {
        label: kind.label(),
        implicit_tls: kind == ListenerKind::Submissions,
        limits: ctx.limits.clone(),
        proxy,
        tls: ctx.tls.clone(),
        shutdown: ctx.shutdown.clone(),
        refusal: Box::new(move |r| {
            let text = match r {
                Refusal::Ip => reply::too_many_connections_from_ip(&host),
                Refusal::Node => reply::too_many_connections(&host),
            };
            text.to_wire().into_bytes()
        }),
        count_refusal: |reason| METRICS.refused.with_label_values(&[reason]).inc(),
        log: crate::throttle::Throttle::new(std::time::Duration::from_secs(10)),
    };
    listener::spawn(listener, spec, move |io, peer, slot| {
        let session = Session::new(ctx.clone(), kind, io, peer);
        actor::run(session, slot, peer, ctx.sessions.clone())
    })
}
