//! Acceptance: at the end of DATA or BDAT LAST, once the policy checks of the `data` stage
//! let it through, the message loses the header fields it may not bring (forged
//! `Authentication-Results`, `X-Spam-*`, `X-Tern-*`: see [`crate::policy::strip`]) and gains
//! its trace headers and what the checks added, and is filed
//! (see [`crate::delivery`]) in one store transaction. The `250` is sent only after that commit;
//! a failed commit answers `451 4.3.0` and leaves nothing half-written.

use std::{collections::BTreeSet, time::Instant};

use tern_proto::smtp::reply;
use tern_store::{
    StoreError, TxError,
    model::{now, summary::MAX_MIME_DEPTH},
};
use tokio::io::{AsyncRead, AsyncWrite};

use super::{
    metrics::METRICS,
    received::{self, Trace},
    session::{Flow, Session},
};
use crate::{
    delivery::{self, DeliverError},
    policy::{Stage, strip},
};

/// Commits the open transaction's message and answers the client.
pub async fn accept<S: AsyncRead + AsyncWrite + Unpin + Send>(s: &mut Session<S>) -> Flow {
    let started = Instant::now();
    if s.state.mail.is_none() {
        return s.refuse("DATA", reply::bad_sequence("no mail transaction"));
    }
    if let Some(r) = s.policy(Stage::Data, None, None).await {
        s.state.mail = None;
        return s.reject("DATA", "policy", r);
    }
    let Some(mut mail) = s.state.mail.take() else {
        return s.refuse("DATA", reply::bad_sequence("no mail transaction"));
    };
    if let Some(clean) = strip::strip(&mail.body, &s.ctx.config.checks.auth.authserv_id) {
        mail.body = clean;
    }
    let id = delivery::queue_id();
    let local: BTreeSet<u64> = mail
        .recipients
        .iter()
        .flat_map(|r| r.accounts.iter().copied())
        .collect();
    let single = (mail.recipients.len() == 1).then(|| mail.recipients[0].address.as_str());
    let return_path = if local.is_empty() {
        String::new()
    } else {
        received::return_path(&mail.from)
    };
    let trace = received::received(&Trace {
        helo: s.state.helo.as_deref().unwrap_or("unknown"),
        peer: s.peer.ip(),
        host: &s.ctx.hostname,
        protocol: s.protocol(),
        tls: s.conn.tls_description(),
        id: &id,
        single_recipient: single,
        now: now(),
    });
    let mut added = mail.marks.headers.concat();
    if let Some(why) = &mail.marks.junk {
        added.push_str(&format!(
            "X-Tern-Junk: {}\r\n",
            why.replace(['\r', '\n'], " ")
        ));
        tracing::info!(session = %s.id, msg = %id, reason = %why, "filed as junk");
    }
    let mut raw =
        Vec::with_capacity(return_path.len() + trace.len() + added.len() + mail.body.len());
    raw.extend_from_slice(return_path.as_bytes());
    raw.extend_from_slice(trace.as_bytes());
    raw.extend_from_slice(added.as_bytes());
    raw.extend_from_slice(&mail.body);
    let skip = return_path.len() as u32;

    let submitted_by = s.state.account.as_ref().map(|a| a.id);
    let origin = crate::tracking::Origin {
        kind: "accepted",
        detail: format!(
            "accepted from {} (HELO {}) on {}{}: {}",
            s.peer.ip(),
            s.state.helo.as_deref().unwrap_or("unknown"),
            s.kind.label(),
            s.state
                .account
                .as_ref()
                .map(|a| format!(", authenticated as {}", a.address))
                .unwrap_or_default(),
            {
                let mut wire = Vec::new();
                reply::queued(&id).encode(&mut wire);
                String::from_utf8_lossy(&wire).trim_end().to_string()
            },
        ),
        about: None,
    };
    let outcome = delivery::store(
        &s.ctx.dir,
        Some(&s.ctx.filer),
        s.ctx.config.queue_shards,
        submitted_by,
        &mail,
        &id,
        &raw,
        skip,
        origin,
    )
    .await;
    let elapsed = started.elapsed().as_secs_f64();
    match outcome {
        Ok(()) => {
            METRICS.messages.with_label_values(&["accepted"]).inc();
            METRICS
                .ingest_seconds
                .with_label_values(&[s.kind.label()])
                .observe(elapsed);
            let remote: usize = mail.recipients.iter().map(|r| r.remote.len()).sum();
            let addresses: Vec<&str> = mail.recipients.iter().map(|r| r.address.as_str()).collect();
            if crate::dmarc_reports::for_reports(
                &s.ctx.config.checks.auth.dmarc_report_addresses,
                &addresses,
            ) {
                crate::dmarc_reports::collect(
                    s.ctx.dir.db().clone(),
                    id.clone(),
                    mail.body.clone(),
                );
            }
            let recipients = addresses.join(",");
            tracing::info!(
                session = %s.id, msg = %id, from = %mail.from, recipients = %recipients,
                size = raw.len(), local = local.len(), remote, ms = elapsed * 1000.0,
                "message accepted"
            );
            s.reply(reply::queued(&id));
            Flow::Continue
        }
        Err(DeliverError::Quota(address)) => {
            tracing::info!(session = %s.id, msg = %id, recipient = %address, "refused at end of data: mailbox full");
            let r = if s.ctx.config.quota_permanent {
                reply::mailbox_full_permanent(&address)
            } else {
                reply::mailbox_full_temporary(&address)
            };
            s.reject("DATA", "quota", r)
        }
        Err(DeliverError::TooDeep(depth)) => {
            tracing::info!(session = %s.id, msg = %id, depth, "refused at end of data: MIME nesting too deep");
            s.reject(
                "DATA",
                "mime_depth",
                reply::mime_too_deep(depth, MAX_MIME_DEPTH),
            )
        }
        Err(DeliverError::Model(e)) if e.as_store().is_some_and(StoreError::is_no_space) => {
            tracing::warn!(session = %s.id, msg = %id, error = %e, "message not stored: low on storage");
            s.reject("DATA", "storage", reply::insufficient_storage())
        }
        Err(DeliverError::Model(e)) => {
            METRICS.messages.with_label_values(&["store_error"]).inc();
            tracing::error!(session = %s.id, msg = %id, error = %e, "message not stored");
            s.reply(reply::internal_error());
            Flow::Continue
        }
    }
}
