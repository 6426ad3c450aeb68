//! The verified-credential cache: after a successful Argon2id check, the account's id maps to
//! a keyed BLAKE3 hash of the password (the key is random per process, so the cache never
//! holds the password or anything an attacker could test guesses against offline) together
//! with the stored password hash it was checked against. A later login with the same password
//! skips Argon2id while the entry is younger than the TTL and the account's password hash is
//! unchanged — a password change anywhere in the cluster therefore invalidates it, as the
//! account is read from the store on every login. Only successes are cached; wrong passwords
//! always pay the full cost. Bounded: when full, expired entries go first, then the oldest.

use std::{
    collections::HashMap,
    sync::Mutex,
    time::{Duration, Instant},
};

/// One verified credential.
struct Entry {
    /// Keyed hash of the password that matched.
    digest: blake3::Hash,
    /// Keyed hash of the account's stored PHC string at the time.
    phc: blake3::Hash,
    /// When it stops counting.
    expires: Instant,
}

/// Verified credentials by account id.
pub struct CredentialCache {
    key: [u8; 32],
    ttl: Duration,
    max_entries: usize,
    entries: Mutex<HashMap<u64, Entry>>,
}

impl CredentialCache {
    /// A cache keeping entries `ttl` long, at most `max_entries` of them (either 0: off).
    pub fn new(ttl: Duration, max_entries: usize) -> Self {
        Self {
            key: rand::random(),
            ttl,
            max_entries,
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn enabled(&self) -> bool {
        !self.ttl.is_zero() && self.max_entries > 0
    }

    fn hash(&self, bytes: &[u8]) -> blake3::Hash {
        blake3::keyed_hash(&self.key, bytes)
    }

    /// Whether `password` was verified for `account` (whose stored hash is `phc`) within the TTL.
    pub fn contains(&self, account: u64, phc: &str, password: &str, now: Instant) -> bool {
        if !self.enabled() {
            return false;
        }
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.get(&account).is_some_and(|e| {
            // blake3::Hash compares in constant time.
            e.expires > now
                && e.phc == self.hash(phc.as_bytes())
                && e.digest == self.hash(password.as_bytes())
        })
    }

    /// Records a successful check.
    pub fn insert(&self, account: u64, phc: &str, password: &str, now: Instant) {
        if !self.enabled() {
            return;
        }
        let entry = Entry {
            digest: self.hash(password.as_bytes()),
            phc: self.hash(phc.as_bytes()),
            expires: now + self.ttl,
        };
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= self.max_entries && !entries.contains_key(&account) {
            entries.retain(|_, e| e.expires > now);
            if entries.len() >= self.max_entries
                && let Some(oldest) = entries
                    .iter()
                    .min_by_key(|(_, e)| e.expires)
                    .map(|(id, _)| *id)
            {
                entries.remove(&oldest);
            }
        }
        entries.insert(account, entry);
    }

    /// Entries held.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hits_only_the_same_password_and_hash_within_the_ttl() {
        let c = CredentialCache::new(Duration::from_secs(60), 100);
        let t0 = Instant::now();
        assert!(!c.contains(1, "$phc1", "secret-1", t0));
        c.insert(1, "$phc1", "secret-1", t0);
        assert!(c.contains(1, "$phc1", "secret-1", t0 + Duration::from_secs(59)));
        assert!(!c.contains(1, "$phc1", "secret-2", t0), "another password");
        assert!(!c.contains(2, "$phc1", "secret-1", t0), "another account");
        assert!(
            !c.contains(1, "$phc2", "secret-1", t0),
            "the password was changed"
        );
        assert!(
            !c.contains(1, "$phc1", "secret-1", t0 + Duration::from_secs(60)),
            "expired"
        );
    }

    #[test]
    fn bounded_expired_first_then_oldest() {
        let c = CredentialCache::new(Duration::from_secs(60), 3);
        let t0 = Instant::now();
        for id in 0..3 {
            c.insert(id, "$phc", "pw", t0 + Duration::from_secs(id));
        }
        c.insert(10, "$phc", "pw", t0 + Duration::from_secs(5));
        assert_eq!(c.len(), 3);
        assert!(
            !c.contains(0, "$phc", "pw", t0 + Duration::from_secs(5)),
            "oldest evicted"
        );
        assert!(c.contains(1, "$phc", "pw", t0 + Duration::from_secs(5)));
        // Past 0..3's expiry: all expired entries go at once.
        c.insert(11, "$phc", "pw", t0 + Duration::from_secs(62));
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn off_when_ttl_or_size_is_zero() {
        for c in [
            CredentialCache::new(Duration::ZERO, 100),
            CredentialCache::new(Duration::from_secs(60), 0),
        ] {
            let t0 = Instant::now();
            c.insert(1, "$phc", "pw", t0);
            assert!(!c.contains(1, "$phc", "pw", t0));
            assert_eq!(c.len(), 0);
        }
    }

    #[test]
    fn holds_no_password_bytes() {
        let c = CredentialCache::new(Duration::from_secs(60), 10);
        c.insert(1, "$phc", "a-very-recognisable-password", Instant::now());
        let entries = c.entries.lock().expect("lock");
        let e = &entries[&1];
        assert_ne!(
            e.digest,
            blake3::hash(b"a-very-recognisable-password"),
            "keyed, not plain"
        );
    }
}
