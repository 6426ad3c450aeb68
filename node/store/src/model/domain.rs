//! Domains Tern accepts mail for.

use serde::{Deserialize, Serialize};

use super::{Directory, ModelError, ModelResult, codec, now};
use crate::{RangeOptions, Tx, keys::directory as k};

/// A local domain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Domain {
    /// Lower-cased name.
    pub name: String,
    /// Unix seconds of creation.
    pub created: i64,
}

impl Directory {
    /// Adds a domain.
    pub async fn add_domain(&self, name: &str) -> ModelResult<Domain> {
        let name = tern_proto::address::parse_domain(name)?;
        let name = &name;
        self.db
            .transact(|tx| async move {
                let key = k::domain(name);
                if tx.get(&key).await?.is_some() {
                    return Err(ModelError::AlreadyExists(format!("domain {name}")));
                }
                let domain = Domain {
                    name: name.clone(),
                    created: now(),
                };
                codec::write(&tx, &key, &domain)?;
                Ok(domain)
            })
            .await
    }

    /// The domain, if local.
    pub async fn domain(&self, name: &str) -> ModelResult<Option<Domain>> {
        let name = name.trim().to_lowercase();
        let name = &name;
        self.db
            .transact(|tx| async move { Ok(codec::read(&tx, &k::domain(name)).await?) })
            .await
    }

    /// Every domain, by name.
    pub async fn domains(&self) -> ModelResult<Vec<Domain>> {
        self.db
            .transact(|tx| async move { Ok(codec::read_all(&tx, &k::domains()).await?) })
            .await
    }

    /// Removes a domain that has no accounts or aliases left.
    pub async fn remove_domain(&self, name: &str) -> ModelResult<()> {
        let name = name.trim().to_lowercase();
        let name = &name;
        self.db
            .transact(|tx| async move {
                if tx.get(&k::domain(name)).await?.is_none() {
                    return Err(ModelError::NotFound(format!("domain {name}")));
                }
                let used = tx
                    .get_prefix(&k::addresses(name), RangeOptions::all().limit(1))
                    .await?;
                if !used.is_empty() {
                    return Err(ModelError::InUse(format!(
                        "domain {name} still has accounts or aliases; remove them first"
                    )));
                }
                tx.clear(&k::domain(name))?;
                tx.clear(&k::catch_all(name))?;
                tx.clear(&crate::keys::spam_thresholds::domain(name))?;
                Ok(())
            })
            .await
    }
}

/// Refuses, inside a transaction, an address whose domain is not local.
pub(crate) async fn require(tx: &Tx, domain: &str) -> ModelResult<()> {
    if tx.get(&k::domain(domain)).await?.is_none() {
        return Err(ModelError::NotFound(format!(
            "domain {domain} (add it first)"
        )));
    }
    Ok(())
}
