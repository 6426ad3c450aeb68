//! Each account's own spam lists: senders (`user@domain`) or whole domains (`@domain`) whose
//! mail always goes to the INBOX (allow) or to Junk (block), whatever the spam score said.

use crate::{StoreError, Tx, keys::spam_lists as k};

/// Which list an entry is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum List {
    /// Always the INBOX.
    Allow,
    /// Always Junk.
    Block,
}

impl List {
    /// `allow` or `block`.
    pub fn name(self) -> &'static str {
        match self {
            List::Allow => "allow",
            List::Block => "block",
        }
    }

    /// The list `allow` or `block` names.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "allow" => Some(List::Allow),
            "block" => Some(List::Block),
            _ => None,
        }
    }
}

/// `entry` normalised (`user@domain` or `@domain`, lower case), or `None` when it is neither.
pub fn normalise(entry: &str) -> Option<String> {
    let e = entry.trim().to_ascii_lowercase();
    let (local, domain) = e.rsplit_once('@')?;
    let valid_domain = domain.contains('.')
        && domain
            .split('.')
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_alphanumeric() || c == '-'));
    (valid_domain && !local.contains(char::is_whitespace)).then_some(e)
}

/// Puts `entry` (normalised) on `account`'s `list` (off the other one).
pub fn set(tx: &Tx, account: u64, entry: &str, list: List) -> Result<(), StoreError> {
    tx.set(&k::entry(account, entry), list.name().as_bytes())
}

/// Takes `entry` off `account`'s lists; whether it was on one.
pub async fn remove(tx: &Tx, account: u64, entry: &str) -> Result<bool, StoreError> {
    let key = k::entry(account, entry);
    let had = tx.get(&key).await?.is_some();
    tx.clear(&key)?;
    Ok(had)
}

/// Every entry of `account`'s lists, with its list, in entry order.
pub async fn all(tx: &Tx, account: u64) -> Result<Vec<(String, List)>, StoreError> {
    let (begin, end) = k::all(account);
    let mut out = Vec::new();
    for kv in tx.get_range(&begin, &end, Default::default()).await? {
        let list = List::parse(&String::from_utf8_lossy(&kv.value));
        let entry = k::entry_of(&kv.key);
        if let (Some(list), Some(entry)) = (list, entry) {
            out.push((entry, list));
        }
    }
    Ok(out)
}

/// What `account`'s lists say of mail from `senders` (addresses, in order of trust): an entry
/// for an address wins over one for its domain; the first sender with an entry decides.
/// Snapshot reads: a list changing meanwhile never fails a delivery.
pub async fn verdict(
    tx: &Tx,
    account: u64,
    senders: &[String],
) -> Result<Option<List>, StoreError> {
    for sender in senders {
        let sender = sender.to_ascii_lowercase();
        let Some((_, domain)) = sender.rsplit_once('@') else {
            continue;
        };
        for entry in [sender.clone(), format!("@{domain}")] {
            if let Some(v) = tx.get_snapshot(&k::entry(account, &entry)).await?
                && let Some(list) = List::parse(&String::from_utf8_lossy(&v))
            {
                return Ok(Some(list));
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_senders_or_domains() {
        assert_eq!(
            normalise(" Ann@Example.ORG "),
            Some("ann@example.org".into())
        );
        assert_eq!(normalise("@Example.org"), Some("@example.org".into()));
        for bad in [
            "example.org",
            "ann@",
            "ann@localhost",
            "a b@example.org",
            "@ex ample.org",
        ] {
            assert_eq!(normalise(bad), None, "{bad}");
        }
    }
}
