//! Message bodies as content-addressed blobs (BLAKE3), stored in chunks below the value limit.
//!
//! Small bodies are written inside the transaction that links them. Larger ones are uploaded
//! first, in transactions of their own under a `pending` marker, and then linked by a small
//! transaction, so a body bigger than one transaction's 10 MB is safe. Blobs count their
//! references; [`crate::reclaim`] removes unlinked uploads and unreferenced blobs.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{
    Db, KeyValue, RangeOptions, Result, StoreError, Tx,
    codec::{decode, encode},
    keys::{blob as k, printable},
};

/// Bytes per chunk: below FoundationDB's 100 000-byte value limit.
pub const CHUNK_BYTES: usize = 96 * 1024;
/// Bodies up to this size are written inside the linking transaction.
pub const INLINE_MAX: usize = 1024 * 1024;
/// Chunks written (or read) per transaction when a body is uploaded (or read) separately.
const CHUNKS_PER_TX: usize = 32;
/// How long an upload may stay unlinked before the collector removes it.
pub const PENDING_TTL: Duration = Duration::from_secs(3600);

/// The content address of a blob.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BlobId(pub [u8; 32]);

impl BlobId {
    /// The BLAKE3 hash of `body`.
    pub fn of(body: &[u8]) -> Self {
        Self(*blake3::hash(body).as_bytes())
    }
}

impl std::fmt::Display for BlobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl std::fmt::Debug for BlobId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BlobId({self})")
    }
}

#[derive(Serialize, Deserialize)]
pub(crate) struct Meta {
    pub(crate) size: u64,
    chunks: u32,
}

/// A body ready to be linked: either still in memory (small) or already uploaded.
pub struct Staged<'a> {
    /// Its address.
    pub id: BlobId,
    /// Its length in bytes.
    pub size: u64,
    inline: Option<std::borrow::Cow<'a, [u8]>>,
}

impl Staged<'_> {
    /// The same, owning its in-memory body (to hand it to another task).
    pub fn into_owned(self) -> Staged<'static> {
        Staged {
            id: self.id,
            size: self.size,
            inline: self.inline.map(|b| std::borrow::Cow::Owned(b.into_owned())),
        }
    }

    /// Bytes the linking transaction writes for it (its body when small, else none).
    pub fn inline_len(&self) -> usize {
        self.inline.as_ref().map_or(0, |b| b.len())
    }
}

fn chunk_count(size: usize) -> u32 {
    size.div_ceil(CHUNK_BYTES) as u32
}

pub(crate) fn now_secs() -> u64 {
    crate::clock::now().max(0) as u64
}

/// Prepares `body` for linking, uploading it first when it is too large to be written inside
/// the linking transaction.
pub async fn stage<'a>(db: &Db, body: &'a [u8]) -> Result<Staged<'a>> {
    let id = BlobId::of(body);
    let size = body.len() as u64;
    if body.len() <= INLINE_MAX {
        return Ok(Staged {
            id,
            size,
            inline: Some(std::borrow::Cow::Borrowed(body)),
        });
    }
    let chunks: Vec<&[u8]> = body.chunks(CHUNK_BYTES).collect();
    for (group_no, group) in chunks.chunks(CHUNKS_PER_TX).enumerate() {
        let first = group_no * CHUNKS_PER_TX;
        db.run(|tx| async move {
            if first == 0 {
                tx.set(&k::pending(&id.0), &now_secs().to_le_bytes())?;
            }
            for (i, chunk) in group.iter().enumerate() {
                tx.set(&k::chunk(&id.0, (first + i) as u32), chunk)?;
            }
            Ok(())
        })
        .await?;
    }
    Ok(Staged {
        id,
        size,
        inline: None,
    })
}

/// Adds a reference to a staged blob inside the caller's transaction.
pub async fn link(tx: &Tx, staged: &Staged<'_>) -> Result<BlobId> {
    let id = staged.id;
    let exists = tx.get(&k::meta(&id.0)).await?.is_some();
    if !exists {
        match &staged.inline {
            Some(body) => {
                for (i, chunk) in body.chunks(CHUNK_BYTES).enumerate() {
                    tx.set(&k::chunk(&id.0, i as u32), chunk)?;
                }
            }
            None => {
                if tx.get(&k::pending(&id.0)).await?.is_none() {
                    return Err(StoreError::Backend {
                        code: 0,
                        message: format!("upload of blob {id} was collected before it was linked"),
                        retryable: false,
                    });
                }
            }
        }
        let meta = Meta {
            size: staged.size,
            chunks: chunk_count(staged.size as usize),
        };
        tx.set(&k::meta(&id.0), &encode(&meta)?)?;
    }
    if staged.inline.is_none() {
        tx.clear(&k::pending(&id.0))?;
    }
    tx.atomic_add(&k::refs(&id.0), 1)?;
    Ok(id)
}

/// Drops one reference; the collector removes the blob once none is left.
pub fn unlink(tx: &Tx, id: BlobId) -> Result<()> {
    tx.atomic_add(&k::refs(&id.0), -1)?;
    crate::reclaim::mark(tx, &id.0)
}

/// Reads a whole blob, in as many transactions as its size needs.
pub async fn read(db: &Db, id: BlobId) -> Result<Vec<u8>> {
    let meta: Meta = db
        .run(|tx| async move { tx.get(&k::meta(&id.0)).await })
        .await?
        .map(|v| decode(&k::meta(&id.0), &v))
        .transpose()?
        .ok_or_else(|| StoreError::Corrupt {
            key: printable(&k::meta(&id.0)),
            reason: format!("blob {id} is missing"),
        })?;
    let mut body = Vec::with_capacity(meta.size as usize);
    let mut next = 0u32;
    while next < meta.chunks {
        let from = next;
        let part: Vec<KeyValue> = db
            .run(|tx| async move {
                let (_, end) = k::chunks(&id.0);
                tx.get_range(
                    &k::chunk(&id.0, from),
                    &end,
                    RangeOptions::all().limit(CHUNKS_PER_TX),
                )
                .await
            })
            .await?;
        if part.is_empty() {
            break;
        }
        for kv in &part {
            body.extend_from_slice(&kv.value);
        }
        next += part.len() as u32;
    }
    if body.len() as u64 != meta.size {
        return Err(StoreError::Corrupt {
            key: id.to_string(),
            reason: format!("blob has {} of {} bytes", body.len(), meta.size),
        });
    }
    Ok(body)
}
