//! `\Recent` (RFC 3501 §2.3.2): a message is recent to exactly one session — the first to
//! have its mailbox selected after it arrived — on whichever node. Each mailbox keeps the
//! first UID not yet claimed; a claim moves it up inside a transaction, so two claims (two
//! sessions, two nodes) can never both get a UID. A mailbox from before this was kept has no
//! value, and its messages are not recent to anyone.

use crate::{StoreError, Tx, keys::mail as k};

fn decode(v: Option<Vec<u8>>) -> Option<u32> {
    v.and_then(|b| b.get(..4).and_then(|b| b.try_into().ok()))
        .map(u32::from_le_bytes)
}

/// Marks a new mailbox: everything that will arrive in it is recent until claimed.
pub(crate) fn start(tx: &Tx, mailbox: u64) -> Result<(), StoreError> {
    tx.set(&k::recent(mailbox), &1u32.to_le_bytes())
}

/// Claims the UIDs below `uidnext` that nobody has claimed: the range `[first, end)`, empty
/// when another session got there first.
pub async fn claim(tx: &Tx, mailbox: u64, uidnext: u32) -> Result<(u32, u32), StoreError> {
    let stored = decode(tx.get(&k::recent(mailbox)).await?);
    let first = stored.unwrap_or(uidnext);
    let end = uidnext.max(first);
    if stored != Some(end) {
        tx.set(&k::recent(mailbox), &end.to_le_bytes())?;
    }
    Ok((first, end))
}

/// The first UID not yet claimed (`None` for a mailbox from before `\Recent` was kept).
pub async fn unclaimed_from(tx: &Tx, mailbox: u64) -> Result<Option<u32>, StoreError> {
    Ok(decode(tx.get(&k::recent(mailbox)).await?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Db, EmbeddedStore};

    #[tokio::test]
    async fn a_uid_is_claimed_once() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::new(EmbeddedStore::open(dir.path()).expect("open"));
        let claim = |upto: u32, mailbox: u64| {
            let db = db.clone();
            async move {
                db.run(|tx| async move { claim(&tx, mailbox, upto).await })
                    .await
                    .expect("claim")
            }
        };
        // A mailbox from before: nothing it holds is recent, what comes next is.
        assert_eq!(claim(5, 1).await, (5, 5));
        assert_eq!(claim(7, 1).await, (5, 7));
        assert_eq!(claim(7, 1).await, (7, 7), "claimed already");
        // A new mailbox: everything from UID 1.
        db.run(|tx| async move { start(&tx, 2) })
            .await
            .expect("start");
        assert_eq!(claim(3, 2).await, (1, 3));
        assert_eq!(claim(2, 2).await, (3, 3), "never moves back");
        let unclaimed = db
            .run(|tx| async move { unclaimed_from(&tx, 2).await })
            .await
            .expect("read");
        assert_eq!(unclaimed, Some(3));
    }
}
