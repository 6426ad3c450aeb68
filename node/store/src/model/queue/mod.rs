//! Outbound queue entries: one per message and destination domain, with per-recipient status and
//! the DSN parameters given at submission. Entries are sharded by destination domain and indexed
//! by next attempt time within each shard; the outbound queue issue delivers them.

pub mod destination;
pub mod ops;
pub mod shard;

use serde::{Deserialize, Serialize};

use super::codec;
use crate::{
    StoreError, Tx,
    blob::{self, BlobId, Staged},
    keys::queue as k,
};

/// Shards when none is configured.
pub const DEFAULT_SHARDS: u16 = 64;

/// The shard of a destination domain.
pub fn shard_of(domain: &str, shards: u16) -> u16 {
    let hash = blake3::hash(domain.to_ascii_lowercase().as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&hash.as_bytes()[..8]);
    (u64::from_le_bytes(first) % u64::from(shards.max(1))) as u16
}

/// DSN NOTIFY (RFC 3461) as bits; none set means the default (failure and delay).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Notify(pub u8);

impl Notify {
    /// NOTIFY=SUCCESS.
    pub const SUCCESS: u8 = 1;
    /// NOTIFY=FAILURE.
    pub const FAILURE: u8 = 2;
    /// NOTIFY=DELAY.
    pub const DELAY: u8 = 4;
    /// NOTIFY=NEVER.
    pub const NEVER: u8 = 8;

    /// The keywords set, as written in RCPT TO (empty: none given).
    pub fn names(self) -> Vec<&'static str> {
        [
            (Self::SUCCESS, "SUCCESS"),
            (Self::FAILURE, "FAILURE"),
            (Self::DELAY, "DELAY"),
            (Self::NEVER, "NEVER"),
        ]
        .into_iter()
        .filter(|(bit, _)| self.0 & bit != 0)
        .map(|(_, name)| name)
        .collect()
    }
}

/// DSN RET (RFC 3461).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Ret {
    /// Return the full message.
    Full,
    /// Return the headers only.
    Headers,
}

/// Where one recipient stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum RecipientStatus {
    /// Not tried yet, or to be tried again.
    Pending,
    /// Accepted by the remote server.
    Delivered {
        /// The remote reply.
        reply: String,
    },
    /// Failed temporarily; will be retried.
    Deferred {
        /// The last reply or error.
        reply: String,
    },
    /// Failed permanently.
    Failed {
        /// The reply or error.
        reply: String,
    },
}

/// One recipient of a queued message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueuedRecipient {
    /// The address to deliver to.
    pub address: String,
    /// DSN ORCPT, as given.
    pub orcpt: Option<String>,
    /// DSN NOTIFY.
    pub notify: Notify,
    /// Delivery status.
    pub status: RecipientStatus,
}

/// A message waiting for delivery to one destination domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueEntry {
    /// Queue id (shown to operators, in logs and `Received:` headers).
    pub id: String,
    /// Destination domain.
    pub domain: String,
    /// Shard of the destination domain.
    pub shard: u16,
    /// Envelope sender (empty for the null sender).
    pub sender: String,
    /// Recipients in this domain.
    pub recipients: Vec<QueuedRecipient>,
    /// The message body.
    pub blob: BlobId,
    /// Bytes at the start of the blob not to send (the `Return-Path:` added for local copies).
    pub skip: u32,
    /// Size of what is sent.
    pub size: u64,
    /// DSN ENVID.
    pub envid: Option<String>,
    /// DSN RET.
    pub ret: Option<Ret>,
    /// The message needs SMTPUTF8.
    pub smtputf8: bool,
    /// The body is 8-bit MIME.
    pub body_8bit: bool,
    /// The account that submitted it, if authenticated.
    pub submitted_by: Option<u64>,
    /// Unix seconds of acceptance.
    pub created: i64,
    /// Unix seconds of the next attempt.
    pub next_attempt: i64,
    /// Attempts made.
    pub attempts: u32,
    /// Held by an operator: not tried until released.
    #[serde(default)]
    pub held: bool,
    /// Every attempt, oldest first (the last [`MAX_HISTORY`] are kept).
    #[serde(default)]
    pub history: Vec<Attempt>,
    /// Delay warnings (DSN action "delayed") sent so far.
    #[serde(default)]
    pub delay_warnings: u32,
}

/// Attempts kept in an entry's history.
pub const MAX_HISTORY: usize = 32;

/// One delivery attempt, as operators see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attempt {
    /// Unix seconds when it ended.
    pub at: i64,
    /// The host tried (or the step that failed before one was reached).
    pub host: String,
    /// What happened, with the remote reply quoted.
    pub result: String,
}

impl QueueEntry {
    /// Recipients still to deliver (pending or deferred).
    pub fn open_recipients(&self) -> impl Iterator<Item = &QueuedRecipient> {
        self.recipients.iter().filter(|r| r.status.is_open())
    }

    /// `held`, `pending` (never tried) or `deferred`, for listings and metrics.
    pub fn status_label(&self) -> &'static str {
        if self.held {
            "held"
        } else if self.attempts == 0 {
            "pending"
        } else {
            "deferred"
        }
    }

    /// Records an attempt, keeping the history bounded.
    pub fn record(&mut self, attempt: Attempt) {
        self.history.push(attempt);
        if self.history.len() > MAX_HISTORY {
            let extra = self.history.len() - MAX_HISTORY;
            self.history.drain(..extra);
        }
    }
}

impl RecipientStatus {
    /// Still to be delivered.
    pub fn is_open(&self) -> bool {
        matches!(
            self,
            RecipientStatus::Pending | RecipientStatus::Deferred { .. }
        )
    }

    /// Name for listings and filters.
    pub fn label(&self) -> &'static str {
        match self {
            RecipientStatus::Pending => "pending",
            RecipientStatus::Delivered { .. } => "delivered",
            RecipientStatus::Deferred { .. } => "deferred",
            RecipientStatus::Failed { .. } => "failed",
        }
    }
}

/// Writes a new entry and its due index, taking a reference on the body; an id already in the
/// queue is refused.
pub async fn enqueue(tx: &Tx, entry: &QueueEntry, body: &Staged<'_>) -> Result<(), StoreError> {
    let key = k::entry(&entry.id);
    if let Some(existing) = codec::read::<QueueEntry>(tx, &key).await? {
        if existing == *entry {
            // An earlier try of this same transaction committed (commit result unknown).
            return Ok(());
        }
        // Never overwrite another queued message: the caller's transaction fails instead
        // (SMTP answers 451 and the client sends again under a new id).
        return Err(StoreError::Corrupt {
            key: crate::keys::printable(&key),
            reason: format!("queue id {} is already in use", entry.id),
        });
    }
    blob::link(tx, body).await?;
    codec::write(tx, &k::entry(&entry.id), entry)?;
    ops::count(tx, entry, 1)?;
    ops::index(tx, entry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_stable_and_case_insensitive() {
        assert_eq!(shard_of("Example.COM", 64), shard_of("example.com", 64));
        assert!(shard_of("example.com", 64) < 64);
        assert_eq!(shard_of("x", 1), 0);
    }
}
