//! The mail data model on the Store: domains, accounts, aliases, forwards and catch-alls
//! ([`Directory`]); mailboxes and messages with UIDs and MODSEQs allocated inside transactions
//! ([`mailbox`], [`message`]); quota usage as atomic counters; admin tokens. No raw keys leave
//! this crate: callers use these typed accessors.

pub mod account;
pub mod alias;
pub mod dkim;
pub mod dmarc_reports;
pub mod domain;
pub mod greylist;
pub mod limits;
pub mod lock;
pub mod mailbox;
pub mod message;
pub mod notice;
pub mod password;
pub mod queue;
pub mod recent;
pub mod resolve;
pub mod spam_lists;
pub mod spam_rules;
pub mod spam_thresholds;
pub mod subscription;
pub mod summary;
pub mod token;
pub mod tracking;
pub mod utf8_names;

use thiserror::Error;

pub use account::{Account, LoginMatch, NewAccount};
pub use alias::{Alias, Forward};
pub use domain::Domain;
pub use mailbox::{Mailbox, MailboxStatus, SpecialUse};
pub use message::{Flags, MessageMeta};
pub use resolve::Resolution;
pub use summary::Summary;

pub(crate) use crate::codec;
use crate::{Db, StoreError, TxError};

/// Why a data-model operation was refused.
#[derive(Debug, Error)]
pub enum ModelError {
    /// The named thing does not exist.
    #[error("{0} does not exist")]
    NotFound(String),
    /// The name is taken.
    #[error("{0} already exists")]
    AlreadyExists(String),
    /// The input is not acceptable; the text says why.
    #[error("{0}")]
    Invalid(String),
    /// The thing is still used by others and cannot be removed.
    #[error("{0}")]
    InUse(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl TxError for ModelError {
    fn as_store(&self) -> Option<&StoreError> {
        match self {
            ModelError::Store(e) => Some(e),
            _ => None,
        }
    }
}

impl From<tern_proto::AddressError> for ModelError {
    fn from(e: tern_proto::AddressError) -> Self {
        ModelError::Invalid(e.to_string())
    }
}

/// Result of the data model.
pub type ModelResult<T> = Result<T, ModelError>;

/// How local parts are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AddressPolicy {
    /// `true`: `User@x` and `user@x` are different addresses (the RFC 5321 reading).
    pub local_case_sensitive: bool,
}

impl Default for AddressPolicy {
    fn default() -> Self {
        Self {
            local_case_sensitive: true,
        }
    }
}

/// The directory of domains, accounts and addresses, and the entry to mailboxes.
#[derive(Clone)]
pub struct Directory {
    db: Db,
    policy: AddressPolicy,
    hashing: password::Hashing,
}

impl Directory {
    /// A directory on `db` comparing local parts by `policy`, hashing passwords at the default
    /// cost.
    pub fn new(db: Db, policy: AddressPolicy) -> Self {
        Self {
            db,
            policy,
            hashing: password::Hashing::default(),
        }
    }

    /// The same, hashing new passwords at `hashing`.
    pub fn with_hashing(self, hashing: password::Hashing) -> Self {
        Self { hashing, ..self }
    }

    /// The cost new passwords are hashed at.
    pub fn hashing(&self) -> password::Hashing {
        self.hashing
    }

    /// The store underneath.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// How local parts are compared.
    pub fn policy(&self) -> AddressPolicy {
        self.policy
    }
}

/// Seconds since the Unix epoch, from the [`crate::clock`].
pub fn now() -> i64 {
    crate::clock::now()
}
