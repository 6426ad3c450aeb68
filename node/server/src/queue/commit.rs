//! Store transactions of the shard owner's delivery side: an attempt's outcome (entry updated
//! or removed, with the DSNs to the sender filed in the same transaction, so a crash neither
//! loses nor repeats them), postponing an entry while its destination is suspended, and the
//! destination's failure count. Each one is fenced: it first checks, in the same transaction,
//! that the shard's owner epoch in the store is still the one this node holds, so a node that
//! lost the shard commits nothing there. (Operators' commands, which need no fence, are in
//! [`super::operator`].)

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

/// Whose write an attempt's outcome is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fence {
    /// The shard owner's delivery: written only while this node holds the shard's epoch.
    Owner,
    /// An operator's command (bounce now), from any node: ordered by the entry's own read.
    Operator,
}

/// The epoch to check for `shard`, or `Err(())` when this node does not hold it.
fn held(ctx: &QueueContext, shard: u16) -> Result<i64, ()> {
    ctx.held.epoch(shard).ok_or(())
}

/// Whether the store's owner epoch of `shard` is no longer `epoch` (read in the caller's
/// transaction, so a concurrent claim aborts it).
async fn fenced(tx: &tern_store::Tx, shard: u16, epoch: i64) -> Result<bool, StoreError> {
    Ok(!shard::still_owned(tx, shard, epoch).await?)
}

/// Counts a write the store's owner epoch refused.
fn count_fenced(write: &str) {
    METRICS.fenced.with_label_values(&[write]).inc();
}

/// An envelope from the null sender to `to`, resolved like any recipient (DSNs, archive copies).
async fn system_transaction(ctx: &QueueContext, to: &str) -> Option<MailTransaction> {
    let address = Address::parse(to).ok()?;
    let (accounts, remote) = match ctx.dir.resolve(&address).await.ok()? {
        Resolved::Local(r) => (r.accounts, r.remote),
        Resolved::NotLocal => (BTreeSet::new(), BTreeSet::from([to.to_string()])),
        Resolved::Unknown => {
            tracing::warn!(to = %to, "system message dropped: the address does not exist here");
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
    fence: Fence,
) -> Result<Committed, DeliverError> {
    let epoch = match fence {
        Fence::Owner => match held(ctx, before.shard) {
            Ok(e) => Some(e),
            Err(()) => {
                count_fenced("attempt");
                return Ok(Committed::ShardLost);
            }
        },
        Fence::Operator => None,
    };
    let at = now();
    let planned = outcome::apply(before, results, host, &ctx.config, at);
    let mut dsns = Vec::new();
    for report in &planned.reports {
        let Some(mail) = system_transaction(ctx, &before.sender).await else {
            continue;
        };
        let mut raw = b"Return-Path: <>\r\n".to_vec();
        let skip = raw.len() as u32;
        raw.extend(dsn::build(report, before, message, &ctx.hostname, host, at));
        dsns.push((Some(report.kind), mail, raw, skip, delivery::queue_id()));
    }
    if let Some(archive) = archive_copy(ctx, before, results, host, message, at).await {
        dsns.push(archive);
    }
    let mut prepared = Vec::with_capacity(dsns.len());
    for (kind, mail, raw, skip, id) in &dsns {
        let mut p =
            delivery::prepare(&ctx.dir, ctx.config.shards, None, mail, id, raw, *skip).await?;
        p.origin = Some(crate::tracking::Origin {
            kind: if kind.is_some() {
                "bounced"
            } else {
                "archived"
            },
            detail: match kind {
                Some(ReportKind::Failure) => {
                    format!("failure notice (DSN {id}) sent to {}", before.sender)
                }
                Some(ReportKind::Delay) => {
                    format!("delay notice (DSN {id}) sent to {}", before.sender)
                }
                Some(ReportKind::Success) => {
                    format!("success notice (DSN {id}) sent to {}", before.sender)
                }
                None => format!("archive copy {id}"),
            },
            about: Some(before.id.clone()),
        });
        prepared.push(p);
    }
    let results = &results;
    let mut file_dsns = true;
    loop {
        let prepared = &prepared;
        let written = ctx
            .dir
            .db()
            .transact(|tx| async move {
                if let Some(epoch) = epoch
                    && fenced(&tx, before.shard, epoch).await?
                {
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
                crate::tracking::attempt(&tx, &current, host, results)?;
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
                if c == Committed::ShardLost {
                    count_fenced("attempt");
                    tracing::warn!(queue_id = %before.id, shard = before.shard, epoch, "attempt not committed: another node holds the shard now");
                }
                if file_dsns && c != Committed::ShardLost && c != Committed::Gone {
                    for (kind, ..) in &dsns {
                        let Some(kind) = kind else { continue };
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

/// A system message to file with an attempt: DSN kind (`None`: archive copy), envelope, raw
/// message, bytes of it for local copies only, queue id.
type SystemMessage = (Option<ReportKind>, MailTransaction, Vec<u8>, u32, String);

/// The archive copy of a message some recipient's server just accepted, when
/// `queue.archive_address` is set. Mail from the null sender (DSNs, archive copies themselves)
/// is not archived, so archiving to a remote address cannot loop. One copy per queue entry (a
/// message to several destination domains has one entry, and one copy, per domain).
async fn archive_copy(
    ctx: &QueueContext,
    entry: &QueueEntry,
    results: &BTreeMap<String, outcome::Result>,
    host: &str,
    message: &[u8],
    at: i64,
) -> Option<SystemMessage> {
    let archive = ctx.config.archive_address.as_deref()?;
    let earlier = entry.recipients.iter().any(|r| {
        matches!(
            r.status,
            tern_store::model::queue::RecipientStatus::Delivered { .. }
        )
    });
    if entry.sender.is_empty() || earlier {
        // One copy per queue entry: the first attempt that delivered anything sends it.
        return None;
    }
    let delivered: Vec<&str> = results
        .iter()
        .filter(|(_, r)| matches!(r, outcome::Result::Delivered(_)))
        .map(|(a, _)| a.as_str())
        .collect();
    if delivered.is_empty() {
        return None;
    }
    let mail = system_transaction(ctx, archive).await?;
    let mut raw = format!("Return-Path: <{}>\r\n", entry.sender).into_bytes();
    let skip = raw.len() as u32;
    raw.extend(
        format!(
            "X-Tern-Archive: queue {} accepted by {host} for {} at {}\r\n",
            entry.id,
            delivered.join(", "),
            tern_proto::date::rfc5322(at)
        )
        .into_bytes(),
    );
    raw.extend_from_slice(message);
    Some((None, mail, raw, skip, delivery::queue_id()))
}

/// Moves an entry's next attempt to `until` without counting an attempt (suspended host).
pub async fn postpone(ctx: &QueueContext, id: &str, until: i64) -> Result<(), ModelError> {
    let refused = ctx
        .dir
        .db()
        .transact(|tx| async move {
            let Some(current) = ops::get(&tx, id).await? else {
                return Ok(false);
            };
            let Ok(epoch) = held(ctx, current.shard) else {
                return Ok(true);
            };
            if fenced(&tx, current.shard, epoch).await? {
                return Ok(true);
            }
            let mut after = current.clone();
            after.next_attempt = until.max(current.next_attempt);
            ops::update(&tx, &current, &after)?;
            Ok::<_, ModelError>(false)
        })
        .await?;
    if refused {
        count_fenced("postpone");
    }
    Ok(())
}

/// Records a connection success (`None`) or failure, suspending the destination after too many
/// failures in a row. Returns the state after the change (unchanged when the node no longer
/// holds the destination's shard).
pub async fn connection_result(
    ctx: &QueueContext,
    domain: &str,
    error: Option<&str>,
) -> Result<Destination, StoreError> {
    let limit = ctx.config.suspend_after_failures;
    let suspend_for = ctx.config.suspend_for.as_secs() as i64;
    let shard_no = tern_store::model::queue::shard_of(domain, ctx.config.shards);
    let (d, refused) = ctx
        .dir
        .db()
        .transact(|tx| async move {
            let mut d = destination::get(&tx, domain).await?;
            match held(ctx, shard_no) {
                Ok(epoch) if fenced(&tx, shard_no, epoch).await? => return Ok((d, true)),
                Ok(_) => {}
                Err(()) => return Ok((d, true)),
            }
            let before = d.clone();
            match error {
                None => {
                    d.failures = 0;
                    d.suspended_until = 0;
                    d.failing_since = 0;
                    d.last_error.clear();
                }
                Some(e) => {
                    if d.failures == 0 {
                        d.failing_since = now();
                    }
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
            Ok((d, false))
        })
        .await?;
    if refused {
        count_fenced("connection");
    }
    Ok(d)
}
