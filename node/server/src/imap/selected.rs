//! A session's view of its selected mailbox: the UIDs in sequence order with the flags the
//! client was last told, and the MODSEQ the view has caught up to. [`Selected::sync`] reads
//! what changed in the store since then and writes the untagged EXISTS, EXPUNGE (or VANISHED)
//! and FETCH responses; expunges are held back while a command that uses sequence numbers
//! runs (RFC 9051 §7.5.1), so the client's numbers stay valid.

use tern_proto::imap::{
    response,
    sequence::to_set,
    types::{core::Vec1, fetch::MessageDataItem, response::Data},
};
use tern_store::{
    Db, StoreError,
    model::{Mailbox, MessageMeta, mailbox, message, message::Flags},
};

use super::{
    convert::{fetch_flags, nz},
    hub::Subscription,
};

/// One message as the client knows it.
#[derive(Debug, Clone)]
pub struct Entry {
    /// UID.
    pub uid: u32,
    /// Flags last reported.
    pub flags: Flags,
    /// Keywords last reported.
    pub keywords: Vec<String>,
    /// MODSEQ last reported.
    pub modseq: u64,
}

impl Entry {
    fn of(m: &MessageMeta) -> Self {
        Entry {
            uid: m.uid,
            flags: m.flags,
            keywords: m.keywords.clone(),
            modseq: m.modseq,
        }
    }
}

/// What the client enabled that changes how changes are reported.
#[derive(Debug, Clone, Copy, Default)]
pub struct Reporting {
    /// CONDSTORE: FETCH responses carry MODSEQ.
    pub condstore: bool,
    /// QRESYNC: expunges are reported as VANISHED.
    pub qresync: bool,
}

/// The selected mailbox.
pub struct Selected {
    /// The mailbox.
    pub mailbox: Mailbox,
    /// EXAMINE (or no write permission).
    pub read_only: bool,
    /// Messages in sequence order.
    pub entries: Vec<Entry>,
    /// The MODSEQ the view reflects.
    pub modseq: u64,
    /// Membership of the mailbox actor.
    pub sub: Subscription,
}

impl Selected {
    /// Loads the mailbox as it is now.
    pub async fn open(
        db: &Db,
        mailbox: Mailbox,
        read_only: bool,
        sub: Subscription,
    ) -> Result<Selected, StoreError> {
        let id = mailbox.id;
        let (metas, status) = db
            .run(|tx| {
                let mailbox = &mailbox;
                async move {
                    let status = mailbox::status(&tx, mailbox).await?;
                    let metas = message::list(&tx, id, 1, None).await?;
                    Ok((metas, status))
                }
            })
            .await?;
        Ok(Selected {
            entries: metas.iter().map(Entry::of).collect(),
            modseq: status.highest_modseq,
            mailbox,
            read_only,
            sub,
        })
    }

    /// UIDs in sequence order.
    pub fn uids(&self) -> Vec<u32> {
        self.entries.iter().map(|e| e.uid).collect()
    }

    /// The sequence number (1-based) of `uid`.
    pub fn seq_of(&self, uid: u32) -> Option<u32> {
        self.entries
            .binary_search_by_key(&uid, |e| e.uid)
            .ok()
            .map(|i| i as u32 + 1)
    }

    /// Records flags this session itself just stored (its own FETCH responses said them).
    pub fn note(&mut self, m: &MessageMeta) {
        if let Ok(i) = self.entries.binary_search_by_key(&m.uid, |e| e.uid) {
            self.entries[i] = Entry::of(m);
        }
    }

    /// Reads changes since the view's MODSEQ and writes them as untagged responses.
    /// `allow_expunge` is false during FETCH, STORE and SEARCH by sequence number.
    pub async fn sync(
        &mut self,
        db: &Db,
        out: &mut Vec<u8>,
        allow_expunge: bool,
        reporting: Reporting,
    ) -> Result<(), StoreError> {
        self.sub.rx.borrow_and_update();
        let (id, since) = (self.mailbox.id, self.modseq);
        let mailbox = &self.mailbox;
        let (status, changed, expunged) = db
            .run(|tx| async move {
                let status = mailbox::status(&tx, mailbox).await?;
                if status.highest_modseq == since {
                    return Ok((status, Vec::new(), Vec::new()));
                }
                let changed = message::changed_since(&tx, id, since).await?;
                let expunged = message::expunged_since(&tx, id, since).await?;
                Ok((status, changed, expunged))
            })
            .await?;
        if status.highest_modseq == since {
            return Ok(());
        }
        let known: Vec<u32> = expunged
            .iter()
            .copied()
            .filter(|u| self.seq_of(*u).is_some())
            .collect();
        let hold_back = !known.is_empty() && !allow_expunge;
        if !known.is_empty() && allow_expunge {
            if reporting.qresync {
                if let Some(set) = to_set(&known) {
                    response::data(
                        out,
                        Data::Vanished {
                            earlier: false,
                            known_uids: set,
                        },
                    );
                }
                self.entries.retain(|e| !known.contains(&e.uid));
            } else {
                let mut seqs: Vec<u32> = known.iter().filter_map(|u| self.seq_of(*u)).collect();
                seqs.sort_unstable_by(|a, b| b.cmp(a));
                for seq in seqs {
                    self.entries.remove(seq as usize - 1);
                    response::data(out, Data::Expunge(nz(seq)));
                }
            }
        }
        let count = self.entries.len();
        let last = self.entries.last().map(|e| e.uid).unwrap_or(0);
        let mut fresh: Vec<&MessageMeta> = Vec::new();
        for m in &changed {
            if m.uid > last {
                fresh.push(m);
                continue;
            }
            let Ok(i) = self.entries.binary_search_by_key(&m.uid, |e| e.uid) else {
                continue;
            };
            let e = &self.entries[i];
            let same = e.flags == m.flags && e.keywords == m.keywords;
            if same && (!reporting.condstore || e.modseq == m.modseq) {
                self.entries[i].modseq = m.modseq;
                continue;
            }
            self.entries[i] = Entry::of(m);
            let mut items = vec![
                MessageDataItem::Uid(nz(m.uid)),
                MessageDataItem::Flags(fetch_flags(m.flags, &m.keywords)),
            ];
            if reporting.condstore {
                items.push(MessageDataItem::ModSeq(
                    std::num::NonZeroU64::new(m.modseq).unwrap_or(std::num::NonZeroU64::MIN),
                ));
            }
            if let Ok(items) = Vec1::try_from(items) {
                response::data(
                    out,
                    Data::Fetch {
                        seq: nz(i as u32 + 1),
                        items,
                    },
                );
            }
        }
        fresh.sort_by_key(|m| m.uid);
        for m in fresh {
            self.entries.push(Entry::of(m));
        }
        if self.entries.len() != count {
            response::data(out, Data::Exists(self.entries.len() as u32));
        }
        if !hold_back {
            self.modseq = status.highest_modseq;
        }
        Ok(())
    }
}
