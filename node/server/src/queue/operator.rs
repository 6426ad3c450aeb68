//! Operator commands on the queue, from any node: hold, release, retry (one entry, a
//! destination, everything), delete, bounce now, and clearing a destination's suspension.
//!
//! These take no shard fence, and need none: they are not decisions of the shard's owner. Each
//! one reads the entry it changes inside its own serializable transaction, and so does the
//! owner's commit of an attempt ([`super::commit`]), so the two are ordered by the store: either
//! the operator's change sees the attempt's outcome (the entry updated or gone), or the
//! attempt's commit sees the operator's change (a held flag kept, a deleted entry reported
//! `Gone`). Whichever node owns the shard then picks the change up at its next scan. New
//! entries (SMTP, re-injection, DSNs) likewise need no fence: any node may enqueue into any
//! shard, and the due index is what the owner scans.

use tern_store::model::{
    ModelError, now,
    queue::{QueueEntry, destination, ops},
};

use super::{QueueContext, commit, outcome};

/// Entries rescheduled per transaction by [`retry_all`].
const RETRY_BATCH: usize = 500;

/// Changes one entry in a transaction; `None` when there is no such entry.
async fn change(
    ctx: &QueueContext,
    id: &str,
    f: impl Fn(&mut QueueEntry) + Copy,
) -> Result<Option<QueueEntry>, ModelError> {
    ctx.dir
        .db()
        .transact(|tx| async move {
            let Some(current) = ops::get(&tx, id).await? else {
                return Ok(None);
            };
            let mut after = current.clone();
            f(&mut after);
            ops::update(&tx, &current, &after)?;
            Ok::<_, ModelError>(Some(after))
        })
        .await
}

/// Keeps an entry from being tried until released.
pub async fn hold(ctx: &QueueContext, id: &str) -> Result<Option<QueueEntry>, ModelError> {
    change(ctx, id, |e| e.held = true).await
}

/// Puts a held entry back, due now.
pub async fn release(ctx: &QueueContext, id: &str) -> Result<Option<QueueEntry>, ModelError> {
    let at = now();
    change(ctx, id, |e| {
        e.held = false;
        e.next_attempt = at;
    })
    .await
}

/// Makes an entry due now and clears its destination's suspension.
pub async fn retry(ctx: &QueueContext, id: &str) -> Result<Option<QueueEntry>, ModelError> {
    let at = now();
    let Some(e) = change(ctx, id, |e| e.next_attempt = at).await? else {
        return Ok(None);
    };
    clear_suspension(ctx, Some(&e.domain)).await?;
    Ok(Some(e))
}

/// Makes every entry not held (of `domain`, or all) due now, in transactions of a few hundred
/// entries, and clears the suspensions. Returns how many were rescheduled.
pub async fn retry_all(ctx: &QueueContext, domain: Option<&str>) -> Result<u64, ModelError> {
    let at = now();
    let mut count = 0u64;
    let mut after: Option<String> = None;
    loop {
        let cursor = after.as_deref();
        let (n, last, done) = ctx
            .dir
            .db()
            .transact(|tx| async move {
                let page = ops::page(&tx, cursor, RETRY_BATCH).await?;
                let mut n = 0u64;
                for listed in &page {
                    if listed.held
                        || domain.is_some_and(|d| !d.eq_ignore_ascii_case(&listed.domain))
                    {
                        continue;
                    }
                    // Read again, serializably: the page was a snapshot.
                    let Some(current) = ops::get(&tx, &listed.id).await? else {
                        continue;
                    };
                    let mut later = current.clone();
                    later.next_attempt = at;
                    ops::update(&tx, &current, &later)?;
                    n += 1;
                }
                let last = page.last().map(|e| e.id.clone());
                Ok::<_, ModelError>((n, last, page.len() < RETRY_BATCH))
            })
            .await?;
        count += n;
        if done {
            break;
        }
        after = last;
    }
    clear_suspension(ctx, domain).await?;
    Ok(count)
}

/// Removes an entry without notifying anyone; `false` when there is no such entry.
pub async fn delete(ctx: &QueueContext, id: &str) -> Result<bool, ModelError> {
    ctx.dir
        .db()
        .transact(|tx| async move {
            let Some(current) = ops::get(&tx, id).await? else {
                return Ok(false);
            };
            ops::remove(&tx, &current)?;
            Ok::<_, ModelError>(true)
        })
        .await
}

/// Fails every open recipient of `entry` now ("bounce now") and sends the sender a DSN.
pub async fn bounce(ctx: &QueueContext, entry: &QueueEntry) -> Result<(), String> {
    let results = entry
        .open_recipients()
        .map(|r| {
            (
                r.address.clone(),
                outcome::Result::Failed(
                    "5.3.0 returned to the sender by the postmaster of this system".into(),
                ),
            )
        })
        .collect();
    let message = tern_store::blob::read(ctx.dir.db(), entry.blob)
        .await
        .map_err(|e| e.to_string())?;
    let body = &message[(entry.skip as usize).min(message.len())..];
    commit::attempt(ctx, entry, &results, "", body, commit::Fence::Operator)
        .await
        .map(|_| ())
        .map_err(|e| format!("{e:?}"))
}

/// Forgets the failures and suspension of `domain` (or of every destination).
pub async fn clear_suspension(ctx: &QueueContext, domain: Option<&str>) -> Result<(), ModelError> {
    ctx.dir
        .db()
        .transact(|tx| async move {
            for mut d in destination::all(&tx).await? {
                if domain.is_none_or(|x| x.eq_ignore_ascii_case(&d.domain)) {
                    d.failures = 0;
                    d.suspended_until = 0;
                    d.failing_since = 0;
                    destination::put(&tx, &d)?;
                }
            }
            Ok::<_, ModelError>(())
        })
        .await
}
