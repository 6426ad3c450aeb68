//! A session's view of its selected mailbox: the UIDs in sequence order (as runs, see
//! [`UidMap`]) and the MODSEQ the view has caught up to. [`Selected::sync`] brings it up to
//! date — from the delta the mailbox actor read once for all its sessions when it follows on
//! from the view, otherwise from the store — and writes the untagged EXISTS, EXPUNGE (or
//! VANISHED) and FETCH responses; expunges are held back while a command that uses sequence
//! numbers runs (RFC 9051 §7.5.1), so the client's numbers stay valid. It also keeps the
//! keywords in use in the mailbox and announces the flags again when one appears, and the
//! searches the client asked to have kept up to date (`context.rs`).

use std::{collections::HashMap, num::NonZeroU64};

use tern_proto::imap::{
    response,
    sequence::to_set,
    types::{
        core::{Atom, Vec1},
        fetch::MessageDataItem,
        flag::{Flag, FlagPerm},
        response::{Code, Data, StatusKind},
    },
    uidmap::UidMap,
};
use tern_store::{
    Db, StoreError,
    model::{Mailbox, MessageMeta, mailbox, message, message::Flags, recent},
};

use super::{
    context::{self, Context},
    convert::{fetch_flags, nz},
    hub::{Delta, Subscription},
};

/// What the client enabled that changes how changes are reported.
#[derive(Debug, Clone, Copy, Default)]
pub struct Reporting {
    /// CONDSTORE: FETCH responses carry MODSEQ.
    pub condstore: bool,
    /// QRESYNC: expunges are reported as VANISHED.
    pub qresync: bool,
    /// UTF8=ACCEPT: mailbox names in UTF-8 rather than modified UTF-7 (RFC 6855).
    pub utf8: bool,
    /// IMAP4rev2 (RFC 9051): no `\Recent`, and SEARCH answers with ESEARCH.
    pub rev2: bool,
}

/// The selected mailbox.
pub struct Selected {
    /// The mailbox.
    pub mailbox: Mailbox,
    /// EXAMINE (or no write permission).
    pub read_only: bool,
    /// Whether it takes `\Recent` (read-write and IMAP4rev1).
    claims: bool,
    /// UIDs in sequence order.
    pub uids: UidMap,
    /// The MODSEQ the view reflects.
    pub modseq: u64,
    /// UIDNEXT when selected.
    pub uidnext: u32,
    /// Sequence number of the first message without `\Seen` when selected.
    pub first_unseen: Option<u32>,
    /// Changes this session made itself (UID → MODSEQ), already told to its client.
    own: HashMap<u32, u64>,
    /// The keywords the client was told are in use (`* FLAGS`), in the order they appeared.
    keywords: Vec<String>,
    /// The UIDs that are `\Recent` to this session (claimed at SELECT, or as mail arrives
    /// while the mailbox actor names it the claimer), sorted.
    recent: Vec<u32>,
    /// Membership of the mailbox actor.
    pub sub: Subscription,
    /// Searches kept up to date for the client (CONTEXT=SEARCH / SORT).
    pub contexts: Vec<Context>,
}

impl Selected {
    /// Loads the mailbox as it is now (from the mailbox actor's index when it is current).
    /// A session that `claims` (read-write, IMAP4rev1) takes what nobody has seen as `\Recent`
    /// yet, in the same transaction.
    pub async fn open(
        db: &Db,
        mailbox: Mailbox,
        read_only: bool,
        claims: bool,
        sub: Subscription,
    ) -> Result<Selected, StoreError> {
        let id = mailbox.id;
        let published = sub.rx.borrow().index.clone();
        let indexed_at = published.as_ref().map(|ix| ix.modseq);
        // The records come from the mailbox actor's index when it is exactly at the state the
        // status describes, else from the store in the status's transaction.
        let (status, read, claimed) = db
            .run(|tx| {
                let mailbox = &mailbox;
                async move {
                    let status = mailbox::status(&tx, mailbox).await?;
                    let claimed = if claims {
                        recent::claim(&tx, id, status.uidnext).await?
                    } else {
                        (0, 0)
                    };
                    if indexed_at == Some(status.highest_modseq) {
                        return Ok((status, None, claimed));
                    }
                    let metas = message::list(&tx, id, 1, None).await?;
                    Ok((status, Some(metas), claimed))
                }
            })
            .await?;
        let metas = match (&read, &published) {
            (Some(read), _) => &read[..],
            (None, Some(ix)) => ix.metas(),
            (None, None) => &[],
        };
        let uids: Vec<u32> = metas.iter().map(|m| m.uid).collect();
        let recent = uids
            .iter()
            .copied()
            .filter(|u| (claimed.0..claimed.1).contains(u))
            .collect();
        let mut keywords = Vec::new();
        for m in metas {
            learn(&mut keywords, &m.keywords);
        }
        Ok(Selected {
            keywords,
            first_unseen: metas
                .iter()
                .position(|m| !m.flags.contains(Flags::SEEN))
                .map(|i| i as u32 + 1),
            uids: UidMap::from_sorted(&uids),
            modseq: status.highest_modseq,
            uidnext: status.uidnext,
            own: HashMap::new(),
            recent,
            mailbox,
            read_only,
            claims,
            sub,
            contexts: Vec::new(),
        })
    }

    /// Whether `uid` is `\Recent` to this session.
    pub fn is_recent(&self, uid: u32) -> bool {
        self.recent.binary_search(&uid).is_ok()
    }

    /// The UIDs `\Recent` to this session, sorted.
    pub fn recent_uids(&self) -> &[u32] {
        &self.recent
    }

    /// How many messages in the view are `\Recent` to this session.
    pub fn recent_count(&self) -> u32 {
        self.recent
            .iter()
            .filter(|u| self.uids.index_of(**u).is_some())
            .count() as u32
    }

    /// Claims the new messages `fresh` as `\Recent` when the mailbox actor names this session
    /// the claimer (one store transaction, paid by this session only); whether any became so.
    async fn claim_recent(&mut self, db: &Db, fresh: &[u32]) -> Result<bool, StoreError> {
        let Some(&newest) = fresh.iter().max() else {
            return Ok(false);
        };
        if !self.claims || self.sub.rx.borrow().recent_owner != Some(self.sub.member) {
            return Ok(false);
        }
        let mailbox = self.mailbox.id;
        let (first, end) = db
            .run(|tx| async move { recent::claim(&tx, mailbox, newest + 1).await })
            .await?;
        let before = self.recent.len();
        self.recent
            .extend(fresh.iter().copied().filter(|u| (first..end).contains(u)));
        self.recent.sort_unstable();
        self.recent.dedup();
        Ok(self.recent.len() != before)
    }

    /// UIDs in sequence order.
    pub fn uids(&self) -> Vec<u32> {
        self.uids.to_vec()
    }

    /// The sequence number (1-based) of `uid`.
    pub fn seq_of(&self, uid: u32) -> Option<u32> {
        self.uids.index_of(uid).map(|i| i as u32 + 1)
    }

    /// Records a change this session made and reported itself, so sync does not repeat it.
    pub fn note(&mut self, m: &MessageMeta) {
        self.own.insert(m.uid, m.modseq);
    }

    /// Writes `* FLAGS` and `* OK [PERMANENTFLAGS]` with the system flags and every keyword in
    /// use (none permitted when read-only).
    pub fn write_flags(&self, out: &mut Vec<u8>) {
        let flags = |k: &[String]| -> Vec<Flag<'static>> {
            let mut all = vec![
                Flag::Answered,
                Flag::Flagged,
                Flag::Deleted,
                Flag::Seen,
                Flag::Draft,
            ];
            all.extend(
                k.iter()
                    .filter_map(|k| Atom::try_from(k.clone()).ok())
                    .map(Flag::keyword),
            );
            all
        };
        response::data(out, Data::Flags(flags(&self.keywords)));
        let mut perm: Vec<FlagPerm<'static>> = Vec::new();
        if !self.read_only {
            perm = flags(&self.keywords)
                .into_iter()
                .map(FlagPerm::from)
                .collect();
            perm.push(FlagPerm::Asterisk);
        }
        response::status(
            out,
            None,
            StatusKind::Ok,
            Some(Code::PermanentFlags(perm)),
            "flags permitted",
        );
    }

    /// Learns the keywords of `metas`; with any new one, tells the client the mailbox's flags
    /// again (RFC 3501 §7.2.6: `* FLAGS` lists the keywords in use).
    pub fn announce_keywords<'a>(
        &mut self,
        out: &mut Vec<u8>,
        metas: impl IntoIterator<Item = &'a MessageMeta>,
    ) {
        let before = self.keywords.len();
        for m in metas {
            learn(&mut self.keywords, &m.keywords);
        }
        if self.keywords.len() != before {
            self.write_flags(out);
        }
    }

    /// Brings the view up to date and writes the untagged responses. `delta` is the actor's
    /// latest read (used when it starts where the view is); `allow_expunge` is false during
    /// FETCH, STORE and SEARCH by sequence number. Returns whether the mailbox changed.
    pub async fn sync(
        &mut self,
        db: &Db,
        out: &mut Vec<u8>,
        allow_expunge: bool,
        reporting: Reporting,
        delta: Option<&Delta>,
    ) -> Result<bool, StoreError> {
        self.sub.rx.borrow_and_update();
        // The actor's delta is shared by every session: read, never copied.
        let read;
        let (to, changed, expunged): (u64, &[MessageMeta], &[u32]) = match delta {
            Some(d) if d.from == self.modseq => (d.to, &d.changed, &d.expunged),
            _ => {
                let (id, since) = (self.mailbox.id, self.modseq);
                let mailbox = &self.mailbox;
                read = db
                    .run(|tx| async move {
                        let status = mailbox::status(&tx, mailbox).await?;
                        if status.highest_modseq == since {
                            return Ok((since, Vec::new(), Vec::new()));
                        }
                        let changed = message::changed_since(&tx, id, since).await?;
                        let expunged = message::expunged_since(&tx, id, since).await?;
                        Ok((status.highest_modseq, changed, expunged))
                    })
                    .await?;
                (read.0, &read.1, &read.2)
            }
        };
        if to <= self.modseq {
            return Ok(false);
        }
        let known: Vec<u32> = expunged
            .iter()
            .copied()
            .filter(|u| self.uids.index_of(*u).is_some())
            .collect();
        let hold_back = !known.is_empty() && !allow_expunge;
        if !known.is_empty() && allow_expunge {
            context::drop_expunged(&mut self.contexts, &known, &self.uids, out);
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
                for u in &known {
                    self.uids.remove(*u);
                }
            } else {
                let mut desc = known.clone();
                desc.sort_unstable_by(|a, b| b.cmp(a));
                for u in desc {
                    if let Some(i) = self.uids.remove(u) {
                        response::data(out, Data::Expunge(nz(i as u32 + 1)));
                    }
                }
            }
            for u in &known {
                self.own.remove(u);
            }
        }
        self.announce_keywords(out, changed);
        let count = self.uids.len();
        let last = self.uids.last().unwrap_or(0);
        let mut fresh: Vec<u32> = Vec::new();
        for m in changed {
            if m.uid > last {
                fresh.push(m.uid);
                continue;
            }
            let Some(i) = self.uids.index_of(m.uid) else {
                continue;
            };
            if self.own.get(&m.uid) == Some(&m.modseq) {
                continue;
            }
            let mut items = vec![
                MessageDataItem::Uid(nz(m.uid)),
                MessageDataItem::Flags(fetch_flags(m.flags, &m.keywords, self.is_recent(m.uid))),
            ];
            if reporting.condstore {
                items.push(MessageDataItem::ModSeq(
                    NonZeroU64::new(m.modseq).unwrap_or(NonZeroU64::MIN),
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
        fresh.sort_unstable();
        for u in &fresh {
            self.uids.push(*u);
        }
        let claimed = self.claim_recent(db, &fresh).await?;
        if self.uids.len() != count {
            response::exists(out, self.uids.len() as u32);
        }
        if claimed || (self.uids.len() != count && !self.recent.is_empty()) {
            response::data(out, Data::Recent(self.recent_count()));
        }
        if !hold_back {
            self.modseq = to;
            self.own.retain(|_, ms| *ms > to);
        }
        Ok(true)
    }
}

/// Adds each of `new` not yet in `known` (keywords compare case-insensitively).
fn learn(known: &mut Vec<String>, new: &[String]) {
    for k in new {
        if !known.iter().any(|x| x.eq_ignore_ascii_case(k)) {
            known.push(k.clone());
        }
    }
}
