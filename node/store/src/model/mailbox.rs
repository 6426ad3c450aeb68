//! Mailboxes: names, special-use roles, UIDVALIDITY, and the per-mailbox sequence (UIDNEXT,
//! HIGHESTMODSEQ) and counters (messages, unseen, bytes) that IMAP STATUS and SELECT report.

use serde::{Deserialize, Serialize};

use super::{Directory, ModelError, ModelResult, codec, message, now, subscription};
use crate::{StoreError, Tx, keys::mail as k};

/// The role of a mailbox (RFC 6154 special-use, plus the Inbox).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SpecialUse {
    /// The INBOX.
    Inbox,
    /// `\Sent`.
    Sent,
    /// `\Drafts`.
    Drafts,
    /// `\Trash`.
    Trash,
    /// `\Junk`.
    Junk,
    /// `\Archive`.
    Archive,
}

/// Every account starts with these, in this order.
pub const DEFAULT_MAILBOXES: [(&str, SpecialUse); 6] = [
    ("INBOX", SpecialUse::Inbox),
    ("Sent", SpecialUse::Sent),
    ("Drafts", SpecialUse::Drafts),
    ("Trash", SpecialUse::Trash),
    ("Junk", SpecialUse::Junk),
    ("Archive", SpecialUse::Archive),
];

/// A mailbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mailbox {
    /// Stable id (never reused).
    pub id: u64,
    /// Owning account.
    pub account: u64,
    /// Full name (hierarchy separator `/`); `INBOX` is always spelled so.
    pub name: String,
    /// Role, if any.
    pub special_use: Option<SpecialUse>,
    /// IMAP UIDVALIDITY; changes whenever a name is reused for a new mailbox.
    pub uidvalidity: u32,
    /// Whether the mailbox was subscribed, from before subscriptions were a list of their own
    /// ([`super::subscription`] reads it once to build an older account's list; new mailboxes
    /// leave it false).
    #[serde(default)]
    pub subscribed: bool,
    /// Unix seconds of creation.
    pub created: i64,
}

/// UIDNEXT and HIGHESTMODSEQ, allocated inside transactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Sequence {
    pub(crate) uidnext: u32,
    pub(crate) highest_modseq: u64,
}

/// What STATUS reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MailboxStatus {
    /// Messages.
    pub messages: i64,
    /// Messages without `\Seen`.
    pub unseen: i64,
    /// Bytes of all messages.
    pub bytes: i64,
    /// Next UID.
    pub uidnext: u32,
    /// UIDVALIDITY.
    pub uidvalidity: u32,
    /// Highest MODSEQ.
    pub highest_modseq: u64,
}

/// `INBOX` in any case is the INBOX; other names are kept as given.
pub fn canonical_name(name: &str) -> ModelResult<String> {
    let name = name.trim_matches('/');
    if name.is_empty()
        || name.len() > 512
        || name.contains("//")
        || name.chars().any(|c| c.is_control())
    {
        return Err(ModelError::Invalid(format!(
            "invalid mailbox name {name:?}"
        )));
    }
    Ok(if name.eq_ignore_ascii_case("INBOX") {
        "INBOX".to_string()
    } else {
        name.to_string()
    })
}

/// Tells the account's watchers (NOTIFY) that its mailbox names or subscriptions changed.
pub(crate) fn names_changed(tx: &Tx, account: u64) -> Result<(), StoreError> {
    tx.atomic_add(&k::names_change(account), 1)
}

async fn insert(
    tx: &Tx,
    account: u64,
    id: u64,
    name: &str,
    special_use: Option<SpecialUse>,
) -> Result<Mailbox, StoreError> {
    let mailbox = Mailbox {
        id,
        account,
        name: name.to_string(),
        special_use,
        uidvalidity: u32::try_from(id).unwrap_or(u32::MAX),
        subscribed: false,
        created: now(),
    };
    codec::write(tx, &k::mailbox(account, id), &mailbox)?;
    tx.set(&k::mailbox_name(account, name), &id.to_le_bytes())?;
    names_changed(tx, account)?;
    super::recent::start(tx, id)?;
    codec::write(
        tx,
        &k::sequence(id),
        &Sequence {
            uidnext: 1,
            highest_modseq: 1,
        },
    )?;
    Ok(mailbox)
}

/// Creates the default mailboxes of a new account, subscribed.
pub(crate) async fn create_defaults(tx: &Tx, account: u64) -> Result<(), StoreError> {
    let first = codec::next_id(tx, "mailbox", DEFAULT_MAILBOXES.len() as u64).await?;
    subscription::mark_listed(tx, account)?;
    for (i, (name, role)) in DEFAULT_MAILBOXES.iter().enumerate() {
        insert(tx, account, first + i as u64, name, Some(*role)).await?;
        subscription::set(tx, account, name, true).await?;
    }
    Ok(())
}

/// Reads a mailbox's sequence.
pub(crate) async fn sequence(tx: &Tx, mailbox: u64) -> Result<Sequence, StoreError> {
    codec::read(tx, &k::sequence(mailbox))
        .await?
        .ok_or_else(|| StoreError::Corrupt {
            key: crate::keys::printable(&k::sequence(mailbox)),
            reason: "mailbox has no sequence".into(),
        })
}

/// The highest MODSEQ of a mailbox inside a transaction.
pub async fn highest_modseq(tx: &Tx, mailbox: u64) -> Result<u64, StoreError> {
    Ok(sequence(tx, mailbox).await?.highest_modseq)
}

/// A mailbox by name inside a transaction.
pub async fn by_name(tx: &Tx, account: u64, name: &str) -> ModelResult<Option<Mailbox>> {
    let name = canonical_name(name)?;
    let Some(id) = tx.get(&k::mailbox_name(account, &name)).await? else {
        return Ok(None);
    };
    let id = u64::from_le_bytes(id.as_slice().try_into().unwrap_or([0; 8]));
    Ok(codec::read(tx, &k::mailbox(account, id)).await?)
}

/// The account's mailboxes listed under their names, inside a transaction (a mailbox being
/// deleted has lost its name first, and is not among them).
pub async fn listed(tx: &Tx, account: u64) -> Result<Vec<Mailbox>, StoreError> {
    let all: Vec<Mailbox> = codec::read_all(tx, &k::mailboxes(account)).await?;
    let mut out = Vec::with_capacity(all.len());
    for m in all {
        let named = tx.get(&k::mailbox_name(account, &m.name)).await?;
        if named.is_some_and(|id| id.as_slice() == m.id.to_le_bytes()) {
            out.push(m);
        }
    }
    Ok(out)
}

/// Status counters of a mailbox inside a transaction.
pub async fn status(tx: &Tx, mailbox: &Mailbox) -> Result<MailboxStatus, StoreError> {
    let seq = sequence(tx, mailbox.id).await?;
    Ok(MailboxStatus {
        messages: tx.get_counter(&k::counter(mailbox.id, "exists")).await?,
        unseen: tx.get_counter(&k::counter(mailbox.id, "unseen")).await?,
        bytes: tx.get_counter(&k::counter(mailbox.id, "bytes")).await?,
        uidnext: seq.uidnext,
        uidvalidity: mailbox.uidvalidity,
        highest_modseq: seq.highest_modseq,
    })
}

impl Directory {
    /// Every mailbox of an account, by id.
    pub async fn mailboxes(&self, account: u64) -> ModelResult<Vec<Mailbox>> {
        self.db
            .transact(|tx| async move { Ok(codec::read_all(&tx, &k::mailboxes(account)).await?) })
            .await
    }

    /// A mailbox by name.
    pub async fn mailbox(&self, account: u64, name: &str) -> ModelResult<Option<Mailbox>> {
        self.db
            .transact(|tx| async move { by_name(&tx, account, name).await })
            .await
    }

    /// Creates a mailbox.
    pub async fn create_mailbox(&self, account: u64, name: &str) -> ModelResult<Mailbox> {
        self.create_mailbox_as(account, name, None).await
    }

    /// Creates a mailbox with a role (CREATE-SPECIAL-USE).
    pub async fn create_mailbox_as(
        &self,
        account: u64,
        name: &str,
        role: Option<SpecialUse>,
    ) -> ModelResult<Mailbox> {
        let name = canonical_name(name)?;
        let name = &name;
        self.db
            .transact(|tx| async move {
                if tx.get(&k::mailbox_name(account, name)).await?.is_some() {
                    return Err(ModelError::AlreadyExists(format!("mailbox {name}")));
                }
                let id = codec::next_id(&tx, "mailbox", 1).await?;
                Ok(insert(&tx, account, id, name, role).await?)
            })
            .await
    }

    /// Renames a mailbox (not the INBOX).
    pub async fn rename_mailbox(&self, account: u64, from: &str, to: &str) -> ModelResult<Mailbox> {
        let (from, to) = (canonical_name(from)?, canonical_name(to)?);
        if from == "INBOX" || to == "INBOX" {
            return Err(ModelError::Invalid(
                "the INBOX cannot be renamed here".into(),
            ));
        }
        let (from, to) = (&from, &to);
        self.db
            .transact(|tx| async move {
                let mut mailbox = by_name(&tx, account, from)
                    .await?
                    .ok_or_else(|| ModelError::NotFound(format!("mailbox {from}")))?;
                if tx.get(&k::mailbox_name(account, to)).await?.is_some() {
                    return Err(ModelError::AlreadyExists(format!("mailbox {to}")));
                }
                tx.clear(&k::mailbox_name(account, from))?;
                tx.set(&k::mailbox_name(account, to), &mailbox.id.to_le_bytes())?;
                mailbox.name = to.clone();
                codec::write(&tx, &k::mailbox(account, mailbox.id), &mailbox)?;
                subscription::rename(&tx, account, from, to).await?;
                Ok(mailbox)
            })
            .await
    }

    /// Deletes a mailbox and its messages (not the INBOX).
    pub async fn delete_mailbox(&self, account: u64, name: &str) -> ModelResult<()> {
        let name = canonical_name(name)?;
        if name == "INBOX" {
            return Err(ModelError::Invalid("the INBOX cannot be deleted".into()));
        }
        let mailbox = self
            .mailbox(account, &name)
            .await?
            .ok_or_else(|| ModelError::NotFound(format!("mailbox {name}")))?;
        self.purge_mailbox(account, mailbox.id).await
    }

    /// Removes a mailbox, expunging its messages in bounded transactions first.
    pub(crate) async fn purge_mailbox(&self, account: u64, mailbox: u64) -> ModelResult<()> {
        self.db
            .transact(|tx| async move {
                if let Some(m) = codec::read::<Mailbox>(&tx, &k::mailbox(account, mailbox)).await? {
                    tx.clear(&k::mailbox_name(account, &m.name))?;
                    names_changed(&tx, account)?;
                }
                Ok::<_, ModelError>(())
            })
            .await?;
        loop {
            let done = self
                .db
                .transact(|tx| async move {
                    let batch = message::list(&tx, mailbox, 1, Some(500)).await?;
                    let uids: Vec<u32> = batch.iter().map(|m| m.uid).collect();
                    message::expunge(&tx, account, mailbox, &uids).await?;
                    Ok::<_, ModelError>(batch.len() < 500)
                })
                .await?;
            if done {
                break;
            }
        }
        self.db
            .transact(|tx| async move {
                tx.clear(&k::mailbox(account, mailbox))?;
                tx.clear(&k::sequence(mailbox))?;
                tx.clear(&k::recent(mailbox))?;
                tx.clear_prefix(&k::counters(mailbox))?;
                tx.clear_prefix(&k::modseqs(mailbox))?;
                tx.clear_prefix(&k::expunged_all(mailbox))?;
                tx.clear(&k::change(mailbox))?;
                Ok::<_, ModelError>(())
            })
            .await
    }

    /// Status of a mailbox.
    pub async fn mailbox_status(&self, mailbox: &Mailbox) -> ModelResult<MailboxStatus> {
        self.db
            .transact(|tx| async move { Ok(status(&tx, mailbox).await?) })
            .await
    }
}
