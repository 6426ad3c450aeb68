//! Messages in mailboxes: append with UID and MODSEQ allocated inside the transaction, flag
//! changes, expunge, listing. Every change bumps the mailbox's change counter, which sessions
//! on every node watch.

use serde::{Deserialize, Serialize};

use super::{account, codec, mailbox, summary::Summary};
use crate::{
    RangeOptions, StoreError, Tx,
    blob::{self, BlobId, Staged},
    keys::{blob as bk, mail as k},
};

/// System flags as a bit set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Flags(pub u8);

impl Flags {
    /// `\Seen`.
    pub const SEEN: Flags = Flags(1);
    /// `\Answered`.
    pub const ANSWERED: Flags = Flags(2);
    /// `\Flagged`.
    pub const FLAGGED: Flags = Flags(4);
    /// `\Deleted`.
    pub const DELETED: Flags = Flags(8);
    /// `\Draft`.
    pub const DRAFT: Flags = Flags(16);

    /// Whether every flag of `other` is set.
    pub fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Both sets.
    pub fn union(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }

    /// This set without `other`.
    pub fn without(self, other: Flags) -> Flags {
        Flags(self.0 & !other.0)
    }
}

/// A message's record (the body is a blob; its parsed summary is stored with the blob).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageMeta {
    /// IMAP UID.
    pub uid: u32,
    /// MODSEQ of the last change.
    pub modseq: u64,
    /// System flags.
    pub flags: Flags,
    /// Keywords (user flags).
    #[serde(default)]
    pub keywords: Vec<String>,
    /// INTERNALDATE, Unix seconds.
    pub internal_date: i64,
    /// RFC822.SIZE in bytes.
    pub size: u64,
    /// The body.
    pub blob: BlobId,
}

/// A message about to be appended.
pub struct NewMessage<'a> {
    /// The staged body.
    pub body: &'a Staged<'a>,
    /// Its summary, stored once per blob.
    pub summary: Option<&'a Summary>,
    /// Initial flags.
    pub flags: Flags,
    /// Initial keywords.
    pub keywords: Vec<String>,
    /// INTERNALDATE.
    pub internal_date: i64,
}

async fn next_modseq(tx: &Tx, mailbox: u64, new_uid: bool) -> Result<(u32, u64), StoreError> {
    let mut seq = mailbox::sequence(tx, mailbox).await?;
    let uid = seq.uidnext;
    if new_uid {
        seq.uidnext = seq
            .uidnext
            .checked_add(1)
            .ok_or_else(|| StoreError::Corrupt {
                key: format!("mailbox {mailbox}"),
                reason: "UID space exhausted".into(),
            })?;
    }
    seq.highest_modseq += 1;
    codec::write(tx, &k::sequence(mailbox), &seq)?;
    tx.atomic_add(&k::change(mailbox), 1)?;
    Ok((uid, seq.highest_modseq))
}

/// Allocates the UID (and MODSEQ) of a new message, refusing a UID whose message key exists:
/// a second line of defence, so a lost update in the sequence fails the transaction instead of
/// overwriting a message that was acknowledged.
async fn next_new_uid(tx: &Tx, mailbox: u64) -> Result<(u32, u64), StoreError> {
    let (uid, modseq) = next_modseq(tx, mailbox, true).await?;
    let key = k::message(mailbox, uid);
    if tx.get(&key).await?.is_some() {
        return Err(StoreError::Corrupt {
            key: crate::keys::printable(&key),
            reason: format!(
                "UID {uid} of mailbox {mailbox} is already in use; refusing to overwrite it"
            ),
        });
    }
    Ok((uid, modseq))
}

/// Appends a message, returning its record. Quota is the caller's decision.
pub async fn append(
    tx: &Tx,
    account: u64,
    mailbox: u64,
    new: &NewMessage<'_>,
) -> Result<MessageMeta, StoreError> {
    let blob = blob::link(tx, new.body).await?;
    if let Some(summary) = new.summary {
        let key = bk::summary(&blob.0);
        let stored = tx.get_snapshot(&key).await?;
        // Written once per body, and again over a record in an older layout.
        if stored.is_none_or(|b| codec::decode::<Summary>(&key, &b).is_err()) {
            let bytes = codec::encode(summary)?;
            // A summary too big for one value is recomputed from the body when needed.
            if bytes.len() <= crate::limits::MAX_VALUE_BYTES {
                tx.set(&key, &bytes)?;
            }
        }
    }
    let (uid, modseq) = next_new_uid(tx, mailbox).await?;
    let meta = MessageMeta {
        uid,
        modseq,
        flags: new.flags,
        keywords: new.keywords.clone(),
        internal_date: new.internal_date,
        size: new.body.size,
        blob,
    };
    codec::write(tx, &k::message(mailbox, uid), &meta)?;
    tx.set(&k::modseq(mailbox, modseq), &uid.to_le_bytes())?;
    let size = meta.size as i64;
    tx.atomic_add(&k::counter(mailbox, "exists"), 1)?;
    tx.atomic_add(&k::counter(mailbox, "bytes"), size)?;
    if !meta.flags.contains(Flags::SEEN) {
        tx.atomic_add(&k::counter(mailbox, "unseen"), 1)?;
    }
    account::add_usage(tx, account, size, 1)?;
    Ok(meta)
}

/// Replaces a message's flags and keywords, giving it a new MODSEQ. `None` if no such UID.
pub async fn set_flags(
    tx: &Tx,
    mailbox: u64,
    uid: u32,
    flags: Flags,
    keywords: Vec<String>,
) -> Result<Option<MessageMeta>, StoreError> {
    let Some(meta) = get(tx, mailbox, uid).await? else {
        return Ok(None);
    };
    Ok(set_flags_of(tx, mailbox, vec![(meta, flags, keywords)])
        .await?
        .pop())
}

/// Replaces the flags and keywords of many messages of `mailbox`, each record as read in this
/// transaction, giving them consecutive new MODSEQs: the mailbox's sequence is read and
/// written once and its counters moved once, however many messages change (STORE on a range).
pub async fn set_flags_of(
    tx: &Tx,
    mailbox: u64,
    changes: Vec<(MessageMeta, Flags, Vec<String>)>,
) -> Result<Vec<MessageMeta>, StoreError> {
    if changes.is_empty() {
        return Ok(Vec::new());
    }
    let mut seq = mailbox::sequence(tx, mailbox).await?;
    let mut unseen = 0i64;
    let mut out = Vec::with_capacity(changes.len());
    for (mut meta, flags, keywords) in changes {
        seq.highest_modseq += 1;
        match (
            meta.flags.contains(Flags::SEEN),
            flags.contains(Flags::SEEN),
        ) {
            (true, false) => unseen += 1,
            (false, true) => unseen -= 1,
            _ => {}
        }
        tx.clear(&k::modseq(mailbox, meta.modseq))?;
        meta.flags = flags;
        meta.keywords = keywords;
        meta.modseq = seq.highest_modseq;
        codec::write(tx, &k::message(mailbox, meta.uid), &meta)?;
        tx.set(&k::modseq(mailbox, meta.modseq), &meta.uid.to_le_bytes())?;
        out.push(meta);
    }
    codec::write(tx, &k::sequence(mailbox), &seq)?;
    tx.atomic_add(&k::change(mailbox), 1)?;
    if unseen != 0 {
        tx.atomic_add(&k::counter(mailbox, "unseen"), unseen)?;
    }
    Ok(out)
}

/// Removes messages, recording each expunge with its MODSEQ; returns the UIDs removed.
pub async fn expunge(
    tx: &Tx,
    account: u64,
    mailbox: u64,
    uids: &[u32],
) -> Result<Vec<u32>, StoreError> {
    let mut removed = Vec::new();
    for &uid in uids {
        let Some(meta) = get(tx, mailbox, uid).await? else {
            continue;
        };
        let (_, modseq) = next_modseq(tx, mailbox, false).await?;
        tx.clear(&k::message(mailbox, uid))?;
        tx.clear(&k::modseq(mailbox, meta.modseq))?;
        tx.set(&k::expunged(mailbox, modseq), &uid.to_le_bytes())?;
        let size = meta.size as i64;
        tx.atomic_add(&k::counter(mailbox, "exists"), -1)?;
        tx.atomic_add(&k::counter(mailbox, "bytes"), -size)?;
        if !meta.flags.contains(Flags::SEEN) {
            tx.atomic_add(&k::counter(mailbox, "unseen"), -1)?;
        }
        account::add_usage(tx, account, -size, -1)?;
        blob::unlink(tx, meta.blob)?;
        removed.push(uid);
    }
    Ok(removed)
}

/// One message by UID.
pub async fn get(tx: &Tx, mailbox: u64, uid: u32) -> Result<Option<MessageMeta>, StoreError> {
    codec::read(tx, &k::message(mailbox, uid)).await
}

/// Messages with UID ≥ `from`, in UID order, at most `limit`.
pub async fn list(
    tx: &Tx,
    mailbox: u64,
    from: u32,
    limit: Option<usize>,
) -> Result<Vec<MessageMeta>, StoreError> {
    let opts = RangeOptions {
        limit,
        ..RangeOptions::all()
    };
    let kvs = tx
        .get_prefix(&k::messages_from(mailbox, from), opts)
        .await?;
    kvs.iter()
        .map(|kv| codec::decode(&kv.key, &kv.value))
        .collect()
}

/// The stored summary of a blob. A record that does not decode (an older layout) is only a
/// cache: it reads as absent and the caller parses the body.
pub async fn summary(tx: &Tx, blob: BlobId) -> Result<Option<Summary>, StoreError> {
    let key = bk::summary(&blob.0);
    Ok(tx
        .get(&key)
        .await?
        .and_then(|bytes| codec::decode(&key, &bytes).ok()))
}

/// Files a copy of `source` (from any mailbox of the same account) into `mailbox`, sharing its
/// body, with the given flags; returns the new record.
pub async fn copy(
    tx: &Tx,
    account: u64,
    mailbox: u64,
    source: &MessageMeta,
    flags: Flags,
    keywords: Vec<String>,
) -> Result<MessageMeta, StoreError> {
    tx.atomic_add(&bk::refs(&source.blob.0), 1)?;
    let (uid, modseq) = next_new_uid(tx, mailbox).await?;
    let meta = MessageMeta {
        uid,
        modseq,
        flags,
        keywords,
        internal_date: source.internal_date,
        size: source.size,
        blob: source.blob,
    };
    codec::write(tx, &k::message(mailbox, uid), &meta)?;
    tx.set(&k::modseq(mailbox, modseq), &uid.to_le_bytes())?;
    let size = meta.size as i64;
    tx.atomic_add(&k::counter(mailbox, "exists"), 1)?;
    tx.atomic_add(&k::counter(mailbox, "bytes"), size)?;
    if !flags.contains(Flags::SEEN) {
        tx.atomic_add(&k::counter(mailbox, "unseen"), 1)?;
    }
    account::add_usage(tx, account, size, 1)?;
    Ok(meta)
}

/// Messages whose last change is after `modseq` (new or with changed flags), in MODSEQ order.
pub async fn changed_since(
    tx: &Tx,
    mailbox: u64,
    modseq: u64,
) -> Result<Vec<MessageMeta>, StoreError> {
    let kvs = tx
        .get_prefix(&k::modseqs_after(mailbox, modseq), RangeOptions::all())
        .await?;
    let mut out = Vec::with_capacity(kvs.len());
    for kv in kvs {
        let uid = u32::from_le_bytes(kv.value.as_slice().try_into().unwrap_or([0; 4]));
        if let Some(meta) = get(tx, mailbox, uid).await? {
            out.push(meta);
        }
    }
    Ok(out)
}

/// UIDs expunged after `modseq` (for QRESYNC's VANISHED and for sessions catching up).
pub async fn expunged_since(tx: &Tx, mailbox: u64, modseq: u64) -> Result<Vec<u32>, StoreError> {
    let (_, end) = k::expunged_all(mailbox);
    let start = k::expunged(mailbox, modseq.saturating_add(1));
    let kvs = tx.get_prefix(&(start, end), RangeOptions::all()).await?;
    Ok(kvs
        .iter()
        .map(|kv| u32::from_le_bytes(kv.value.as_slice().try_into().unwrap_or([0; 4])))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Db, EmbeddedStore, model::mailbox::Sequence};

    async fn rewind_uidnext(db: &Db, mailbox: u64) {
        db.run(|tx| async move {
            let seq = Sequence {
                uidnext: 1,
                highest_modseq: 10,
            };
            codec::write(&tx, &k::sequence(mailbox), &seq)
        })
        .await
        .expect("rewind");
    }

    /// A sequence that hands out a UID again (a lost update) fails the transaction instead
    /// of overwriting the acknowledged message.
    #[tokio::test]
    async fn a_used_uid_is_never_overwritten() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::new(EmbeddedStore::open(dir.path()).expect("open"));
        rewind_uidnext(&db, 7).await;
        let first = blob::stage(&db, b"Subject: first\r\n\r\n1\r\n")
            .await
            .expect("stage");
        let second = blob::stage(&db, b"Subject: second\r\n\r\n2\r\n")
            .await
            .expect("stage");
        let new = |body| NewMessage {
            body,
            summary: None,
            flags: Flags::default(),
            keywords: Vec::new(),
            internal_date: 0,
        };
        let (a, b) = (new(&first), new(&second));
        let (a, b) = (&a, &b);
        let meta = db
            .run(|tx| async move { append(&tx, 1, 7, a).await })
            .await
            .expect("append");
        assert_eq!(meta.uid, 1);
        rewind_uidnext(&db, 7).await;
        let err = db
            .run(|tx| async move { append(&tx, 1, 7, b).await })
            .await
            .expect_err("UID 1 is taken");
        assert!(
            err.to_string()
                .contains("UID 1 of mailbox 7 is already in use"),
            "{err}"
        );
        let kept = db
            .run(|tx| async move { get(&tx, 7, 1).await })
            .await
            .expect("read")
            .expect("message 1 is still there");
        assert_eq!(kept.blob, first.id, "the first message's body is kept");
    }
}
