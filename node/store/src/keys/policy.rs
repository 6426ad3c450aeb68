//! Key layout of the inbound policy's records: rate-limit counters and bans, each account's
//! spam lists and thresholds, greylisting triplets, DMARC reports received and the spam rules
//! set through the API (re-exported from [`super`], where the rest of the layout is).

use super::{ROOT, children, key};

/// Rate-limit counters in time buckets, and bans.
pub mod limits {
    use super::*;

    /// The count of `subject` in `space` during time bucket `bucket`.
    pub fn count(space: &str, bucket: i64, subject: &str) -> Vec<u8> {
        key(&("limit", space, bucket, subject))
    }

    /// Every count of `space` in buckets before `bucket`.
    pub fn before(space: &str, bucket: i64) -> (Vec<u8>, Vec<u8>) {
        (
            children(&("limit", space)).0,
            key(&("limit", space, bucket)),
        )
    }

    /// The ban of `subject` of `kind` (`ip`, `account`).
    pub fn ban(kind: &str, subject: &str) -> Vec<u8> {
        key(&("ban", kind, subject))
    }

    /// Every ban.
    pub fn bans() -> (Vec<u8>, Vec<u8>) {
        children(&("ban",))
    }
}

/// Each account's own spam allow and block lists.
pub mod spam_lists {
    use super::*;

    /// The entry `entry` (`user@domain` or `@domain`) of `account`'s lists.
    pub fn entry(account: u64, entry: &str) -> Vec<u8> {
        key(&("spamlist", account, entry))
    }

    /// Every entry of `account`'s lists.
    pub fn all(account: u64) -> (Vec<u8>, Vec<u8>) {
        children(&("spamlist", account))
    }

    /// The entry a key of [`entry`] names.
    pub fn entry_of(k: &[u8]) -> Option<String> {
        let (_, _, entry): (String, u64, String) = ROOT.unpack(k).ok()?;
        Some(entry)
    }
}

/// Spam score thresholds set per domain and per account.
pub mod spam_thresholds {
    use super::*;

    /// The thresholds of domain `name`.
    pub fn domain(name: &str) -> Vec<u8> {
        key(&("spamlevel", "domain", name))
    }

    /// The thresholds of `account`.
    pub fn account(account: u64) -> Vec<u8> {
        key(&("spamlevel", "account", account))
    }
}

/// Greylisting: one record per triplet (client network, sender, recipient).
pub mod greylist {
    use super::*;

    /// The record of `triplet`.
    pub fn triplet(triplet: &str) -> Vec<u8> {
        key(&("grey", triplet))
    }
}

/// DMARC aggregate reports received, by the domain they are about.
pub mod dmarc_reports {
    use super::*;

    /// The report `id` of `org` about `domain` whose period began at `begin`.
    pub fn report(domain: &str, begin: i64, org: &str, id: &str) -> Vec<u8> {
        key(&("dmarcrpt", domain, begin, org, id))
    }

    /// Every report about `domain`.
    pub fn of(domain: &str) -> (Vec<u8>, Vec<u8>) {
        children(&("dmarcrpt", domain))
    }

    /// Every report.
    pub fn all() -> (Vec<u8>, Vec<u8>) {
        children(&("dmarcrpt",))
    }
}

/// Spam score rules added through the admin API.
pub mod spam_rules {
    use super::*;

    /// The rule `name`.
    pub fn rule(name: &str) -> Vec<u8> {
        key(&("spamrule", name))
    }

    /// Every rule.
    pub fn all() -> (Vec<u8>, Vec<u8>) {
        children(&("spamrule",))
    }

    /// A counter bumped by every change, so nodes know to reload the rules.
    pub fn version() -> Vec<u8> {
        key(&("version", "spam_rules"))
    }
}
