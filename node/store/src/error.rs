//! The Store's error kinds. They mirror FoundationDB's error codes so that mail logic written
//! against the embedded backend reacts to FoundationDB exactly the same way.

use thiserror::Error;

/// Everything a Store operation can fail with.
///
/// The variants carry FoundationDB's names; [`StoreError::fdb_code`] gives the matching code.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// Another transaction wrote something this one read (FDB 1020 `not_committed`).
    #[error("transaction not committed due to conflict with another transaction")]
    NotCommitted,
    /// The transaction ran longer than the 5 s limit (FDB 1007 `transaction_too_old`).
    #[error("transaction is too old to perform reads or be committed")]
    TransactionTooOld,
    /// The commit may or may not have happened (FDB 1021 `commit_unknown_result`).
    #[error("transaction may or may not have committed")]
    CommitUnknownResult,
    /// A key longer than 10 000 bytes (FDB 2102 `key_too_large`).
    #[error("key too large: {0} bytes (limit {limit})", limit = crate::limits::MAX_KEY_BYTES)]
    KeyTooLarge(usize),
    /// A value longer than 100 000 bytes (FDB 2103 `value_too_large`).
    #[error("value too large: {0} bytes (limit {limit})", limit = crate::limits::MAX_VALUE_BYTES)]
    ValueTooLarge(usize),
    /// More than 10 MB written in one transaction (FDB 2101 `transaction_too_large`).
    #[error("transaction too large: {0} bytes written (limit {limit})", limit = crate::limits::MAX_TRANSACTION_BYTES)]
    TransactionTooLarge(usize),
    /// The operation did not finish in time (FDB 1031 `transaction_timed_out`).
    #[error("operation timed out")]
    TimedOut,
    /// Too many outstanding watches (FDB 1032 `too_many_watches`).
    #[error("too many watches are outstanding")]
    TooManyWatches,
    /// A watch whose transaction was dropped or whose store closed (FDB 1101 `operation_cancelled`).
    #[error("operation cancelled")]
    Cancelled,
    /// A begin key after the end key in a range operation (FDB 2005 `inverted_range`).
    #[error("range begin is after range end")]
    InvertedRange,
    /// `atomic_add` on a key outside the counter ranges (a bug, never retried).
    #[error("atomic add on {0}, which is not a counter key")]
    NotACounter(String),
    /// A stored value that does not decode: a bug or corruption, never retried.
    #[error("corrupt value at {key}: {reason}")]
    Corrupt {
        /// The key, printed for the log.
        key: String,
        /// What did not decode.
        reason: String,
    },
    /// The disk or the backend failed; the store may be unusable.
    #[error("storage I/O error: {0}")]
    Io(String),
    /// The store refused a write to keep the disk from filling (FDB 1036 has no equivalent;
    /// FoundationDB's storage servers stop taking writes the same way). Temporary.
    #[error("insufficient storage: {0}")]
    NoSpace(String),
    /// The store is recovering from a failure and takes no transactions for now. Temporary.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Any other backend error, with FoundationDB's code when there is one.
    #[error("backend error {code}: {message}")]
    Backend {
        /// FoundationDB error code (0 when not from FDB).
        code: i32,
        /// The backend's description.
        message: String,
        /// Whether FDB classifies it as retryable.
        retryable: bool,
    },
}

impl StoreError {
    /// Whether running the transaction again may succeed (FDB's `is_retryable`).
    pub fn is_retryable(&self) -> bool {
        match self {
            StoreError::NotCommitted
            | StoreError::TransactionTooOld
            | StoreError::CommitUnknownResult => true,
            StoreError::Backend { retryable, .. } => *retryable,
            _ => false,
        }
    }

    /// Whether the error is temporary for the client (4xx) rather than permanent (5xx).
    ///
    /// Everything except a limit breach or corruption may clear up on its own.
    pub fn is_temporary(&self) -> bool {
        !matches!(
            self,
            StoreError::KeyTooLarge(_)
                | StoreError::ValueTooLarge(_)
                | StoreError::TransactionTooLarge(_)
                | StoreError::InvertedRange
                | StoreError::NotACounter(_)
                | StoreError::Corrupt { .. }
        )
    }

    /// The FoundationDB error code this kind corresponds to.
    pub fn fdb_code(&self) -> i32 {
        match self {
            StoreError::NotCommitted => 1020,
            StoreError::TransactionTooOld => 1007,
            StoreError::CommitUnknownResult => 1021,
            StoreError::KeyTooLarge(_) => 2102,
            StoreError::ValueTooLarge(_) => 2103,
            StoreError::TransactionTooLarge(_) => 2101,
            StoreError::TimedOut => 1031,
            StoreError::TooManyWatches => 1032,
            StoreError::Cancelled => 1101,
            StoreError::InvertedRange => 2005,
            StoreError::Corrupt { .. }
            | StoreError::NotACounter(_)
            | StoreError::Io(_)
            | StoreError::NoSpace(_)
            | StoreError::Unavailable(_) => 4000,
            StoreError::Backend { code, .. } => *code,
        }
    }

    /// Whether the store takes no writes for now (out of space, or recovering).
    pub fn refuses_writes(&self) -> bool {
        matches!(self, StoreError::NoSpace(_) | StoreError::Unavailable(_))
    }

    /// Whether the store refused the write for lack of disk space.
    pub fn is_no_space(&self) -> bool {
        matches!(self, StoreError::NoSpace(_))
    }

    /// A short stable label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            StoreError::NotCommitted => "not_committed",
            StoreError::TransactionTooOld => "transaction_too_old",
            StoreError::CommitUnknownResult => "commit_unknown_result",
            StoreError::KeyTooLarge(_) => "key_too_large",
            StoreError::ValueTooLarge(_) => "value_too_large",
            StoreError::TransactionTooLarge(_) => "transaction_too_large",
            StoreError::TimedOut => "timed_out",
            StoreError::TooManyWatches => "too_many_watches",
            StoreError::Cancelled => "cancelled",
            StoreError::InvertedRange => "inverted_range",
            StoreError::Corrupt { .. } => "corrupt",
            StoreError::NotACounter(_) => "not_a_counter",
            StoreError::Io(_) => "io",
            StoreError::NoSpace(_) => "no_space",
            StoreError::Unavailable(_) => "unavailable",
            StoreError::Backend { .. } => "backend",
        }
    }
}

/// Errors of transaction bodies that may wrap a [`StoreError`], so the retry helper can tell
/// a conflict (run again) from a domain refusal (give up and return it).
pub trait TxError: From<StoreError> {
    /// The store error inside, if this is one.
    fn as_store(&self) -> Option<&StoreError>;
}

impl TxError for StoreError {
    fn as_store(&self) -> Option<&StoreError> {
        Some(self)
    }
}

/// Result with a [`StoreError`].
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
