//! Store transactions of the queue: an attempt's outcome (entry updated or removed, with the
//! DSNs to the sender filed in the same transaction, so a crash neither loses nor repeats
//! them), postponing an entry while its destination is suspended, and the destination's
//! failure count. Every transaction first checks that this node still owns the shard.

use std::collections::{BTreeMap, BTreeSet};

use tern_proto::Address;
use tern_store::{
    StoreError,
    model::{
        ModelError, now,
        queue::{
            Notify, QueueEntry,
            destination::{self, Destination},
            ops, shard,
        },
        resolve::Recipient as Resolved,
    },
};

use super::{
    QueueContext, dsn,
    metrics::METRICS,
    outcome::{self, ReportKind},
};
use crate::{
    delivery::{self, DeliverError},
    smtp::session::{MailTransaction, Recipient},
};

/// How a commit ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Committed {
    /// The outcome was written; `done` when the entry was removed.
    Applied {
        /// No recipient left.
        done: bool,
    },
    /// The entry was deleted (operator, bounce now) while it was being delivered.
    Gone,
    /// Another node owns the shard now; nothing was written.
    ShardLost,
}

/// The DSN's envelope: null sender, to the original sender, resolved like any recipient.
async fn dsn_transaction(ctx: &QueueContext, to: &str) -> Option<MailTransaction> {
    let address = Address::parse(to).ok()?;
    let (accounts, remote) = match ctx.dir.resolve(&address).await.ok()? {
        Resolved::Local(r) => (r.accounts, r.remote),
        Resolved::NotLocal => (BTreeSet::new(), BTreeSet::from([to.to_string()])),
        Resolved::Unknown => {
            tracing::warn!(sender = %to, "DSN dropped: the sender address does not exist here");
            return None;
        }
    };
    Some(MailTransaction {
        from: String::new(),
        recipients: vec![Recipient {
            address: to.to_string(),
            accounts,
            remote,
            orcpt: None,
            notify: Notify(Notify::NEVER),
        }],
        ..MailTransaction::default()
    })
}

/// Commits the results of an attempt on `before` at `host`; `message` is what was sent (for
/// the DSN's returned headers or content).
pub async fn attempt(
    ctx: &QueueContext,
    before: &QueueEntry,
    results: &BTreeMap<String, outcome::Result>,
    host: &str,
    message: &[u8],
) -> Result<Committed, DeliverError> {
    let at = now();
    let planned = outcome::apply(before, results, host, &ctx.config, at);
    let mut dsns = Vec::new();
    for report in &planned.reports {
        let Some(mail) = dsn_transaction(ctx, &before.sender).await else {
            continue;
        };
        let mut raw = b"Return-Path: <>\r\n".to_vec();
        raw.extend(dsn::build(report, before, message, &ctx.hostname, host, at));
        dsns.push((report.kind, mail, raw, delivery::queue_id()));
    }
    let mut prepared = Vec::with_capacity(dsns.len());
    for (_, mail, raw, id) in &dsns {
        let skip = b"Return-Path: <>\r\n".len() as u32;
        prepared
            .push(delivery::prepare(&ctx.dir, ctx.config.shards, None, mail, id, raw, skip).await?);
    }
    let Some(epoch) = ctx.epochs.get(usize::from(before.shard)).copied().flatten() else {
        return Ok(Committed::ShardLost);
    };
    let results = &results;
    let mut file_dsns = true;
    loop {
        let prepared = &prepared;
        let written = ctx
            .dir
            .db()
            .transact(|tx| async move {
                if !shard::still_owned(&tx, before.shard, epoch).await? {
                    return Ok(Committed::ShardLost);
                }
                let Some(current) = ops::get(&tx, &before.id).await? else {
                    return Ok(Committed::Gone);
                };
                let applied = outcome::apply(&current, results, host, &ctx.config, at);
                if applied.done {
                    ops::remove(&tx, &current)?;
                } else {
                    ops::update(&tx, &current, &applied.entry)?;
                }
                if file_dsns {
                    for p in prepared {
                        delivery::file(&tx, p).await?;
                    }
                }
                Ok::<_, DeliverError>(Committed::Applied { done: applied.done })
            })
            .await;
        match written {
            Err(DeliverError::Quota(address)) if file_dsns => {
                tracing::warn!(queue_id = %before.id, sender = %address, "DSN dropped: the sender's mailbox is full");
                file_dsns = false;
            }
            Ok(c) => {
                if file_dsns && c != Committed::ShardLost && c != Committed::Gone {
                    for (kind, ..) in &dsns {
                        let label = match kind {
                            ReportKind::Failure => "failure",
                            ReportKind::Delay => "delay",
                            ReportKind::Success => "success",
                        };
                        METRICS.dsn.with_label_values(&[label]).inc();
                        tracing::info!(queue_id = %before.id, kind = label, to = %before.sender, "DSN sent");
                    }
                }
                return Ok(c);
            }
            Err(e) => return Err(e),
        }
    }
}

/// Moves an entry's next attempt to `until` without counting an attempt (suspended host).
pub async fn postpone(ctx: &QueueContext, id: &str, until: i64) -> Result<(), ModelError> {
    ctx.dir
        .db()
        .transact(|tx| async move {
            let Some(current) = ops::get(&tx, id).await? else {
                return Ok(());
            };
            let Some(epoch) = ctx
                .epochs
                .get(usize::from(current.shard))
                .copied()
                .flatten()
            else {
                return Ok(());
            };
            if !shard::still_owned(&tx, current.shard, epoch).await? {
                return Ok(());
            }
            let mut after = current.clone();
            after.next_attempt = until.max(current.next_attempt);
            ops::update(&tx, &current, &after)?;
            Ok::<_, ModelError>(())
        })
        .await
}

/// Records a connection success (`None`) or failure, suspending the destination after too many
/// failures in a row. Returns the state after the change.
pub async fn connection_result(
    ctx: &QueueContext,
    domain: &str,
    error: Option<&str>,
) -> Result<Destination, StoreError> {
    let limit = ctx.config.suspend_after_failures;
    let suspend_for = ctx.config.suspend_for.as_secs() as i64;
    ctx.dir
        .db()
        .transact(|tx| async move {
            let mut d = destination::get(&tx, domain).await?;
            let before = d.clone();
            match error {
                None => {
                    d.failures = 0;
                    d.suspended_until = 0;
                    d.last_error.clear();
                }
                Some(e) => {
                    d.failures += 1;
                    d.last_error = e.to_string();
                    if d.failures >= limit && suspend_for > 0 {
                        d.suspended_until = now() + suspend_for;
                    }
                }
            }
            if d != before {
                destination::put(&tx, &d)?;
            }
            Ok(d)
        })
        .await
}
