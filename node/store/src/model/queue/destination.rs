//! Delivery state of one destination domain: consecutive connection failures and the
//! suspension they lead to ("suspended till"), with the last error, as operators see it.

use serde::{Deserialize, Serialize};

use super::codec;
use crate::{StoreError, Tx, keys::queue as k};

/// What the queue remembers about a destination between attempts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Destination {
    /// The destination domain.
    pub domain: String,
    /// Connection failures in a row (reset by any successful session).
    pub failures: u32,
    /// Unix seconds until which nothing is tried (0: not suspended).
    pub suspended_until: i64,
    /// The last connection or DNS error.
    pub last_error: String,
    /// Unix seconds of the first failure of the current run (0: not failing).
    #[serde(default)]
    pub failing_since: i64,
}

impl Destination {
    /// Suspended at `now`.
    pub fn is_suspended(&self, now: i64) -> bool {
        self.suspended_until > now
    }

    /// Seconds it has been failing at `now` (0 when not failing).
    pub fn failing_for(&self, now: i64) -> i64 {
        if self.failing_since > 0 {
            (now - self.failing_since).max(0)
        } else {
            0
        }
    }
}

/// The state of `domain` (default: never failed).
pub async fn get(tx: &Tx, domain: &str) -> Result<Destination, StoreError> {
    Ok(codec::read(tx, &k::destination(domain))
        .await?
        .unwrap_or_else(|| Destination {
            domain: domain.to_string(),
            ..Destination::default()
        }))
}

/// Every destination with a recorded state.
pub async fn all(tx: &Tx) -> Result<Vec<Destination>, StoreError> {
    codec::read_all(tx, &k::destinations()).await
}

/// Stores the state; a destination back to normal is forgotten.
pub fn put(tx: &Tx, dest: &Destination) -> Result<(), StoreError> {
    if dest.failures == 0 && dest.suspended_until == 0 {
        tx.clear(&k::destination(&dest.domain))
    } else {
        codec::write(tx, &k::destination(&dest.domain), dest)
    }
}
