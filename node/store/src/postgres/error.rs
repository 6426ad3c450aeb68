//! PostgreSQL's errors as the Store's kinds: serialization failures and deadlocks are conflicts
//! (retried like FoundationDB's `not_committed`), a cancelled statement is a timeout, a lost
//! connection or a database that is shutting down is an outage, a full disk is `NoSpace`.

use tokio_postgres::error::SqlState;

use crate::error::StoreError;

/// The error as one line: the server's message and SQLSTATE when it sent one.
pub(crate) fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
        None => match std::error::Error::source(e) {
            Some(source) => format!("{e}: {source}"),
            None => e.to_string(),
        },
    }
}

/// Maps an error of a statement inside a transaction.
pub(crate) fn map(e: &tokio_postgres::Error) -> StoreError {
    let Some(code) = e.code() else {
        // No SQLSTATE: the connection broke or could not be used.
        return StoreError::Unavailable(format!("database connection lost: {}", describe(e)));
    };
    if *code == SqlState::T_R_SERIALIZATION_FAILURE || *code == SqlState::T_R_DEADLOCK_DETECTED {
        return StoreError::NotCommitted;
    }
    if *code == SqlState::QUERY_CANCELED || *code == SqlState::LOCK_NOT_AVAILABLE {
        return StoreError::TimedOut;
    }
    let class = &code.code()[..2];
    match class {
        // Insufficient resources: disk full, out of memory, too many connections.
        "53" if *code == SqlState::DISK_FULL => StoreError::NoSpace(describe(e)),
        "53" | "08" | "57" => StoreError::Unavailable(describe(e)),
        _ => StoreError::Backend {
            code: 0,
            message: describe(e),
            retryable: false,
        },
    }
}

/// Maps an error of the COMMIT pipeline: a connection lost while the commit was in flight leaves
/// its outcome unknown.
pub(crate) fn map_commit(e: &tokio_postgres::Error) -> StoreError {
    match map(e) {
        StoreError::Unavailable(_) => StoreError::CommitUnknownResult,
        other => other,
    }
}
