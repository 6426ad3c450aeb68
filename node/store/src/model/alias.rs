//! Aliases (one address delivering to several targets, local or remote), forwards (an
//! account's mail sent on, with or without a local copy) and per-domain catch-all addresses.

use serde::{Deserialize, Serialize};
use tern_proto::Address;

use super::{Directory, ModelError, ModelResult, account::Owner, codec, domain};
use crate::keys::directory as k;

/// An alias and its targets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alias {
    /// The alias address.
    pub address: String,
    /// Where its mail goes.
    pub targets: Vec<String>,
}

/// An account's forward.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Forward {
    /// Where mail is forwarded.
    pub targets: Vec<String>,
    /// Whether a copy is also kept in the account's INBOX.
    pub keep_copy: bool,
}

/// Parses and normalises a list of target addresses.
fn targets(list: &[String]) -> ModelResult<Vec<String>> {
    if list.is_empty() {
        return Err(ModelError::Invalid(
            "at least one target address is needed".into(),
        ));
    }
    list.iter()
        .map(|t| Ok(Address::parse(t)?.to_string()))
        .collect()
}

impl Directory {
    /// Creates an alias (or replaces the targets of an existing one).
    pub async fn set_alias(&self, address: &str, target_list: &[String]) -> ModelResult<Alias> {
        let address = Address::parse(address)?;
        let local = address.lookup_local(self.policy.local_case_sensitive);
        let alias = Alias {
            address: address.to_string(),
            targets: targets(target_list)?,
        };
        let (address, local, alias) = (&address, &local, &alias);
        self.db
            .transact(|tx| async move {
                let domain = address.domain();
                domain::require(&tx, domain).await?;
                let addr_key = k::address(domain, local);
                if let Some(Owner::Account(_)) = codec::read::<Owner>(&tx, &addr_key).await? {
                    return Err(ModelError::AlreadyExists(format!(
                        "address {address} (an account)"
                    )));
                }
                codec::write(&tx, &addr_key, &Owner::Alias)?;
                codec::write(&tx, &k::alias(domain, local), alias)?;
                Ok(alias.clone())
            })
            .await
    }

    /// Removes an alias.
    pub async fn remove_alias(&self, address: &str) -> ModelResult<()> {
        let address = Address::parse(address)?;
        let local = address.lookup_local(self.policy.local_case_sensitive);
        let (address, local) = (&address, &local);
        self.db
            .transact(|tx| async move {
                let key = k::alias(address.domain(), local);
                if tx.get(&key).await?.is_none() {
                    return Err(ModelError::NotFound(format!("alias {address}")));
                }
                tx.clear(&key)?;
                tx.clear(&k::address(address.domain(), local))?;
                Ok(())
            })
            .await
    }

    /// Every alias, optionally of one domain.
    pub async fn aliases(&self, domain: Option<&str>) -> ModelResult<Vec<Alias>> {
        let range = match domain {
            Some(d) => k::aliases(&d.trim().to_lowercase()),
            None => k::all_aliases(),
        };
        let range = &range;
        self.db
            .transact(|tx| async move { Ok(codec::read_all(&tx, range).await?) })
            .await
    }

    /// Sets (or with `None` removes) an account's forward.
    pub async fn set_forward(
        &self,
        address: &str,
        forward: Option<Forward>,
    ) -> ModelResult<Option<Forward>> {
        let id = self.require_account(address).await?.id;
        let forward = match forward {
            Some(f) => Some(Forward {
                targets: targets(&f.targets)?,
                keep_copy: f.keep_copy,
            }),
            None => None,
        };
        let forward = &forward;
        self.db
            .transact(|tx| async move {
                match forward {
                    Some(f) => codec::write(&tx, &k::forward(id), f)?,
                    None => tx.clear(&k::forward(id))?,
                }
                Ok::<_, ModelError>(forward.clone())
            })
            .await
    }

    /// An account's forward.
    pub async fn forward(&self, address: &str) -> ModelResult<Option<Forward>> {
        let id = self.require_account(address).await?.id;
        self.db
            .transact(|tx| async move { Ok(codec::read(&tx, &k::forward(id)).await?) })
            .await
    }

    /// Sets (or with `None` removes) the catch-all target of a domain.
    pub async fn set_catch_all(
        &self,
        domain: &str,
        target: Option<&str>,
    ) -> ModelResult<Option<String>> {
        let domain = tern_proto::address::parse_domain(domain)?;
        let target = target
            .map(|t| Address::parse(t).map(|a| a.to_string()))
            .transpose()?;
        let (domain, target) = (&domain, &target);
        self.db
            .transact(|tx| async move {
                if tx.get(&k::domain(domain)).await?.is_none() {
                    return Err(ModelError::NotFound(format!("domain {domain}")));
                }
                match target {
                    Some(t) => codec::write(&tx, &k::catch_all(domain), t)?,
                    None => tx.clear(&k::catch_all(domain))?,
                }
                Ok(target.clone())
            })
            .await
    }

    /// The catch-all target of a domain.
    pub async fn catch_all(&self, domain: &str) -> ModelResult<Option<String>> {
        let domain = domain.trim().to_lowercase();
        let domain = &domain;
        self.db
            .transact(|tx| async move { Ok(codec::read(&tx, &k::catch_all(domain)).await?) })
            .await
    }
}

impl Directory {
    /// Whether `account` may use `address` as its envelope sender: its own address, or an
    /// alias that lists it as a target.
    pub async fn may_send_as(
        &self,
        account: &super::Account,
        address: &Address,
    ) -> ModelResult<bool> {
        let case = self.policy.local_case_sensitive;
        let own = Address::parse(&account.address)?;
        let same = |a: &Address| {
            a.domain() == own.domain() && a.lookup_local(case) == own.lookup_local(case)
        };
        if same(address) {
            return Ok(true);
        }
        let local = address.lookup_local(case);
        let (local, address) = (&local, address);
        let alias: Option<Alias> = self
            .db
            .transact(|tx| async move {
                match codec::read::<Owner>(&tx, &k::address(address.domain(), local)).await? {
                    Some(Owner::Alias) => Ok::<_, ModelError>(
                        codec::read(&tx, &k::alias(address.domain(), local)).await?,
                    ),
                    _ => Ok(None),
                }
            })
            .await?;
        Ok(alias.is_some_and(|a| {
            a.targets
                .iter()
                .filter_map(|t| Address::parse(t).ok())
                .any(|t| same(&t))
        }))
    }
}
