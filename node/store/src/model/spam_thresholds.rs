//! Spam score thresholds set per domain and per account over the node's configured ones
//! (`[smtp.checks.score]`): an account's own value wins over its domain's, its domain's over
//! the configuration's; `junk` and `reject` are each set on their own.

use serde::{Deserialize, Serialize};

use crate::{StoreError, Tx, codec, keys::spam_thresholds as k};

/// The thresholds set at one level; `None` leaves the level below in force.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    /// From this score on, into Junk.
    #[serde(default)]
    pub junk: Option<f64>,
    /// From this score on, refused.
    #[serde(default)]
    pub reject: Option<f64>,
}

impl Thresholds {
    /// These, with `below`'s where these have none.
    pub fn over(self, below: Thresholds) -> Thresholds {
        Thresholds {
            junk: self.junk.or(below.junk),
            reject: self.reject.or(below.reject),
        }
    }

    /// Why these cannot be set, when they cannot: a threshold must be a positive number and
    /// `reject` above `junk`.
    pub fn invalid(&self) -> Option<String> {
        for (name, v) in [("junk", self.junk), ("reject", self.reject)] {
            if let Some(v) = v
                && !(v.is_finite() && v > 0.0)
            {
                return Some(format!("{name} must be a number above 0, not {v}"));
            }
        }
        match (self.junk, self.reject) {
            (Some(j), Some(r)) if r <= j => Some(format!("reject ({r}) must be above junk ({j})")),
            _ => None,
        }
    }
}

/// Where thresholds are set.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    /// Every account of a domain (lower case).
    Domain(&'a str),
    /// One account.
    Account(u64),
}

fn key(scope: Scope<'_>) -> Vec<u8> {
    match scope {
        Scope::Domain(name) => k::domain(name),
        Scope::Account(id) => k::account(id),
    }
}

/// Sets the thresholds of `scope` (clears them when neither is set).
pub fn set(tx: &Tx, scope: Scope<'_>, t: Thresholds) -> Result<(), StoreError> {
    if t == Thresholds::default() {
        return tx.clear(&key(scope));
    }
    codec::write(tx, &key(scope), &t)
}

/// The thresholds set at `scope` itself, read as a snapshot (a change meanwhile never fails a
/// delivery).
pub async fn get(tx: &Tx, scope: Scope<'_>) -> Result<Thresholds, StoreError> {
    let key = key(scope);
    Ok(match tx.get_snapshot(&key).await? {
        Some(v) => codec::decode(&key, &v)?,
        None => Thresholds::default(),
    })
}

/// What holds for `account` (its own over its domain's; the configuration's where neither is
/// set).
pub async fn effective(tx: &Tx, account: u64) -> Result<Thresholds, StoreError> {
    let own = get(tx, Scope::Account(account)).await?;
    if own.junk.is_some() && own.reject.is_some() {
        return Ok(own);
    }
    let Some(record) = super::account::get(tx, account).await? else {
        return Ok(own);
    };
    let domain = record
        .address
        .rsplit_once('@')
        .map(|(_, d)| d.to_ascii_lowercase())
        .unwrap_or_default();
    Ok(own.over(get(tx, Scope::Domain(&domain)).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_fill_in_what_is_unset_and_bad_values_are_named() {
        let own = Thresholds {
            junk: Some(3.0),
            reject: None,
        };
        let domain = Thresholds {
            junk: Some(8.0),
            reject: Some(20.0),
        };
        assert_eq!(
            own.over(domain),
            Thresholds {
                junk: Some(3.0),
                reject: Some(20.0)
            }
        );
        assert_eq!(own.invalid(), None);
        let upside_down = Thresholds {
            junk: Some(9.0),
            reject: Some(4.0),
        };
        assert_eq!(
            upside_down.invalid().as_deref(),
            Some("reject (4) must be above junk (9)")
        );
        let negative = Thresholds {
            junk: Some(-1.0),
            reject: None,
        };
        assert_eq!(
            negative.invalid().as_deref(),
            Some("junk must be a number above 0, not -1")
        );
    }
}
