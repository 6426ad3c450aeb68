//! A delivery worker of one destination: takes queue ids from its domain actor's list, keeps one
//! SMTP connection open across messages (up to `max_messages_per_connection`), and for each
//! entry checks suspension, resolves the route, connects (STARTTLS by policy, AUTH for a relay
//! host), sends in transactions of at most `max_recipients_per_transaction` recipients, and
//! commits the outcome.

use std::{
    collections::{BTreeMap, VecDeque},
    panic::AssertUnwindSafe,
    sync::{Arc, Mutex},
};

use futures::FutureExt as _;

use ractor::ActorRef;
use tern_proto::smtp::client::Envelope;
use tern_store::{
    blob,
    model::{
        now,
        queue::{Notify, QueueEntry, Ret, destination, ops},
    },
};

use super::{
    QueueContext, cause,
    client::{Client, ClientError, Rcpt, RcptResult},
    commit::{self, Committed},
    manager::ManagerMsg,
    metrics::METRICS,
    outcome::Result as Outcome,
    route::{RouteError, Target},
};
use crate::{config::queue::StartTls, live::outbound::Registered};

/// An open connection, how many messages it carried, and its place in the node's list of
/// open connections.
struct Session {
    client: Client,
    sent: usize,
    listed: Registered,
}

/// Runs until the list is empty or the node stops.
pub async fn run(
    ctx: Arc<QueueContext>,
    domain: String,
    list: Arc<Mutex<VecDeque<String>>>,
    manager: ActorRef<ManagerMsg>,
) {
    let mut session: Option<Session> = None;
    loop {
        if ctx.shutdown.is_triggered() {
            break;
        }
        // The node-wide cap comes before the entry is taken: while this worker waits, the
        // entry stays in the list, where the manager can still take it back.
        let permit = tokio::select! {
            p = ctx.deliveries.acquire() => p,
            _ = ctx.shutdown.wait() => break,
        };
        let Ok(permit) = permit else { break };
        let next = list.lock().map(|mut l| l.pop_front()).unwrap_or(None);
        let Some(id) = next else { break };
        METRICS.deliveries_active.inc();
        // A panic in one delivery must not leave its entry marked in flight for good: it is
        // logged, the connection dropped, and the entry stays queued for the next scan.
        let attempt = AssertUnwindSafe(deliver(&ctx, &domain, &id, &mut session));
        if attempt.catch_unwind().await.is_err() {
            tracing::error!(queue_id = %id, domain, "delivery panicked; the entry stays queued");
            session = None;
        }
        METRICS.deliveries_active.dec();
        drop(permit);
        let _ = manager.cast(ManagerMsg::Finished(id));
    }
    if let Some(s) = session {
        s.client.quit().await;
    }
}

fn notify_param(n: Notify) -> Option<String> {
    let names = n.names();
    (!names.is_empty()).then(|| names.join(","))
}

fn all_open(entry: &QueueEntry, result: Outcome) -> BTreeMap<String, Outcome> {
    entry
        .open_recipients()
        .map(|r| (r.address.clone(), result.clone()))
        .collect()
}

async fn deliver(ctx: &QueueContext, domain: &str, id: &str, session: &mut Option<Session>) {
    let db = ctx.dir.db();
    let loaded = db
        .transact(|tx| async move { ops::get(&tx, id).await })
        .await;
    let entry = match loaded {
        // Not due any more, or on a shard this node gave up since the scan: skipped.
        Ok(Some(e)) if !e.held && e.next_attempt <= now() && ctx.held.epoch(e.shard).is_some() => e,
        Ok(_) => return,
        Err(e) => {
            tracing::error!(queue_id = %id, error = %e, "cannot read queue entry");
            return;
        }
    };
    let attempt = entry.attempts + 1;
    let dest = db
        .transact(|tx| async move { destination::get(&tx, domain).await })
        .await;
    let suspended = dest.ok().filter(|d| d.is_suspended(now()));
    let expires = entry.created + ctx.config.max_lifetime.as_secs() as i64;
    if let Some(d) = &suspended
        && now() < expires
    {
        // Wait for the suspension to end (or for the message's lifetime, to return it then).
        let until = d.suspended_until.min(expires);
        tracing::debug!(queue_id = %id, attempt, domain, until, "destination suspended, entry waits");
        if let Err(e) = commit::postpone(ctx, id, until).await {
            tracing::error!(queue_id = %id, attempt, error = %e, "cannot postpone queue entry");
        }
        return;
    }
    let message = match blob::read(db, entry.blob).await {
        Ok(m) => m,
        Err(e) => {
            tracing::error!(queue_id = %id, attempt, error = %e, "cannot read the message body");
            return;
        }
    };
    let body = signed(
        ctx,
        &entry,
        &message[(entry.skip as usize).min(message.len())..],
    )
    .await;
    let body = body.as_slice();

    let route = match &suspended {
        // Expired while suspended: the attempt below returns it with the suspension's cause.
        Some(d) => Err(RouteError::Temporary(format!(
            "the destination is suspended after repeated failures: {}",
            d.last_error
        ))),
        None => ctx.router.route(domain).await,
    };
    let (results, host) = match route {
        Err(RouteError::Permanent(text)) => (
            all_open(&entry, Outcome::Failed(format!("5.1.2 {text}"))),
            String::new(),
        ),
        Err(RouteError::Temporary(text)) => (
            all_open(&entry, Outcome::Deferred(format!("4.4.3 {text}"))),
            String::new(),
        ),
        Ok(targets) => loop {
            match connected(ctx, domain, &targets, session).await {
                Err(error) => {
                    break (
                        all_open(&entry, Outcome::Deferred(format!("4.4.1 {error}"))),
                        String::new(),
                    );
                }
                Ok(reused) => {
                    let sent = send(ctx, &entry, body, session).await;
                    // A cached connection the server closed meanwhile: once more on a new one.
                    if reused && session.is_none() {
                        continue;
                    }
                    break sent;
                }
            }
        },
    };
    for r in results.values() {
        let (result, reason) = match r {
            Outcome::Delivered(_) => {
                METRICS
                    .delivery_seconds
                    .observe((now() - entry.created).max(0) as f64);
                ("delivered", "none")
            }
            Outcome::Deferred(d) => ("deferred", cause::classify(d).reason.label()),
            Outcome::Failed(d) => ("failed", cause::classify(d).reason.label()),
        };
        METRICS
            .recipients
            .with_label_values(&[result, reason])
            .inc();
    }
    match commit::attempt(ctx, &entry, &results, &host, body, commit::Fence::Owner).await {
        Ok(Committed::Applied { done }) => {
            tracing::info!(queue_id = %id, attempt, domain, host = %host, done, results = ?results, "delivery attempt")
        }
        Ok(Committed::Gone) => {
            tracing::info!(queue_id = %id, attempt, "entry removed during delivery")
        }
        Ok(Committed::ShardLost) => {
            tracing::warn!(queue_id = %id, attempt, "shard lost to another node; outcome not written")
        }
        Err(e) => {
            tracing::error!(queue_id = %id, attempt, error = ?e, "cannot record delivery attempt")
        }
    }
}

/// The message with a `DKIM-Signature:` when the sender's domain has a key (a local domain);
/// unchanged otherwise, or if signing fails (logged: unsigned mail beats no mail).
async fn signed(ctx: &QueueContext, entry: &QueueEntry, body: &[u8]) -> Vec<u8> {
    let Some((_, domain)) = entry.sender.rsplit_once('@') else {
        return body.to_vec();
    };
    let key = match ctx.dir.dkim(domain).await {
        Ok(Some(k)) => k,
        Ok(None) => return body.to_vec(),
        Err(e) => {
            tracing::error!(queue_id = %entry.id, attempt = entry.attempts + 1, error = %e, "cannot read the DKIM key; sending unsigned");
            return body.to_vec();
        }
    };
    match crate::dkim::sign(&key, domain, body) {
        Ok(header) => {
            let mut out = header.into_bytes();
            out.extend_from_slice(body);
            out
        }
        Err(e) => {
            tracing::error!(queue_id = %entry.id, attempt = entry.attempts + 1, domain, error = %e, "DKIM signing failed; sending unsigned");
            body.to_vec()
        }
    }
}

/// Makes sure `session` holds a connection to one of `targets`; `Ok(true)` when it is one kept
/// from an earlier message.
async fn connected(
    ctx: &QueueContext,
    domain: &str,
    targets: &[Target],
    session: &mut Option<Session>,
) -> Result<bool, String> {
    if let Some(s) = session.take() {
        if s.sent < ctx.config.max_messages_per_connection {
            *session = Some(s);
            return Ok(true);
        }
        s.client.quit().await;
    }
    let mut errors = Vec::new();
    for target in targets {
        match open(ctx, target).await {
            Ok(client) => {
                METRICS.connections.with_label_values(&["ok"]).inc();
                METRICS
                    .tls
                    .with_label_values(&[if client.is_tls() { "yes" } else { "no" }])
                    .inc();
                if let Err(e) = commit::connection_result(ctx, domain, None).await {
                    tracing::error!(domain, error = %e, "cannot record destination state");
                }
                let listed =
                    ctx.connections
                        .opened(domain, &client.host, client.addr, client.is_tls());
                *session = Some(Session {
                    client,
                    sent: 0,
                    listed,
                });
                return Ok(false);
            }
            Err(e) => {
                METRICS.connections.with_label_values(&["failed"]).inc();
                errors.push(e);
            }
        }
    }
    let error = format!(
        "could not connect to the mail hosts of {domain}: {}",
        errors.join("; ")
    );
    match commit::connection_result(ctx, domain, Some(&error)).await {
        Ok(d) if d.suspended_until > 0 => {
            tracing::warn!(
                domain,
                failures = d.failures,
                until = d.suspended_until,
                "destination suspended"
            )
        }
        Ok(_) => {}
        Err(e) => tracing::error!(domain, error = %e, "cannot record destination state"),
    }
    Err(error)
}

/// Connects to one host: each address in turn, TLS by policy, AUTH when configured.
async fn open(ctx: &QueueContext, target: &Target) -> Result<Client, String> {
    let cfg = &ctx.config;
    let mut last = format!("{}: no address", target.host);
    for addr in &target.addrs {
        let implicit = target.implicit_tls.then_some(&ctx.tls);
        let connect = || {
            Client::connect(
                *addr,
                &target.host,
                implicit,
                &ctx.hostname,
                cfg.connect_timeout,
                cfg.command_timeout,
            )
        };
        let client = match connect().await {
            Ok(c) => c,
            Err(e) => {
                last = e.to_string();
                continue;
            }
        };
        let must_tls = target.require_tls || cfg.starttls == StartTls::Required;
        let client = if client.is_tls() || cfg.starttls == StartTls::Never && !must_tls {
            client
        } else if client.offers_starttls() {
            match client.starttls(&ctx.tls, &ctx.hostname).await {
                Ok(c) => c,
                Err(e) if !must_tls => {
                    tracing::warn!(host = %target.host, error = %e, "STARTTLS failed, retrying without TLS as the policy allows");
                    match connect().await {
                        Ok(c) => c,
                        Err(e) => {
                            last = e.to_string();
                            continue;
                        }
                    }
                }
                Err(e) => {
                    last = format!("{}: {e}", target.host);
                    continue;
                }
            }
        } else if must_tls {
            client.quit().await;
            last = format!(
                "{} does not offer STARTTLS, which the policy requires",
                target.host
            );
            continue;
        } else {
            client
        };
        let mut client = client;
        if let Some((user, password)) = &target.auth
            && let Err(e) = client.auth_plain(user, password).await
        {
            client.quit().await;
            last = format!("{}: {e}", target.host);
            continue;
        }
        return Ok(client);
    }
    Err(last)
}

/// Sends the entry's open recipients over the session, in transactions of bounded size.
async fn send(
    ctx: &QueueContext,
    entry: &QueueEntry,
    body: &[u8],
    session: &mut Option<Session>,
) -> (BTreeMap<String, Outcome>, String) {
    let Some(s) = session.as_mut() else {
        return (BTreeMap::new(), String::new());
    };
    let host = s.client.host.clone();
    let open: Vec<_> = entry.open_recipients().cloned().collect();
    if s.client.max_size() > 0 && body.len() > s.client.max_size() {
        let text = format!(
            "552 5.3.4 the message ({} bytes) is larger than {host} accepts ({} bytes)",
            body.len(),
            s.client.max_size()
        );
        return (all_open(entry, Outcome::Failed(text)), host);
    }
    if entry.smtputf8 && !s.client.offers_smtputf8() {
        // RFC 6531 §3.2: an SMTPUTF8 message cannot be passed to a server without it.
        let text = format!(
            "553 5.6.7 {host} does not support SMTPUTF8, which this message's addresses need"
        );
        return (all_open(entry, Outcome::Failed(text)), host);
    }
    let env = Envelope {
        from: &entry.sender,
        size: body.len() as u64,
        body_8bit: entry.body_8bit,
        smtputf8: entry.smtputf8,
        ret: entry.ret.map(|r| match r {
            Ret::Full => "FULL",
            Ret::Headers => "HDRS",
        }),
        envid: entry.envid.as_deref(),
    };
    s.listed.sending(Some(&entry.id));
    let mut results = BTreeMap::new();
    let mut broken = None;
    for chunk in open.chunks(ctx.config.max_recipients_per_transaction) {
        if let Some(error) = &broken {
            for r in chunk {
                results.insert(
                    r.address.clone(),
                    Outcome::Deferred(format!("4.4.2 {error}")),
                );
            }
            continue;
        }
        let rcpts: Vec<Rcpt<'_>> = chunk
            .iter()
            .map(|r| Rcpt {
                address: &r.address,
                notify: notify_param(r.notify),
                orcpt: r.orcpt.as_deref(),
            })
            .collect();
        match s.client.send(&env, &rcpts, body).await {
            Ok(list) => {
                for (r, result) in chunk.iter().zip(list) {
                    let o = match result {
                        RcptResult::Delivered(t) => Outcome::Delivered(t),
                        RcptResult::Deferred(t) => Outcome::Deferred(t),
                        RcptResult::Failed(t) => Outcome::Failed(t),
                    };
                    results.insert(r.address.clone(), o);
                }
            }
            Err(e @ ClientError::Refused { .. }) => {
                let text = e.to_string();
                let reply = match &e {
                    ClientError::Refused { reply, .. } => reply.clone(),
                    _ => text,
                };
                for r in chunk {
                    let o = if e.is_permanent() {
                        Outcome::Failed(reply.clone())
                    } else {
                        Outcome::Deferred(reply.clone())
                    };
                    results.insert(r.address.clone(), o);
                }
                let _ = s.client.rset().await;
            }
            Err(e) => {
                let error = e.to_string();
                for r in chunk {
                    results.insert(
                        r.address.clone(),
                        Outcome::Deferred(format!("4.4.2 {error}")),
                    );
                }
                broken = Some(error);
            }
        }
    }
    if broken.is_some() {
        *session = None;
    } else if let Some(s) = session.as_mut() {
        s.sent += 1;
        s.listed.sent();
        s.listed.sending(None);
    }
    (results, host)
}
