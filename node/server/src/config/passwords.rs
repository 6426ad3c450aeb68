//! `[passwords]`: the Argon2id cost new password hashes are made at, never below OWASP's
//! recommended minimums. A login whose stored hash was made at another cost is hashed again.

use anyhow::bail;
use serde::{Deserialize, Serialize};
use tern_store::model::password::Hashing;

/// `[passwords]` as written.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawPasswords {
    /// Memory per hash, KiB.
    pub memory_kib: u32,
    /// Passes over the memory.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Default for RawPasswords {
    fn default() -> Self {
        let cost = Hashing::default();
        Self {
            memory_kib: cost.memory_kib,
            iterations: cost.iterations,
            parallelism: cost.parallelism,
        }
    }
}

/// The validated cost.
pub fn validate(raw: &RawPasswords) -> anyhow::Result<Hashing> {
    let cost = Hashing {
        memory_kib: raw.memory_kib,
        iterations: raw.iterations,
        parallelism: raw.parallelism,
    };
    if let Err(e) = cost.check() {
        bail!("[passwords]: {e}");
    }
    Ok(cost)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_is_owasps_and_less_is_refused() {
        assert_eq!(
            validate(&RawPasswords::default()).expect("default"),
            Hashing::default()
        );
        let weak = RawPasswords {
            memory_kib: 4096,
            ..RawPasswords::default()
        };
        let e = validate(&weak).expect_err("below the floor").to_string();
        assert!(e.starts_with("[passwords]: 4096 KiB × 2 iterations"), "{e}");
        let stronger = RawPasswords {
            memory_kib: 65_536,
            iterations: 3,
            parallelism: 2,
        };
        assert_eq!(validate(&stronger).expect("stronger").memory_kib, 65_536);
    }
}
