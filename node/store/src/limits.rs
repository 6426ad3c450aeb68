//! FoundationDB's hard limits, enforced by every backend so that code which passes on the
//! embedded store also fits a FoundationDB cluster.

use std::time::Duration;

use crate::error::StoreError;

/// Largest key FoundationDB accepts.
pub const MAX_KEY_BYTES: usize = 10_000;
/// Largest value FoundationDB accepts.
pub const MAX_VALUE_BYTES: usize = 100_000;
/// Most bytes (keys, values, ranges) one transaction may write.
pub const MAX_TRANSACTION_BYTES: usize = 10_000_000;
/// Longest a transaction may live before reads and commit fail with `transaction_too_old`.
pub const MAX_TRANSACTION_AGE: Duration = Duration::from_secs(5);
/// Watches outstanding per store handle (FDB's default `max_watches`).
pub const MAX_WATCHES: usize = 10_000;

/// Refuses a key over the limit.
pub fn check_key(key: &[u8]) -> Result<(), StoreError> {
    if key.len() > MAX_KEY_BYTES {
        return Err(StoreError::KeyTooLarge(key.len()));
    }
    Ok(())
}

/// Refuses a value over the limit.
pub fn check_value(value: &[u8]) -> Result<(), StoreError> {
    if value.len() > MAX_VALUE_BYTES {
        return Err(StoreError::ValueTooLarge(value.len()));
    }
    Ok(())
}

/// Refuses an inverted range.
pub fn check_range(begin: &[u8], end: &[u8]) -> Result<(), StoreError> {
    check_key(begin)?;
    check_key(end)?;
    if begin > end {
        return Err(StoreError::InvertedRange);
    }
    Ok(())
}
