//! Mailbox locks held in the store as leases, so they hold across nodes: a holder renews its
//! lease while it lives; a lease that is not renewed (crashed session or node) expires on its
//! own. Used by POP3, whose maildrop must be locked for the session (RFC 1939 §8).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Directory, ModelResult, codec};
use crate::keys;

/// What the lock key holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// Who holds it (a session id, unique across nodes).
    pub holder: String,
    /// Unix milliseconds after which it is free.
    pub expires_ms: i64,
    /// Whose mailbox it is (the account's address), for operators.
    #[serde(default)]
    pub owner: String,
}

/// Outcome of taking or renewing a lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockOutcome {
    /// The caller holds the lock until the new expiry.
    Held,
    /// Another holder has a live lease.
    Busy(Lease),
}

impl Directory {
    /// Takes (or, for the same holder, renews) the `kind` lock on `owner`'s mailbox for `lease`.
    pub async fn lock_mailbox(
        &self,
        kind: &str,
        mailbox: u64,
        holder: &str,
        owner: &str,
        lease: Duration,
    ) -> ModelResult<LockOutcome> {
        let key = keys::mailbox_lock(kind, mailbox);
        let key = &key;
        self.db
            .transact(|tx| async move {
                let now = crate::clock::now_ms();
                if let Some(current) = codec::read::<Lease>(&tx, key).await?
                    && current.holder != holder
                    && current.expires_ms > now
                {
                    return Ok(LockOutcome::Busy(current));
                }
                let next = Lease {
                    holder: holder.to_string(),
                    expires_ms: now + lease.as_millis() as i64,
                    owner: owner.to_string(),
                };
                codec::write(&tx, key, &next)?;
                Ok(LockOutcome::Held)
            })
            .await
    }

    /// Renews a lock the caller holds; `false` when it was lost (expired and taken by another).
    pub async fn renew_mailbox_lock(
        &self,
        kind: &str,
        mailbox: u64,
        holder: &str,
        lease: Duration,
    ) -> ModelResult<bool> {
        let key = keys::mailbox_lock(kind, mailbox);
        let key = &key;
        self.db
            .transact(|tx| async move {
                match codec::read::<Lease>(&tx, key).await? {
                    Some(current) if current.holder == holder => {
                        let next = Lease {
                            expires_ms: crate::clock::now_ms() + lease.as_millis() as i64,
                            ..current
                        };
                        codec::write(&tx, key, &next)?;
                        Ok(true)
                    }
                    _ => Ok(false),
                }
            })
            .await
    }

    /// Releases a lock if the caller still holds it.
    pub async fn unlock_mailbox(&self, kind: &str, mailbox: u64, holder: &str) -> ModelResult<()> {
        let key = keys::mailbox_lock(kind, mailbox);
        let key = &key;
        self.db
            .transact(|tx| async move {
                if codec::read::<Lease>(&tx, key)
                    .await?
                    .is_some_and(|l| l.holder == holder)
                {
                    tx.clear(key)?;
                }
                Ok(())
            })
            .await
    }

    /// The live `kind` locks, by mailbox id.
    pub async fn mailbox_locks(&self, kind: &str) -> ModelResult<Vec<(u64, Lease)>> {
        let (begin, end) = keys::mailbox_locks(kind);
        let (begin, end) = (&begin, &end);
        self.db
            .transact(|tx| async move {
                let now = crate::clock::now_ms();
                let mut out = Vec::new();
                for kv in tx.get_range(begin, end, crate::RangeOptions::all()).await? {
                    let (Some(mailbox), Ok(lease)) = (
                        keys::locked_mailbox(&kv.key),
                        codec::decode::<Lease>(&kv.key, &kv.value),
                    ) else {
                        continue;
                    };
                    if lease.expires_ms > now {
                        out.push((mailbox, lease));
                    }
                }
                Ok(out)
            })
            .await
    }

    /// Breaks the `kind` lock on a mailbox whoever holds it (an operator's command); returns
    /// the lease it broke, if one was live. The holder finds out at its next renewal.
    pub async fn break_mailbox_lock(&self, kind: &str, mailbox: u64) -> ModelResult<Option<Lease>> {
        let key = keys::mailbox_lock(kind, mailbox);
        let key = &key;
        self.db
            .transact(|tx| async move {
                let lease = codec::read::<Lease>(&tx, key).await?;
                tx.clear(key)?;
                Ok(lease.filter(|l| l.expires_ms > crate::clock::now_ms()))
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{Db, EmbeddedStore, model::AddressPolicy};

    /// On paused time: a lease nobody renews frees itself when its time is up, not before.
    #[tokio::test(start_paused = true)]
    async fn a_lease_not_renewed_expires_on_its_own() {
        let _clock = crate::clock::follow_tokio_time();
        let tmp = tempfile::tempdir().expect("tempdir");
        let db = Db::new(EmbeddedStore::open(tmp.path()).expect("open"));
        let dir = Directory::new(db, AddressPolicy::default());
        let lease = Duration::from_secs(60);
        assert_eq!(
            dir.lock_mailbox("pop3", 7, "a", "demo@example.test", lease)
                .await
                .expect("lock"),
            LockOutcome::Held
        );
        let busy = dir
            .lock_mailbox("pop3", 7, "b", "demo@example.test", lease)
            .await
            .expect("lock");
        assert!(
            matches!(busy, LockOutcome::Busy(ref l) if l.holder == "a"),
            "{busy:?}"
        );
        tokio::time::advance(Duration::from_secs(59)).await;
        assert!(matches!(
            dir.lock_mailbox("pop3", 7, "b", "demo@example.test", lease)
                .await
                .expect("lock"),
            LockOutcome::Busy(_)
        ));
        assert!(
            dir.renew_mailbox_lock("pop3", 7, "a", lease)
                .await
                .expect("renew")
        );
        tokio::time::advance(Duration::from_secs(59)).await;
        assert!(
            matches!(
                dir.lock_mailbox("pop3", 7, "b", "demo@example.test", lease)
                    .await
                    .expect("lock"),
                LockOutcome::Busy(_)
            ),
            "renewed"
        );
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(
            dir.lock_mailbox("pop3", 7, "b", "demo@example.test", lease)
                .await
                .expect("lock"),
            LockOutcome::Held,
            "expired a lease after the renewal"
        );
        assert!(
            !dir.renew_mailbox_lock("pop3", 7, "a", lease)
                .await
                .expect("renew"),
            "a lost it"
        );
    }
}
