//! Mailbox names in UTF-8. Until IMAP offered UTF8=ACCEPT, names were stored as IMAP4rev1
//! clients sent them, in modified UTF-7 (`Entw&APw-rfe`); now they are stored as text and
//! encoded per session. An account from before is converted once, at its first IMAP login:
//! each name that is valid modified UTF-7 of other text is renamed to that text, subscriptions
//! with it, in one transaction that also marks the account done. A name whose text is already
//! taken, or that is not valid modified UTF-7 (a client that sent `&` bare), stays as it is.

use std::collections::HashSet;

use tern_proto::imap::mutf7;

use super::{Account, Directory, ModelError, ModelResult, codec, mailbox::Mailbox, subscription};
use crate::keys::{self, mail as k};

/// The text a stored name stands for, when it is modified UTF-7 of other text.
fn converted(name: &str) -> Option<String> {
    if !name.contains('&') {
        return None;
    }
    mutf7::decode(name).ok().filter(|text| text != name)
}

impl Directory {
    /// Converts an account's stored names to UTF-8 unless done already; returns how many
    /// mailboxes and subscriptions were renamed.
    pub async fn convert_names(&self, account: u64) -> ModelResult<usize> {
        self.db
            .transact(|tx| async move {
                let Some(mut record) = codec::read::<Account>(&tx, &keys::directory::account(account)).await?
                else {
                    return Ok(0);
                };
                if record.utf8_names {
                    return Ok(0);
                }
                let mailboxes: Vec<Mailbox> = codec::read_all(&tx, &k::mailboxes(account)).await?;
                let mut taken: HashSet<String> = mailboxes.iter().map(|m| m.name.clone()).collect();
                let mut renamed = 0;
                for mut m in mailboxes {
                    let Some(text) = converted(&m.name) else {
                        continue;
                    };
                    if !taken.insert(text.clone()) {
                        tracing::warn!(account, name = %m.name, "mailbox name left in modified UTF-7: its text is taken");
                        continue;
                    }
                    tx.clear(&k::mailbox_name(account, &m.name))?;
                    tx.set(&k::mailbox_name(account, &text), &m.id.to_le_bytes())?;
                    subscription::rename(&tx, account, &m.name, &text).await?;
                    m.name = text;
                    codec::write(&tx, &k::mailbox(account, m.id), &m)?;
                    renamed += 1;
                }
                // Subscriptions outliving their mailbox.
                for name in subscription::names(&tx, account).await? {
                    if let Some(text) = converted(&name).filter(|t| !taken.contains(t)) {
                        subscription::rename(&tx, account, &name, &text).await?;
                        renamed += 1;
                    }
                }
                record.utf8_names = true;
                codec::write(&tx, &keys::directory::account(account), &record)?;
                Ok::<_, ModelError>(renamed)
            })
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Db, EmbeddedStore, model::AddressPolicy};

    #[tokio::test]
    async fn names_from_before_are_converted_once() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let db = Db::new(EmbeddedStore::open(tmp.path()).expect("open"));
        let dir = Directory::new(
            db,
            AddressPolicy {
                local_case_sensitive: false,
            },
        );
        let id = 9;
        // An account from before: names as rev1 clients sent them, the mark not set.
        let record = Account {
            id,
            address: "old@example.test".into(),
            display_name: String::new(),
            password_hash: String::new(),
            quota_bytes: None,
            quota_messages: None,
            may_create_mailboxes: true,
            may_send_as_any: false,
            created: 0,
            utf8_names: false,
        };
        let record = &record;
        dir.db
            .transact(|tx| async move {
                codec::write(&tx, &keys::directory::account(id), record)?;
                Ok::<_, ModelError>(())
            })
            .await
            .expect("account");
        for name in [
            "Entw&APw-rfe",
            "Entw&APw-rfe/2026",
            "Tom &- Jerry",
            "Bare & sign",
        ] {
            dir.create_mailbox(id, name).await.expect("create");
        }
        dir.set_subscribed(id, "Entw&APw-rfe", true)
            .await
            .expect("subscribe");
        dir.create_mailbox(id, "Gone&AOQ-").await.expect("create");
        dir.set_subscribed(id, "Gone&AOQ-", true)
            .await
            .expect("subscribe");
        dir.delete_mailbox(id, "Gone&AOQ-").await.expect("delete");

        assert_eq!(dir.convert_names(id).await.expect("convert"), 4);
        let mut names: Vec<String> = dir
            .mailboxes(id)
            .await
            .expect("list")
            .into_iter()
            .map(|m| m.name)
            .collect();
        names.sort();
        for name in ["Entwürfe", "Entwürfe/2026", "Tom & Jerry", "Bare & sign"] {
            assert!(names.iter().any(|n| n == name), "{name} in {names:?}");
        }
        let subscribed = dir.subscriptions(id).await.expect("subscriptions");
        assert!(subscribed.iter().any(|n| n == "Entwürfe"), "{subscribed:?}");
        assert!(subscribed.iter().any(|n| n == "Goneä"), "{subscribed:?}");
        // Done once: a name with `&` made afterwards is text and stays.
        dir.create_mailbox(id, "A&AOQ-").await.expect("create");
        assert_eq!(dir.convert_names(id).await.expect("again"), 0);
        assert!(dir.mailbox(id, "A&AOQ-").await.expect("get").is_some());
    }
}
