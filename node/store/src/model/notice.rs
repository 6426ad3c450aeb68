//! Postmaster notices: one record per condition (a check about a subject, on a node or
//! cluster-wide), with when it was first and last seen, when it was last mailed, and how often.
//! Shared by every node, so a condition is mailed once per interval however many nodes see it.

use serde::{Deserialize, Serialize};

use super::codec;
use crate::{StoreError, Tx, keys::notices as k};

/// What the store remembers about one condition.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// The condition: `<scope>/<check>/<subject>` (scope: `node-<id>` or `cluster`).
    pub id: String,
    /// The check that found it (`tls.expiry`, `disk.space`, ...).
    pub check: String,
    /// What it is about.
    pub subject: String,
    /// `warning` or `error`.
    pub severity: String,
    /// What was found, as last seen.
    pub message: String,
    /// What to do.
    pub fix: String,
    /// Unix seconds it was first seen (in the current run of sightings).
    pub first_seen: i64,
    /// Unix seconds it was last seen.
    pub last_seen: i64,
    /// Unix seconds it was last mailed (0: never).
    pub last_sent: i64,
    /// Times it was mailed.
    pub sent: u64,
    /// Unix seconds it was last found cleared (0: still present).
    pub cleared: i64,
}

/// The notice `id`, if any.
pub async fn get(tx: &Tx, id: &str) -> Result<Option<Notice>, StoreError> {
    codec::read(tx, &k::notice(id)).await
}

/// Every notice.
pub async fn all(tx: &Tx) -> Result<Vec<Notice>, StoreError> {
    codec::read_all(tx, &k::all()).await
}

/// Stores `n`.
pub fn put(tx: &Tx, n: &Notice) -> Result<(), StoreError> {
    codec::write(tx, &k::notice(&n.id), n)
}
