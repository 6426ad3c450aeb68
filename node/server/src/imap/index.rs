//! The mailbox actor's index of its mailbox: every message's record (UID, flags and keywords,
//! MODSEQ, size, internal date), sorted by UID, loaded when the actor starts and kept current
//! from the change deltas the actor reads anyway, so searches on flags, keywords, sizes, dates
//! and sets, and fetches of flags, sizes and dates, answer without reading a record from the
//! store. Sessions share it (an `Arc` published with each change) and use it only when it has
//! caught up with every change committed to the mailbox ([`current`]).

use std::sync::Arc;

use tern_store::{Db, StoreError, model::MessageMeta};

use super::hub::Delta;

/// The published index when it reflects every change committed to the mailbox so far (one key
/// read), so answering from it is answering from the store; `None` when the actor has not
/// caught up (or has no index).
pub async fn current(
    db: &Db,
    mailbox: u64,
    published: Option<Arc<Index>>,
) -> Result<Option<Arc<Index>>, StoreError> {
    let Some(index) = published else {
        return Ok(None);
    };
    let now = db
        .run(|tx| async move { tern_store::model::mailbox::highest_modseq(&tx, mailbox).await })
        .await?;
    Ok((index.modseq >= now).then_some(index))
}

/// The records of a mailbox at one MODSEQ.
#[derive(Debug, Clone, Default)]
pub struct Index {
    /// The MODSEQ every record reflects (at least).
    pub modseq: u64,
    metas: Vec<MessageMeta>,
    /// Bytes the records take, near enough (see [`weight`]).
    bytes: usize,
}

/// The bytes one record takes in the index: the record and its keywords.
fn weight(m: &MessageMeta) -> usize {
    size_of::<MessageMeta>()
        + m.keywords
            .iter()
            .map(|k| size_of::<String>() + k.capacity())
            .sum::<usize>()
}

impl Index {
    /// An index of `metas` (in any order) at `modseq`.
    pub fn new(modseq: u64, mut metas: Vec<MessageMeta>) -> Self {
        metas.sort_unstable_by_key(|m| m.uid);
        metas.dedup_by_key(|m| m.uid);
        let bytes = metas.iter().map(weight).sum();
        Self {
            modseq,
            metas,
            bytes,
        }
    }

    /// Bytes its records take, near enough.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// The record of `uid`, if it is in the mailbox.
    pub fn get(&self, uid: u32) -> Option<&MessageMeta> {
        self.metas
            .binary_search_by_key(&uid, |m| m.uid)
            .ok()
            .map(|i| &self.metas[i])
    }

    /// Every record, by UID.
    pub fn metas(&self) -> &[MessageMeta] {
        &self.metas
    }

    /// Messages indexed.
    pub fn len(&self) -> usize {
        self.metas.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.metas.is_empty()
    }

    /// Applies what changed after `delta.from`: changed or new records replace or join theirs,
    /// expunged ones go. Applying a delta the index already reflects changes nothing.
    pub fn apply(&mut self, delta: &Delta) {
        for m in &delta.changed {
            match self.metas.binary_search_by_key(&m.uid, |x| x.uid) {
                Ok(i) => {
                    if self.metas[i].modseq <= m.modseq {
                        self.bytes = self.bytes + weight(m) - weight(&self.metas[i]);
                        self.metas[i] = m.clone();
                    }
                }
                Err(i) => {
                    self.bytes += weight(m);
                    self.metas.insert(i, m.clone());
                }
            }
        }
        for uid in &delta.expunged {
            if let Ok(i) = self.metas.binary_search_by_key(uid, |x| x.uid) {
                self.bytes -= weight(&self.metas.remove(i));
            }
        }
        self.modseq = self.modseq.max(delta.to);
    }
}

#[cfg(test)]
mod tests {
    use tern_store::model::message::Flags;

    use super::*;

    fn meta(uid: u32, modseq: u64, flags: Flags) -> MessageMeta {
        MessageMeta {
            uid,
            modseq,
            flags,
            keywords: Vec::new(),
            internal_date: 0,
            size: 100,
            blob: tern_store::blob::BlobId([0; 32]),
        }
    }

    #[test]
    fn deltas_add_change_and_remove_records() {
        let mut ix = Index::new(
            5,
            vec![
                meta(3, 3, Flags::default()),
                meta(1, 1, Flags::default()),
                meta(2, 2, Flags::default()),
            ],
        );
        assert_eq!(ix.len(), 3);
        assert_eq!(ix.bytes(), 3 * size_of::<MessageMeta>());
        assert_eq!(ix.get(2).map(|m| m.modseq), Some(2));
        let delta = Delta {
            from: 5,
            to: 8,
            changed: vec![
                MessageMeta {
                    keywords: vec!["$Label1".into()],
                    ..meta(2, 6, Flags::SEEN)
                },
                meta(4, 7, Flags::default()),
            ],
            expunged: vec![1, 9],
        };
        ix.apply(&delta);
        assert_eq!(ix.modseq, 8);
        assert_eq!(ix.bytes(), ix.metas().iter().map(weight).sum::<usize>());
        assert!(ix.get(1).is_none());
        assert!(ix.get(2).is_some_and(|m| m.flags.contains(Flags::SEEN)));
        assert_eq!(ix.get(4).map(|m| m.modseq), Some(7));
        assert_eq!(ix.len(), 3);
        // Again, and an older delta: nothing changes, nothing goes back.
        ix.apply(&delta);
        ix.apply(&Delta {
            from: 4,
            to: 5,
            changed: vec![meta(2, 5, Flags::default())],
            expunged: Vec::new(),
        });
        assert_eq!(ix.modseq, 8);
        assert!(ix.get(2).is_some_and(|m| m.flags.contains(Flags::SEEN)));
        assert_eq!(ix.len(), 3);
    }
}
