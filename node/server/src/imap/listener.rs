//! The IMAP listeners: the shared accept loop with IMAP's `* BYE [UNAVAILABLE]` refusal, one
//! session actor per admitted connection.

use std::sync::Arc;

use tern_proto::imap::response::{self, Extra};
use tokio::{net::TcpListener, task::JoinHandle};

use super::{ImapContext, ListenerKind, metrics::METRICS, session::Session};
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
    ctx: Arc<ImapContext>,
    proxy: Option<ProxyPolicy>,
) -> JoinHandle<()> {
    let spec = ListenerSpec {
        label: kind.label(),
        implicit_tls: kind == ListenerKind::Imaps,
        limits: ctx.limits.clone(),
        proxy,
        tls: ctx.tls.clone(),
        shutdown: ctx.shutdown.clone(),
        refusal: Box::new(|r| {
            let mut out = Vec::new();
            let text = match r {
                Refusal::Ip => "too many connections from your address, try again later",
                _ => "too many connections, try again later",
            };
            response::bye(&mut out, Some(Extra::Unavailable.code()), text);
            out
        }),
        count_refusal: |reason| METRICS.refused.with_label_values(&[reason]).inc(),
        log: crate::throttle::Throttle::new(std::time::Duration::from_secs(10)),
    };
    listener::spawn(listener, spec, move |io, peer, slot| {
        let session = Session::new(ctx.clone(), kind, io, peer);
        actor::run(session, slot, peer, ctx.sessions.clone())
    })
}
