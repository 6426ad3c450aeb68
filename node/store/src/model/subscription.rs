//! IMAP subscriptions: a list of mailbox names per account, kept apart from the mailboxes
//! themselves (RFC 3501 §6.3.6, RFC 9051 §6.3.7). Creating a mailbox does not subscribe it;
//! deleting one leaves its name on the list; renaming one moves its subscription. Accounts from
//! before the list kept a flag in each mailbox record: their list is built from those flags
//! the first time it is used.

use super::{Directory, ModelError, ModelResult, codec, mailbox::Mailbox};
use crate::{RangeOptions, StoreError, Tx, keys::mail as k};

/// Makes sure the account's list is kept under its own keys, building it from the mailboxes'
/// flags once.
async fn listed(tx: &Tx, account: u64) -> Result<(), StoreError> {
    if tx.get(&k::subscriptions_listed(account)).await?.is_some() {
        return Ok(());
    }
    let mailboxes: Vec<Mailbox> = codec::read_all(tx, &k::mailboxes(account)).await?;
    for m in mailboxes.iter().filter(|m| m.subscribed) {
        tx.set(&k::subscription(account, &m.name), b"")?;
    }
    mark_listed(tx, account)
}

/// Marks a new account's list as kept under its own keys.
pub(crate) fn mark_listed(tx: &Tx, account: u64) -> Result<(), StoreError> {
    tx.set(&k::subscriptions_listed(account), b"")
}

/// Puts `name` on (`on`) or takes it off the account's list inside a transaction.
pub(crate) async fn set(tx: &Tx, account: u64, name: &str, on: bool) -> Result<(), StoreError> {
    listed(tx, account).await?;
    super::mailbox::names_changed(tx, account)?;
    if on {
        tx.set(&k::subscription(account, name), b"")
    } else {
        tx.clear(&k::subscription(account, name))
    }
}

/// Moves a subscription of `from` to `to` (a renamed mailbox) inside a transaction.
pub(crate) async fn rename(tx: &Tx, account: u64, from: &str, to: &str) -> Result<(), StoreError> {
    listed(tx, account).await?;
    super::mailbox::names_changed(tx, account)?;
    if tx.get(&k::subscription(account, from)).await?.is_some() {
        tx.clear(&k::subscription(account, from))?;
        tx.set(&k::subscription(account, to), b"")?;
    }
    Ok(())
}

/// The names on an account's list, sorted, inside a transaction.
pub(crate) async fn names(tx: &Tx, account: u64) -> Result<Vec<String>, StoreError> {
    listed(tx, account).await?;
    let kvs = tx
        .get_prefix(&k::subscriptions(account), RangeOptions::all())
        .await?;
    Ok(kvs
        .iter()
        .filter_map(|kv| k::subscribed_name(&kv.key))
        .collect())
}

/// Forgets an account's list (the account is removed).
pub(crate) fn clear(tx: &Tx, account: u64) -> Result<(), StoreError> {
    tx.clear_prefix(&k::subscriptions(account))?;
    tx.clear(&k::subscriptions_listed(account))
}

impl Directory {
    /// The names on an account's subscription list, sorted; a name may outlive its mailbox.
    pub async fn subscriptions(&self, account: u64) -> ModelResult<Vec<String>> {
        self.db
            .transact(|tx| async move { Ok(names(&tx, account).await?) })
            .await
    }

    /// Subscribes to an existing mailbox (RFC 9051 lets a server check that it exists), or
    /// takes any name off the list, whether or not its mailbox still exists.
    pub async fn set_subscribed(&self, account: u64, name: &str, on: bool) -> ModelResult<()> {
        let name = super::mailbox::canonical_name(name)?;
        let name = &name;
        self.db
            .transact(|tx| async move {
                if on && super::mailbox::by_name(&tx, account, name).await?.is_none() {
                    return Err(ModelError::NotFound(format!("mailbox {name}")));
                }
                set(&tx, account, name, on).await?;
                Ok(())
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Db, EmbeddedStore, model::AddressPolicy};

    fn directory() -> (tempfile::TempDir, Directory) {
        let tmp = tempfile::tempdir().expect("tempdir");
        let db = Db::new(EmbeddedStore::open(tmp.path()).expect("open"));
        let policy = AddressPolicy {
            local_case_sensitive: false,
        };
        (tmp, Directory::new(db, policy))
    }

    /// An account from before the list: its mailboxes' flags become the list, once.
    #[tokio::test]
    async fn an_older_accounts_flags_become_its_list() {
        let (_tmp, dir) = directory();
        let old = |id: u64, name: &str, subscribed: bool| Mailbox {
            id,
            account: 9,
            name: name.into(),
            special_use: None,
            uidvalidity: 1,
            subscribed,
            created: 0,
        };
        let records = [
            old(1, "INBOX", true),
            old(2, "Lists", false),
            old(3, "Work", true),
        ];
        let records = &records;
        dir.db
            .run(|tx| async move {
                for m in records {
                    codec::write(&tx, &k::mailbox(9, m.id), m)?;
                    tx.set(&k::mailbox_name(9, &m.name), &m.id.to_le_bytes())?;
                }
                Ok(())
            })
            .await
            .expect("older records");
        assert_eq!(dir.subscriptions(9).await.expect("list"), ["INBOX", "Work"]);
        // From now on the list is its own: the flags are not read again.
        dir.set_subscribed(9, "Work", false)
            .await
            .expect("unsubscribe");
        dir.set_subscribed(9, "Lists", true)
            .await
            .expect("subscribe");
        assert_eq!(
            dir.subscriptions(9).await.expect("list"),
            ["INBOX", "Lists"]
        );
    }

    #[tokio::test]
    async fn names_stay_through_delete_and_move_with_rename() {
        let (_tmp, dir) = directory();
        dir.create_mailbox(9, "Travel").await.expect("create");
        dir.create_mailbox(9, "Drafts").await.expect("create");
        // Creating subscribes nothing.
        assert!(dir.subscriptions(9).await.expect("list").is_empty());
        let e = dir
            .set_subscribed(9, "Nowhere", true)
            .await
            .expect_err("no mailbox");
        assert!(matches!(e, ModelError::NotFound(_)), "{e}");
        dir.set_subscribed(9, "Travel", true)
            .await
            .expect("subscribe");
        dir.rename_mailbox(9, "Travel", "Trips")
            .await
            .expect("rename");
        assert_eq!(dir.subscriptions(9).await.expect("list"), ["Trips"]);
        dir.delete_mailbox(9, "Trips").await.expect("delete");
        assert_eq!(dir.subscriptions(9).await.expect("list"), ["Trips"]);
        dir.set_subscribed(9, "Trips", false)
            .await
            .expect("unsubscribe a gone name");
        dir.set_subscribed(9, "Trips", false)
            .await
            .expect("and again");
        assert!(dir.subscriptions(9).await.expect("list").is_empty());
    }
}
