//! Reclaiming the space of deleted mail. Dropping a blob's last reference (an expunge, a
//! delivered queue entry) leaves a marker counting the drops and adds to a sharded backlog
//! counter, blind writes that never conflict. The collector takes markers a page at a time and
//! examines a few blobs per transaction: a blob with no reference left (and no upload of the
//! same content in progress) loses its chunks, metadata and summary; either way the marker
//! goes and the backlog shrinks by what it counted. Paged and bounded per transaction, it keeps
//! up with any expunge rate it is called often enough for; [`backlog`] says how far behind it is.
//! Uploads never linked are removed after their time to live the same way.

use std::time::Duration;

use crate::{
    Db, RangeOptions, Result, Tx, blob::Meta, codec::decode, keys::blob as k, tx::decode_counter,
};

/// Blobs examined per transaction (each clears at most a few keys and one chunk range).
const PER_TX: usize = 16;
/// Shards of the backlog counter, so concurrent unlinks add to different keys.
const BACKLOG_SHARDS: u8 = 16;

/// What one page of reclaiming did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Reclaimed {
    /// Markers examined.
    pub examined: usize,
    /// Blobs removed.
    pub blobs: usize,
    /// Their bytes.
    pub bytes: u64,
    /// Uploads never linked, removed with their chunks.
    pub abandoned: usize,
    /// The page was full: more may be waiting.
    pub more: bool,
}

impl std::ops::AddAssign for Reclaimed {
    fn add_assign(&mut self, o: Reclaimed) {
        self.examined += o.examined;
        self.blobs += o.blobs;
        self.bytes += o.bytes;
        self.abandoned += o.abandoned;
        self.more |= o.more;
    }
}

/// The backlog counter shard of blob `hash`.
fn shard(hash: &[u8; 32]) -> u8 {
    hash[0] % BACKLOG_SHARDS
}

/// Records one dropped reference of blob `hash` for the collector (blind writes).
pub(crate) fn mark(tx: &Tx, hash: &[u8; 32]) -> Result<()> {
    tx.atomic_add(&k::unreferenced(hash), 1)?;
    tx.atomic_add(&k::backlog(shard(hash)), 1)
}

/// Dropped references not yet examined, over every shard.
pub async fn backlog(db: &Db) -> Result<i64> {
    db.run(|tx| async move {
        let mut total = 0;
        for s in 0..BACKLOG_SHARDS {
            total += tx.get_counter(&k::backlog(s)).await?;
        }
        Ok(total.max(0))
    })
    .await
}

/// Examines up to `page` markers, from the hash `from` on (wrapping around: nodes that start
/// at different places rarely collide); blobs without references are removed.
pub async fn unreferenced(db: &Db, page: usize, from: [u8; 32]) -> Result<Reclaimed> {
    let markers = db
        .run(|tx| async move {
            let (begin, end) = k::all_unreferenced();
            let middle = k::unreferenced(&from);
            let mut found = tx
                .get_range(&middle, &end, RangeOptions::all().limit(page).snapshot())
                .await?;
            if found.len() < page {
                let rest = RangeOptions::all().limit(page - found.len()).snapshot();
                found.extend(tx.get_range(&begin, &middle, rest).await?);
            }
            Ok(found)
        })
        .await?;
    let mut done = Reclaimed {
        more: markers.len() >= page,
        ..Reclaimed::default()
    };
    let hashes: Vec<[u8; 32]> = markers
        .iter()
        .filter_map(|kv| k::hash_of(&kv.key))
        .collect();
    for batch in hashes.chunks(PER_TX) {
        done += db
            .run(|tx| async move {
                let mut r = Reclaimed::default();
                for hash in batch {
                    let Some(marks) = tx.get(&k::unreferenced(hash)).await? else {
                        continue; // examined meanwhile by another node
                    };
                    r.examined += 1;
                    tx.clear(&k::unreferenced(hash))?;
                    // A marker from before markers counted (an empty value) counted nothing.
                    let counted = decode_counter(&k::unreferenced(hash), Some(marks))?;
                    if counted != 0 {
                        tx.atomic_add(&k::backlog(shard(hash)), -counted)?;
                    }
                    // Referenced again, or an upload of the same content in progress: kept.
                    if tx.get_counter(&k::refs(hash)).await? > 0
                        || tx.get(&k::pending(hash)).await?.is_some()
                    {
                        continue;
                    }
                    if let Some(meta) = tx.get(&k::meta(hash)).await? {
                        r.bytes += decode::<Meta>(&k::meta(hash), &meta).map_or(0, |m| m.size);
                        r.blobs += 1;
                    }
                    tx.clear(&k::meta(hash))?;
                    tx.clear(&k::refs(hash))?;
                    tx.clear(&k::summary(hash))?;
                    tx.clear_prefix(&k::chunks(hash))?;
                }
                Ok(r)
            })
            .await?;
    }
    Ok(done)
}

/// Removes up to `page` uploads unlinked for longer than `ttl`.
pub async fn abandoned(db: &Db, ttl: Duration, page: usize) -> Result<Reclaimed> {
    let cutoff = crate::blob::now_secs().saturating_sub(ttl.as_secs());
    let pending = db
        .run(|tx| async move {
            tx.get_prefix(
                &k::all_pending(),
                RangeOptions::all().limit(page).snapshot(),
            )
            .await
        })
        .await?;
    let mut done = Reclaimed {
        more: pending.len() >= page,
        ..Reclaimed::default()
    };
    let hashes: Vec<[u8; 32]> = pending
        .iter()
        .filter_map(|kv| k::hash_of(&kv.key))
        .collect();
    for batch in hashes.chunks(PER_TX) {
        done += db
            .run(|tx| async move {
                let mut r = Reclaimed::default();
                for hash in batch {
                    let Some(at) = tx.get(&k::pending(hash)).await? else {
                        continue;
                    };
                    let at = u64::from_le_bytes(
                        at.get(..8)
                            .and_then(|b| b.try_into().ok())
                            .unwrap_or([0; 8]),
                    );
                    if at > cutoff {
                        continue;
                    }
                    tx.clear(&k::pending(hash))?;
                    if tx.get(&k::meta(hash)).await?.is_none() {
                        tx.clear_prefix(&k::chunks(hash))?;
                        r.abandoned += 1;
                    }
                }
                Ok(r)
            })
            .await?;
    }
    Ok(done)
}

/// Everything there is to reclaim now, page after page: abandoned uploads older than
/// `pending_ttl`, then unreferenced blobs.
pub async fn collect_garbage(db: &Db, pending_ttl: Duration) -> Result<Reclaimed> {
    const PAGE: usize = 1000;
    let mut total = drain(|| abandoned(db, pending_ttl, PAGE)).await?;
    total += drain(|| unreferenced(db, PAGE, [0; 32])).await?;
    Ok(total)
}

/// Runs `page` until it says there is no more; the sum of what the pages reclaimed.
async fn drain<F: std::future::Future<Output = Result<Reclaimed>>>(
    mut page: impl FnMut() -> F,
) -> Result<Reclaimed> {
    let mut total = Reclaimed::default();
    loop {
        let r = page().await?;
        total += r;
        if !r.more {
            total.more = false;
            return Ok(total);
        }
    }
}
