//! The maildrop: the INBOX as it was at login, numbered 1..n, with deletion marks. UIDL values
//! are `UIDVALIDITY.UID`, the same identity IMAP uses, so they never change across sessions.

use tern_store::{
    blob::{self, BlobId},
    model::{Account, Directory, Mailbox, ModelError, ModelResult, message},
};

/// One message of the maildrop.
#[derive(Debug, Clone)]
pub struct Entry {
    /// IMAP UID.
    pub uid: u32,
    /// Octets.
    pub size: u64,
    /// Body.
    pub blob: BlobId,
    /// Marked by DELE.
    pub deleted: bool,
}

/// The locked INBOX.
pub struct Maildrop {
    /// The account.
    pub account: Account,
    /// The INBOX.
    pub mailbox: Mailbox,
    /// Messages in UID order.
    pub entries: Vec<Entry>,
}

impl Maildrop {
    /// Loads the INBOX of `account`.
    pub async fn open(dir: &Directory, account: Account) -> ModelResult<Maildrop> {
        let mailbox = dir
            .mailbox(account.id, "INBOX")
            .await?
            .ok_or_else(|| ModelError::NotFound("INBOX".into()))?;
        let id = mailbox.id;
        let metas = dir
            .db()
            .transact(|tx| async move { message::list(&tx, id, 1, None).await })
            .await?;
        let entries = metas
            .into_iter()
            .map(|m| Entry {
                uid: m.uid,
                size: m.size,
                blob: m.blob,
                deleted: false,
            })
            .collect();
        Ok(Maildrop {
            account,
            mailbox,
            entries,
        })
    }

    /// Message `n` (1-based) unless deleted.
    pub fn get(&self, n: u32) -> Option<&Entry> {
        let e = self.entries.get((n as usize).checked_sub(1)?)?;
        (!e.deleted).then_some(e)
    }

    /// Whether `n` exists (deleted or not).
    pub fn exists(&self, n: u32) -> bool {
        n >= 1 && (n as usize) <= self.entries.len()
    }

    /// Marks `n` deleted.
    pub fn delete(&mut self, n: u32) {
        if let Some(e) = self.entries.get_mut((n as usize).saturating_sub(1)) {
            e.deleted = true;
        }
    }

    /// Clears every deletion mark.
    pub fn undelete_all(&mut self) {
        for e in &mut self.entries {
            e.deleted = false;
        }
    }

    /// Live messages with their numbers.
    pub fn live(&self) -> impl Iterator<Item = (u32, &Entry)> {
        self.entries
            .iter()
            .enumerate()
            .filter(|(_, e)| !e.deleted)
            .map(|(i, e)| (i as u32 + 1, e))
    }

    /// Count and octets of the live messages.
    pub fn stat(&self) -> (usize, u64) {
        self.live()
            .fold((0, 0), |(n, b), (_, e)| (n + 1, b + e.size))
    }

    /// The UIDL value of a message.
    pub fn uidl(&self, e: &Entry) -> String {
        format!("{}.{}", self.mailbox.uidvalidity, e.uid)
    }

    /// UIDs marked for deletion.
    pub fn marked(&self) -> Vec<u32> {
        self.entries
            .iter()
            .filter(|e| e.deleted)
            .map(|e| e.uid)
            .collect()
    }

    /// Reads a message body; `None` when it was removed meanwhile.
    pub async fn body(&self, dir: &Directory, e: &Entry) -> Option<Vec<u8>> {
        blob::read(dir.db(), e.blob).await.ok()
    }
}
