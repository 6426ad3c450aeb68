//! Recipient resolution: what a recipient address delivers to, after aliases, forwards and
//! catch-all addresses are expanded. SMTP asks this for every RCPT TO.

use std::collections::BTreeSet;

use tern_proto::Address;

use super::{
    Directory, ModelResult,
    account::Owner,
    alias::{Alias, Forward},
    codec,
};
use crate::{Tx, keys::directory as k};

/// Deepest alias chain followed.
const MAX_DEPTH: usize = 8;

/// Where mail for one recipient goes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Resolution {
    /// Local accounts whose INBOX receives a copy.
    pub accounts: BTreeSet<u64>,
    /// Remote addresses to relay to (forwards and external alias targets).
    pub remote: BTreeSet<String>,
}

/// The verdict on a recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recipient {
    /// The domain is not local.
    NotLocal,
    /// The domain is local but nothing answers for the address.
    Unknown,
    /// Where it goes.
    Local(Resolution),
}

impl Directory {
    /// Resolves a recipient address.
    pub async fn resolve(&self, address: &Address) -> ModelResult<Recipient> {
        let case = self.policy.local_case_sensitive;
        self.db
            .transact(|tx| async move {
                if tx.get(&k::domain(address.domain())).await?.is_none() {
                    return Ok(Recipient::NotLocal);
                }
                let mut out = Resolution::default();
                let mut seen = BTreeSet::new();
                if !expand(&tx, address, case, 0, &mut seen, &mut out).await? {
                    let catch_all: Option<String> =
                        codec::read(&tx, &k::catch_all(address.domain())).await?;
                    let Some(target) = catch_all.and_then(|t| Address::parse(&t).ok()) else {
                        return Ok(Recipient::Unknown);
                    };
                    if !expand(&tx, &target, case, 1, &mut seen, &mut out).await? {
                        return Ok(Recipient::Unknown);
                    }
                }
                Ok(Recipient::Local(out))
            })
            .await
    }
}

/// Adds what `address` delivers to; `false` when it is a local address nobody owns.
async fn expand(
    tx: &Tx,
    address: &Address,
    case: bool,
    depth: usize,
    seen: &mut BTreeSet<String>,
    out: &mut Resolution,
) -> Result<bool, crate::StoreError> {
    if !seen.insert(address.to_string()) || depth > MAX_DEPTH {
        // A loop or a chain too deep: what was found so far stands.
        return Ok(true);
    }
    if tx.get(&k::domain(address.domain())).await?.is_none() {
        out.remote.insert(address.to_string());
        return Ok(true);
    }
    let local = address.lookup_local(case);
    match codec::read::<Owner>(tx, &k::address(address.domain(), &local)).await? {
        None => Ok(false),
        Some(Owner::Account(id)) => {
            match codec::read::<Forward>(tx, &k::forward(id)).await? {
                Some(fwd) => {
                    if fwd.keep_copy {
                        out.accounts.insert(id);
                    }
                    for t in fwd.targets.iter().filter_map(|t| Address::parse(t).ok()) {
                        Box::pin(expand(tx, &t, case, depth + 1, seen, out)).await?;
                    }
                }
                None => {
                    out.accounts.insert(id);
                }
            }
            Ok(true)
        }
        Some(Owner::Alias) => {
            let alias: Option<Alias> = codec::read(tx, &k::alias(address.domain(), &local)).await?;
            let mut any = false;
            for t in alias
                .iter()
                .flat_map(|a| a.targets.iter())
                .filter_map(|t| Address::parse(t).ok())
            {
                any |= Box::pin(expand(tx, &t, case, depth + 1, seen, out)).await?;
            }
            Ok(any)
        }
    }
}
