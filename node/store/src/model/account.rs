//! Accounts: a login, a password hash, quota limits and permissions, with the special-use
//! mailboxes every account starts with; login lookup by full address or unique local part.

use serde::{Deserialize, Serialize};
use tern_proto::{Address, Secret};

use super::{Directory, ModelError, ModelResult, codec, domain, mailbox, now, password};
use crate::{RangeOptions, Tx, keys::directory as k};

/// What owns an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum Owner {
    Account(u64),
    Alias,
}

/// A mail account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    /// Stable id.
    pub id: u64,
    /// The login address (`local@domain`, local part as created).
    pub address: String,
    /// Display name.
    #[serde(default)]
    pub display_name: String,
    /// Argon2id PHC string.
    pub password_hash: String,
    /// Quota in bytes (`None`: unlimited).
    #[serde(default)]
    pub quota_bytes: Option<u64>,
    /// Quota in messages (`None`: unlimited).
    #[serde(default)]
    pub quota_messages: Option<u64>,
    /// Whether the user may create mailboxes (IMAP CREATE).
    #[serde(default = "yes")]
    pub may_create_mailboxes: bool,
    /// Whether the user may use any sender address when submitting.
    #[serde(default)]
    pub may_send_as_any: bool,
    /// Unix seconds of creation.
    pub created: i64,
    /// Whether its mailbox names are stored in UTF-8 (accounts from before were converted from
    /// modified UTF-7 at their first IMAP login after the upgrade; see `utf8_names.rs`).
    #[serde(default)]
    pub utf8_names: bool,
}

fn yes() -> bool {
    true
}

/// Input to [`Directory::add_account`].
#[derive(Debug, Clone, Default)]
pub struct NewAccount {
    /// `local@domain`; the domain must exist.
    pub address: String,
    /// Initial password.
    pub password: Secret<String>,
    /// Display name.
    pub display_name: String,
    /// Quota in bytes.
    pub quota_bytes: Option<u64>,
    /// Quota in messages.
    pub quota_messages: Option<u64>,
}

/// Quota usage of an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Usage {
    /// Bytes stored.
    pub bytes: i64,
    /// Messages stored.
    pub messages: i64,
}

/// Outcome of looking a login name up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoginMatch {
    /// Exactly one account.
    Found(Account),
    /// No account by that name.
    Unknown,
    /// A bare local part that exists in several domains.
    Ambiguous(Vec<String>),
}

impl Directory {
    /// Creates an account with its Inbox, Sent, Drafts, Trash, Junk and Archive mailboxes.
    pub async fn add_account(&self, new: NewAccount) -> ModelResult<Account> {
        let address = Address::parse(&new.address)?;
        let hash = self.hashing.hash(&new.password)?;
        let local = address.lookup_local(self.policy.local_case_sensitive);
        let (address, local, hash, new) = (&address, &local, &hash, &new);
        self.db
            .transact(|tx| async move {
                let domain = address.domain();
                domain::require(&tx, domain).await?;
                let addr_key = k::address(domain, local);
                if let Some(owner) = codec::read::<Owner>(&tx, &addr_key).await? {
                    let what = if matches!(owner, Owner::Alias) {
                        "an alias"
                    } else {
                        "an account"
                    };
                    return Err(ModelError::AlreadyExists(format!(
                        "address {address} ({what})"
                    )));
                }
                let id = codec::next_id(&tx, "account", 1).await?;
                let account = Account {
                    id,
                    address: address.to_string(),
                    display_name: new.display_name.clone(),
                    password_hash: hash.clone(),
                    quota_bytes: new.quota_bytes,
                    quota_messages: new.quota_messages,
                    may_create_mailboxes: true,
                    may_send_as_any: false,
                    created: now(),
                    utf8_names: true,
                };
                codec::write(&tx, &k::account(id), &account)?;
                codec::write(&tx, &addr_key, &Owner::Account(id))?;
                tx.set(&k::login(local, domain), &id.to_le_bytes())?;
                mailbox::create_defaults(&tx, id).await?;
                Ok(account)
            })
            .await
    }

    /// An account by id.
    pub async fn account(&self, id: u64) -> ModelResult<Option<Account>> {
        self.db
            .transact(|tx| async move { Ok(codec::read(&tx, &k::account(id)).await?) })
            .await
    }

    /// The account owning exactly this address (not aliases).
    pub async fn account_by_address(&self, address: &str) -> ModelResult<Option<Account>> {
        let address = Address::parse(address)?;
        let local = address.lookup_local(self.policy.local_case_sensitive);
        let (address, local) = (&address, &local);
        self.db
            .transact(|tx| async move {
                match codec::read::<Owner>(&tx, &k::address(address.domain(), local)).await? {
                    Some(Owner::Account(id)) => Ok(codec::read(&tx, &k::account(id)).await?),
                    _ => Ok(None),
                }
            })
            .await
    }

    /// Every account, by id.
    pub async fn accounts(&self) -> ModelResult<Vec<Account>> {
        self.db
            .transact(|tx| async move { Ok(codec::read_all(&tx, &k::accounts()).await?) })
            .await
    }

    /// Looks up a login name: a full address always, a bare local part when it is unique
    /// across domains.
    pub async fn find_login(&self, login: &str) -> ModelResult<LoginMatch> {
        let login = login.trim();
        if login.contains('@') {
            return Ok(match self.account_by_address(login).await? {
                Some(a) => LoginMatch::Found(a),
                None => LoginMatch::Unknown,
            });
        }
        let local = if self.policy.local_case_sensitive {
            login.to_string()
        } else {
            login.to_lowercase()
        };
        let local = &local;
        self.db
            .transact(|tx| async move {
                let hits = tx
                    .get_prefix(&k::logins(local), RangeOptions::all().limit(16))
                    .await?;
                match hits.as_slice() {
                    [] => Ok(LoginMatch::Unknown),
                    [one] => {
                        let id =
                            u64::from_le_bytes(one.value.as_slice().try_into().unwrap_or([0; 8]));
                        Ok(match codec::read(&tx, &k::account(id)).await? {
                            Some(a) => LoginMatch::Found(a),
                            None => LoginMatch::Unknown,
                        })
                    }
                    many => {
                        let mut addresses = Vec::new();
                        for kv in many {
                            let id = u64::from_le_bytes(
                                kv.value.as_slice().try_into().unwrap_or([0; 8]),
                            );
                            if let Some(a) = codec::read::<Account>(&tx, &k::account(id)).await? {
                                addresses.push(a.address);
                            }
                        }
                        Ok(LoginMatch::Ambiguous(addresses))
                    }
                }
            })
            .await
    }

    /// Checks a password; `None` when the login is unknown, ambiguous or the password wrong.
    pub async fn authenticate(
        &self,
        login: &str,
        password: &Secret<String>,
    ) -> ModelResult<Option<Account>> {
        match self.find_login(login).await? {
            LoginMatch::Found(account) if password::verify(password, &account.password_hash) => {
                Ok(Some(account))
            }
            _ => Ok(None),
        }
    }

    /// Replaces an account's password.
    pub async fn set_password(&self, address: &str, password: &Secret<String>) -> ModelResult<()> {
        let hash = self.hashing.hash(password)?;
        let hash = &hash;
        self.update_account(address, |a| a.password_hash = hash.clone())
            .await
            .map(|_| ())
    }

    /// Stores `new` as the password hash of account `id` if it still holds `old` (a rehash of
    /// the same password at another cost: a password changed meanwhile is left alone).
    /// Whether it was stored.
    pub async fn rehash_password(&self, id: u64, old: &str, new: &str) -> ModelResult<bool> {
        self.db
            .transact(|tx| async move {
                let Some(mut account) = get(&tx, id).await? else {
                    return Ok(false);
                };
                if account.password_hash != old {
                    return Ok(false);
                }
                account.password_hash = new.to_string();
                codec::write(&tx, &k::account(id), &account)?;
                Ok(true)
            })
            .await
    }

    /// Sets an account's quota (`None`: unlimited).
    pub async fn set_quota(
        &self,
        address: &str,
        bytes: Option<u64>,
        messages: Option<u64>,
    ) -> ModelResult<Account> {
        self.update_account(address, |a| {
            a.quota_bytes = bytes;
            a.quota_messages = messages;
        })
        .await
    }

    /// Changes an account record.
    pub async fn update_account(
        &self,
        address: &str,
        change: impl Fn(&mut Account),
    ) -> ModelResult<Account> {
        let id = self.require_account(address).await?.id;
        let change = &change;
        self.db
            .transact(|tx| async move {
                let mut account: Account = codec::read(&tx, &k::account(id))
                    .await?
                    .ok_or_else(|| ModelError::NotFound(format!("account {id}")))?;
                change(&mut account);
                codec::write(&tx, &k::account(id), &account)?;
                Ok(account)
            })
            .await
    }

    /// The account at `address`, or a `NotFound` naming it.
    pub async fn require_account(&self, address: &str) -> ModelResult<Account> {
        self.account_by_address(address)
            .await?
            .ok_or_else(|| ModelError::NotFound(format!("account {}", address.trim())))
    }

    /// Current quota usage.
    pub async fn usage(&self, id: u64) -> ModelResult<Usage> {
        self.db
            .transact(|tx| async move { Ok(usage(&tx, id).await?) })
            .await
    }

    /// Deletes an account: its addresses go at once (mail to it is refused from then on), its
    /// mailboxes and messages are purged in bounded transactions.
    pub async fn remove_account(&self, address: &str) -> ModelResult<()> {
        let account = self.require_account(address).await?;
        let parsed = Address::parse(&account.address)?;
        let local = parsed.lookup_local(self.policy.local_case_sensitive);
        let (parsed, local, id) = (&parsed, &local, account.id);
        self.db
            .transact(|tx| async move {
                tx.clear(&k::address(parsed.domain(), local))?;
                tx.clear(&k::login(local, parsed.domain()))?;
                tx.clear(&k::forward(id))?;
                Ok::<_, ModelError>(())
            })
            .await?;
        for mbox in self.mailboxes(id).await? {
            self.purge_mailbox(id, mbox.id).await?;
        }
        self.db
            .transact(|tx| async move {
                tx.clear_prefix(&k::usages(id))?;
                tx.clear(&k::account(id))?;
                super::subscription::clear(&tx, id)?;
                tx.clear_prefix(&crate::keys::spam_lists::all(id))?;
                tx.clear(&crate::keys::spam_thresholds::account(id))?;
                Ok::<_, ModelError>(())
            })
            .await
    }
}

/// An account inside a transaction.
pub async fn get(tx: &Tx, id: u64) -> Result<Option<Account>, crate::StoreError> {
    codec::read(tx, &k::account(id)).await
}

/// Quota usage inside a transaction, read as a snapshot (no conflict with deliveries).
pub async fn usage(tx: &Tx, id: u64) -> Result<Usage, crate::StoreError> {
    Ok(Usage {
        bytes: tx.get_counter_snapshot(&k::usage(id, "bytes")).await?,
        messages: tx.get_counter_snapshot(&k::usage(id, "messages")).await?,
    })
}

/// Adjusts quota usage.
pub(crate) fn add_usage(
    tx: &Tx,
    id: u64,
    bytes: i64,
    messages: i64,
) -> Result<(), crate::StoreError> {
    tx.atomic_add(&k::usage(id, "bytes"), bytes)?;
    tx.atomic_add(&k::usage(id, "messages"), messages)
}
