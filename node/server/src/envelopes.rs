//! The node's cache of message envelopes — the header fields IMAP SEARCH FROM/TO/CC/BCC/
//! SUBJECT/SENT* and SORT read — keyed by body. A body never changes, so an entry never goes
//! stale and needs no invalidation; a search over a mailbox whose envelopes are cached reads no
//! summary from the store (with the mailbox actor's index, no record either). Mail filed on
//! this node (SMTP, IMAP APPEND) is remembered as it is filed, from the summary parsed for it
//! anyway, so the first search of new mail finds it here too; other envelopes are read on
//! first use. The cache is bounded by an estimate of the bytes it holds (`[imap]
//! envelope_cache_mib`); `quick_cache` (MIT, already in the tree through `mail-auth`) evicts
//! with its CLOCK-Pro policy, so one long scan of a huge mailbox does not flush the envelopes
//! of the mailboxes searched often.

use std::{mem::size_of, sync::Arc};

use quick_cache::{Weighter, sync::Cache};
use tern_store::{
    Db, StoreError,
    blob::{self, BlobId},
    model::{
        Summary, message,
        summary::{Envelope, EnvelopeAddress},
    },
};

use crate::imap::metrics::METRICS;

/// Summaries read per store transaction on a miss.
const READ_BATCH: usize = 500;

/// Envelopes by body, bounded in bytes.
pub struct Envelopes {
    cache: Cache<BlobId, Arc<Envelope>, ByBytes>,
}

#[derive(Clone)]
struct ByBytes;

impl Weighter<BlobId, Arc<Envelope>> for ByBytes {
    fn weight(&self, _key: &BlobId, val: &Arc<Envelope>) -> u64 {
        weight(val)
    }
}

/// The bytes an entry holds, near enough: the key, the envelope, its strings and addresses.
fn weight(e: &Envelope) -> u64 {
    let text = |s: &Option<String>| s.as_ref().map_or(0, String::capacity);
    let addresses = |list: &[EnvelopeAddress]| {
        list.iter()
            .map(|a| {
                size_of::<EnvelopeAddress>() + text(&a.name) + text(&a.mailbox) + text(&a.host)
            })
            .sum::<usize>()
    };
    let bytes = size_of::<BlobId>()
        + size_of::<Envelope>()
        + text(&e.date)
        + text(&e.subject)
        + text(&e.in_reply_to)
        + text(&e.message_id)
        + e.references
            .iter()
            .map(|r| size_of::<String>() + r.capacity())
            .sum::<usize>()
        + [&e.from, &e.sender, &e.reply_to, &e.to, &e.cc, &e.bcc]
            .into_iter()
            .map(|l| addresses(l))
            .sum::<usize>();
    bytes as u64
}

impl Envelopes {
    /// A cache holding about `bytes` of envelopes.
    pub fn new(bytes: u64) -> Self {
        // quick_cache sizes its table from the expected entries: about 400 bytes each.
        let entries = (bytes / 400).clamp(16, 1 << 22) as usize;
        Self {
            cache: Cache::with_weighter(entries, bytes.max(1), ByBytes),
        }
    }

    /// Remembers the envelope of a body just filed.
    pub fn remember(&self, blob: BlobId, envelope: Envelope) {
        self.cache.insert(blob, Arc::new(envelope));
        crate::memory::set("envelope_cache", self.cache.weight());
    }

    /// The envelope of each of `blobs`, in order. Misses are read from the stored summaries in
    /// transactions of [`READ_BATCH`] (a body without one is parsed) and cached.
    pub async fn of(&self, db: &Db, blobs: &[BlobId]) -> Result<Vec<Arc<Envelope>>, StoreError> {
        let mut out: Vec<Option<Arc<Envelope>>> = blobs.iter().map(|b| self.cache.get(b)).collect();
        let missing: Vec<(usize, BlobId)> = out
            .iter()
            .zip(blobs)
            .enumerate()
            .filter(|(_, (e, _))| e.is_none())
            .map(|(i, (_, b))| (i, *b))
            .collect();
        let hits = blobs.len() - missing.len();
        METRICS
            .envelope_lookups
            .with_label_values(&["hit"])
            .inc_by(hits as u64);
        METRICS
            .envelope_lookups
            .with_label_values(&["miss"])
            .inc_by(missing.len() as u64);
        for chunk in missing.chunks(READ_BATCH) {
            let read = db
                .run(|tx| async move {
                    let mut found = Vec::with_capacity(chunk.len());
                    for (_, b) in chunk {
                        found.push(message::summary(&tx, *b).await?.map(|s| s.envelope));
                    }
                    Ok(found)
                })
                .await?;
            for (&(i, b), envelope) in chunk.iter().zip(read) {
                let envelope = match envelope {
                    Some(e) => e,
                    None => match blob::read(db, b).await {
                        Ok(raw) => Summary::parse(&raw).envelope,
                        // A body gone since the record was read (expunged meanwhile): nothing
                        // to match, and nothing worth caching.
                        Err(_) => {
                            out[i] = Some(Arc::new(Envelope::default()));
                            continue;
                        }
                    },
                };
                let envelope = Arc::new(envelope);
                self.cache.insert(b, envelope.clone());
                out[i] = Some(envelope);
            }
        }
        crate::memory::set("envelope_cache", self.cache.weight());
        Ok(out.into_iter().map(Option::unwrap_or_default).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(subject: &str) -> Arc<Envelope> {
        Arc::new(Envelope {
            subject: Some(subject.to_string()),
            from: vec![EnvelopeAddress {
                name: Some("Ann".into()),
                mailbox: Some("ann".into()),
                host: Some("example.com".into()),
            }],
            ..Envelope::default()
        })
    }

    #[test]
    fn the_cache_stays_within_its_bytes() {
        let one = weight(&envelope(&"x".repeat(100)));
        assert!(one > 100, "the weight counts the strings ({one})");
        let cache = Envelopes::new(one * 50);
        for i in 0..1000u32 {
            let mut id = [0u8; 32];
            id[..4].copy_from_slice(&i.to_be_bytes());
            cache.cache.insert(BlobId(id), envelope(&"x".repeat(100)));
        }
        assert!(cache.cache.weight() <= one * 50, "{}", cache.cache.weight());
        assert!(
            cache.cache.len() >= 10,
            "it keeps entries: {}",
            cache.cache.len()
        );
    }
}
