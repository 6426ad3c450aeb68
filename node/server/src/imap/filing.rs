//! What can stop APPEND, COPY or MOVE from filing messages into a mailbox inside a store
//! transaction: the account's quota, or the store and model themselves.

use tern_store::{
    StoreError, Tx, TxError,
    model::{ModelError, account},
};

use crate::delivery::exceeds;

/// Why messages were not filed.
pub enum FilingError {
    /// The account would go over its quota (`NO [OVERQUOTA]`).
    OverQuota,
    /// Anything else, answered by `Session::fail`.
    Model(ModelError),
}

impl From<StoreError> for FilingError {
    fn from(e: StoreError) -> Self {
        FilingError::Model(e.into())
    }
}

impl TxError for FilingError {
    fn as_store(&self) -> Option<&StoreError> {
        match self {
            FilingError::Model(ModelError::Store(e)) => Some(e),
            _ => None,
        }
    }
}

/// Inside the filing transaction: refuses when adding `bytes` would put `account_id` over its
/// quota.
pub async fn check_quota(tx: &Tx, account_id: u64, bytes: u64) -> Result<(), FilingError> {
    let acct = account::get(tx, account_id)
        .await?
        .ok_or_else(|| FilingError::Model(ModelError::NotFound("account".into())))?;
    let usage = account::usage(tx, account_id).await?;
    if exceeds(&acct, usage, bytes) {
        return Err(FilingError::OverQuota);
    }
    Ok(())
}
