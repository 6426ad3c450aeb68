//! Spam score rules added through the admin API, beside those of the configuration file: kept
//! as written (the server validates and compiles them), with a version counter every change
//! bumps, so each node reloads them when it changes and the cluster scores alike.

use serde::{Deserialize, Serialize};

use crate::{RangeOptions, StoreError, Tx, codec, keys::spam_rules as k};

/// A rule as written: a one-word name, points, and one of the matchers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StoredRule {
    /// Its name in `X-Spam-Status`.
    pub name: String,
    /// A header field name (with `pattern`).
    pub header: String,
    /// The text of the body parts (with `pattern`).
    pub body: bool,
    /// Attachment file-name extensions.
    pub attachment: Vec<String>,
    /// A MIME type of any part.
    pub mime_type: String,
    /// A size in bytes the message is larger than.
    pub size_over: u64,
    /// The regular expression of `header` and `body`.
    pub pattern: String,
    /// Its points.
    pub points: f64,
}

/// Adds or replaces a rule.
pub fn put(tx: &Tx, rule: &StoredRule) -> Result<(), StoreError> {
    codec::write(tx, &k::rule(&rule.name), rule)?;
    tx.atomic_add(&k::version(), 1)
}

/// Removes rule `name`; whether there was one.
pub async fn remove(tx: &Tx, name: &str) -> Result<bool, StoreError> {
    let key = k::rule(name);
    if tx.get(&key).await?.is_none() {
        return Ok(false);
    }
    tx.clear(&key)?;
    tx.atomic_add(&k::version(), 1)?;
    Ok(true)
}

/// Every rule, by name.
pub async fn all(tx: &Tx) -> Result<Vec<StoredRule>, StoreError> {
    let kvs = tx.get_prefix(&k::all(), RangeOptions::all()).await?;
    kvs.iter()
        .map(|kv| codec::decode(&kv.key, &kv.value))
        .collect()
}

/// The version of the rules (0 before any change), read as a snapshot.
pub async fn version(tx: &Tx) -> Result<i64, StoreError> {
    tx.get_counter_snapshot(&k::version()).await
}
