//! The mail data model on the embedded store: directory, resolution, mailboxes, messages.

use tern_proto::{Address, Secret};
use tern_store::{
    Db, EmbeddedStore, blob,
    model::{
        AddressPolicy, Directory, Flags, Forward, LoginMatch, ModelError, NewAccount, Summary,
        message::{self, NewMessage},
        resolve::Recipient,
    },
    reclaim,
};

fn dir(case_sensitive: bool) -> (tempfile::TempDir, Directory) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let db = Db::new(EmbeddedStore::open(tmp.path()).expect("open"));
    (
        tmp,
        Directory::new(
            db,
            AddressPolicy {
                local_case_sensitive: case_sensitive,
            },
        ),
    )
}

fn account(address: &str) -> NewAccount {
    NewAccount {
        address: address.into(),
        password: Secret::new("correct horse".into()),
        ..Default::default()
    }
}

#[tokio::test]
async fn domains_accounts_and_logins() {
    let (_t, d) = dir(false);
    d.add_domain("Example.TEST").await.expect("domain");
    assert!(matches!(
        d.add_domain("example.test").await,
        Err(ModelError::AlreadyExists(_))
    ));
    assert!(matches!(
        d.add_domain("bad..name").await,
        Err(ModelError::Invalid(_))
    ));
    assert!(matches!(
        d.add_account(account("x@nowhere.test")).await,
        Err(ModelError::NotFound(_))
    ));
    let a = d
        .add_account(account(" Ann@example.test "))
        .await
        .expect("account");
    assert_eq!(a.address, "Ann@example.test");
    assert!(matches!(
        d.add_account(account("ann@EXAMPLE.test")).await,
        Err(ModelError::AlreadyExists(_))
    ));
    let weak = NewAccount {
        password: Secret::new("short".into()),
        ..account("b@example.test")
    };
    assert!(matches!(
        d.add_account(weak).await,
        Err(ModelError::Invalid(_))
    ));

    let names: Vec<String> = d
        .mailboxes(a.id)
        .await
        .expect("mailboxes")
        .into_iter()
        .map(|m| m.name)
        .collect();
    assert_eq!(
        names,
        ["INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive"]
    );

    assert!(
        d.authenticate("ann@example.test", &Secret::new("correct horse".into()))
            .await
            .expect("auth")
            .is_some()
    );
    assert!(
        d.authenticate("ann", &Secret::new("correct horse".into()))
            .await
            .expect("auth")
            .is_some()
    );
    assert!(
        d.authenticate("ann", &Secret::new("wrong".into()))
            .await
            .expect("auth")
            .is_none()
    );
    d.add_domain("other.test").await.expect("domain");
    d.add_account(account("ann@other.test"))
        .await
        .expect("account");
    assert!(
        matches!(d.find_login("ann").await.expect("lookup"), LoginMatch::Ambiguous(v) if v.len() == 2)
    );
    assert!(matches!(
        d.remove_domain("other.test").await,
        Err(ModelError::InUse(_))
    ));
    d.remove_account("ann@other.test").await.expect("remove");
    d.remove_domain("other.test")
        .await
        .expect("empty domain removed");
    assert!(matches!(
        d.find_login("ann").await.expect("lookup"),
        LoginMatch::Found(_)
    ));
}

#[tokio::test]
async fn a_password_is_hashed_at_the_directorys_cost_and_rehashed_only_if_unchanged() {
    use tern_store::model::password::{self, Hashing};
    let (_t, d) = dir(false);
    let cheap = Hashing {
        memory_kib: 7_168,
        iterations: 5,
        parallelism: 1,
    };
    let d = d.with_hashing(cheap);
    d.add_domain("example.test").await.expect("domain");
    let a = d
        .add_account(account("ann@example.test"))
        .await
        .expect("account");
    assert!(
        a.password_hash.contains("m=7168,t=5,p=1"),
        "{}",
        a.password_hash
    );
    assert!(Hashing::default().outdated(&a.password_hash));
    assert!(!cheap.outdated(&a.password_hash));

    let new = Hashing::default()
        .hash(&Secret::new("correct horse".into()))
        .expect("hash");
    assert!(
        !d.rehash_password(a.id, "another hash", &new)
            .await
            .expect("rehash"),
        "a hash that is no longer the stored one is not replaced"
    );
    assert!(
        d.rehash_password(a.id, &a.password_hash, &new)
            .await
            .expect("rehash")
    );
    let stored = d.account(a.id).await.expect("read").expect("account");
    assert_eq!(stored.password_hash, new);
    assert!(password::verify(
        &Secret::new("correct horse".into()),
        &stored.password_hash
    ));
    assert!(
        !d.rehash_password(u64::MAX, &new, &new)
            .await
            .expect("no account")
    );
}

#[tokio::test]
async fn local_parts_are_exact_by_default() {
    let (_t, d) = dir(true);
    d.add_domain("example.test").await.expect("domain");
    d.add_account(account("Ann@example.test"))
        .await
        .expect("account");
    assert!(
        d.account_by_address("ann@example.test")
            .await
            .expect("lookup")
            .is_none()
    );
    assert!(
        d.account_by_address("Ann@EXAMPLE.TEST ")
            .await
            .expect("lookup")
            .is_some()
    );
}

#[tokio::test]
async fn aliases_forwards_and_catch_all_resolve() {
    let (_t, d) = dir(false);
    d.add_domain("example.test").await.expect("domain");
    let ann = d
        .add_account(account("ann@example.test"))
        .await
        .expect("ann");
    let bob = d
        .add_account(account("bob@example.test"))
        .await
        .expect("bob");
    let resolve = |s: &str| {
        let d = d.clone();
        let a = Address::parse(s).expect("address");
        async move { d.resolve(&a).await.expect("resolve") }
    };
    assert_eq!(resolve("x@elsewhere.test").await, Recipient::NotLocal);
    assert_eq!(resolve("nobody@example.test").await, Recipient::Unknown);

    d.set_alias(
        "team@example.test",
        &[
            "ann@example.test".into(),
            "bob@example.test".into(),
            "ext@remote.test".into(),
        ],
    )
    .await
    .expect("alias");
    let Recipient::Local(r) = resolve("team@example.test").await else {
        panic!("team is local")
    };
    assert_eq!(
        r.accounts.into_iter().collect::<Vec<_>>(),
        vec![ann.id, bob.id]
    );
    assert_eq!(
        r.remote.into_iter().collect::<Vec<_>>(),
        vec!["ext@remote.test".to_string()]
    );
    assert!(matches!(
        d.set_alias("ann@example.test", &["bob@example.test".into()])
            .await,
        Err(ModelError::AlreadyExists(_))
    ));

    d.set_forward(
        "bob@example.test",
        Some(Forward {
            targets: vec!["bob@remote.test".into()],
            keep_copy: false,
        }),
    )
    .await
    .expect("fwd");
    let Recipient::Local(r) = resolve("bob@example.test").await else {
        panic!()
    };
    assert!(r.accounts.is_empty() && r.remote.contains("bob@remote.test"));
    d.set_forward(
        "bob@example.test",
        Some(Forward {
            targets: vec!["bob@remote.test".into()],
            keep_copy: true,
        }),
    )
    .await
    .expect("fwd");
    let Recipient::Local(r) = resolve("bob@example.test").await else {
        panic!()
    };
    assert!(r.accounts.contains(&bob.id) && r.remote.contains("bob@remote.test"));

    d.set_catch_all("example.test", Some("ann@example.test"))
        .await
        .expect("catch-all");
    let Recipient::Local(r) = resolve("anything@example.test").await else {
        panic!("catch-all")
    };
    assert!(r.accounts.contains(&ann.id));

    // Alias loops terminate.
    d.set_alias("loop1@example.test", &["loop2@example.test".into()])
        .await
        .expect("alias");
    d.set_alias(
        "loop2@example.test",
        &["loop1@example.test".into(), "ann@example.test".into()],
    )
    .await
    .expect("alias");
    let Recipient::Local(r) = resolve("loop1@example.test").await else {
        panic!()
    };
    assert!(r.accounts.contains(&ann.id));
}

#[tokio::test]
async fn messages_get_uids_modseqs_and_counters() {
    let (_t, d) = dir(false);
    d.add_domain("example.test").await.expect("domain");
    let ann = d
        .add_account(account("ann@example.test"))
        .await
        .expect("ann");
    let inbox = d
        .mailbox(ann.id, "inbox")
        .await
        .expect("lookup")
        .expect("INBOX exists");
    let raw = b"From: a@b.test\r\nSubject: one\r\n\r\nbody\r\n";
    let summary = Summary::parse(raw);
    let staged = blob::stage(d.db(), raw).await.expect("stage");
    let (staged, summary, inbox_id) = (&staged, &summary, inbox.id);
    let mut uids = Vec::new();
    for seen in [false, true, false] {
        let meta = d
            .db()
            .run(|tx| async move {
                let flags = if seen { Flags::SEEN } else { Flags::default() };
                message::append(
                    &tx,
                    ann.id,
                    inbox_id,
                    &NewMessage {
                        body: staged,
                        summary: Some(summary),
                        flags,
                        keywords: vec![],
                        internal_date: 0,
                    },
                )
                .await
            })
            .await
            .expect("append");
        uids.push((meta.uid, meta.modseq));
    }
    assert_eq!(uids, vec![(1, 2), (2, 3), (3, 4)]);
    let status = d.mailbox_status(&inbox).await.expect("status");
    assert_eq!(
        (
            status.messages,
            status.unseen,
            status.uidnext,
            status.highest_modseq
        ),
        (3, 2, 4, 4)
    );
    assert_eq!(
        d.usage(ann.id).await.expect("usage").bytes,
        3 * raw.len() as i64
    );

    let flagged = d
        .db()
        .run(|tx| async move {
            message::set_flags(
                &tx,
                inbox_id,
                1,
                Flags::SEEN.union(Flags::DELETED),
                vec!["$Work".into()],
            )
            .await
        })
        .await
        .expect("flags")
        .expect("uid 1");
    assert_eq!(flagged.modseq, 5);
    let gone = d
        .db()
        .run(|tx| async move { message::expunge(&tx, ann.id, inbox_id, &[1, 99]).await })
        .await
        .expect("expunge");
    assert_eq!(gone, vec![1]);
    let status = d.mailbox_status(&inbox).await.expect("status");
    assert_eq!(
        (
            status.messages,
            status.unseen,
            status.uidnext,
            status.highest_modseq
        ),
        (2, 1, 4, 6)
    );
    // Many at once: consecutive MODSEQs, the unseen counter moved by the net change.
    let batch = d
        .db()
        .run(|tx| async move {
            let mut changes = Vec::new();
            for uid in [2, 3] {
                let meta = message::get(&tx, inbox_id, uid).await?.expect("record");
                let flags = meta.flags.union(Flags::SEEN);
                changes.push((meta, flags, vec!["$Done".to_string()]));
            }
            message::set_flags_of(&tx, inbox_id, changes).await
        })
        .await
        .expect("flags");
    assert_eq!(
        batch.iter().map(|m| (m.uid, m.modseq)).collect::<Vec<_>>(),
        vec![(2, 7), (3, 8)]
    );
    assert!(batch.iter().all(|m| m.keywords == ["$Done"]));
    let status = d.mailbox_status(&inbox).await.expect("status");
    assert_eq!(
        (status.messages, status.unseen, status.highest_modseq),
        (2, 0, 8)
    );
    let stored = d
        .db()
        .run(|tx| async move { message::summary(&tx, blob::BlobId::of(raw)).await })
        .await
        .expect("summary");
    assert_eq!(stored.and_then(|s| s.envelope.subject), Some("one".into()));

    d.create_mailbox(ann.id, "Projects/2026")
        .await
        .expect("create");
    assert!(
        d.create_mailbox(ann.id, "projects/2026").await.is_ok(),
        "names are case-sensitive except INBOX"
    );
    assert!(matches!(
        d.create_mailbox(ann.id, "INBOX").await,
        Err(ModelError::AlreadyExists(_))
    ));
    d.rename_mailbox(ann.id, "Projects/2026", "Done")
        .await
        .expect("rename");
    d.delete_mailbox(ann.id, "Done").await.expect("delete");
    assert!(matches!(
        d.delete_mailbox(ann.id, "INBOX").await,
        Err(ModelError::Invalid(_))
    ));
    d.remove_account("ann@example.test")
        .await
        .expect("remove account with mail");
    let stats = reclaim::collect_garbage(d.db(), blob::PENDING_TTL)
        .await
        .expect("gc");
    assert_eq!(stats.blobs, 1, "the shared body goes with its last message");
}

#[tokio::test]
async fn mailbox_leases_exclude_expire_and_release() {
    use std::time::Duration;
    use tern_store::model::lock::LockOutcome;
    let (_t, d) = dir(false);
    let lease = Duration::from_millis(300);
    assert_eq!(
        d.lock_mailbox("pop3", 7, "a", "demo@example.test", lease)
            .await
            .expect("lock"),
        LockOutcome::Held
    );
    assert!(
        matches!(d.lock_mailbox("pop3", 7, "b", "demo@example.test", lease).await.expect("lock"), LockOutcome::Busy(l) if l.holder == "a")
    );
    assert_eq!(
        d.lock_mailbox("imap", 7, "b", "demo@example.test", lease)
            .await
            .expect("other kind"),
        LockOutcome::Held
    );
    assert!(
        d.renew_mailbox_lock("pop3", 7, "a", lease)
            .await
            .expect("renew")
    );
    assert!(
        !d.renew_mailbox_lock("pop3", 7, "b", lease)
            .await
            .expect("renew"),
        "b never held it"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(
        d.lock_mailbox("pop3", 7, "b", "demo@example.test", lease)
            .await
            .expect("lock"),
        LockOutcome::Held,
        "an unrenewed lease expires"
    );
    assert!(
        !d.renew_mailbox_lock("pop3", 7, "a", lease)
            .await
            .expect("renew"),
        "a lost it"
    );
    d.unlock_mailbox("pop3", 7, "a")
        .await
        .expect("not a's to release");
    assert!(matches!(
        d.lock_mailbox("pop3", 7, "c", "demo@example.test", lease)
            .await
            .expect("lock"),
        LockOutcome::Busy(_)
    ));
    d.unlock_mailbox("pop3", 7, "b").await.expect("release");
    assert_eq!(
        d.lock_mailbox("pop3", 7, "c", "demo@example.test", lease)
            .await
            .expect("lock"),
        LockOutcome::Held
    );
}

#[tokio::test]
async fn operators_list_and_break_mailbox_locks() {
    use std::time::Duration;
    use tern_store::model::lock::LockOutcome;
    let (_t, d) = dir(false);
    let lease = Duration::from_secs(60);
    d.lock_mailbox("pop3", 7, "s1", "a@example.test", lease)
        .await
        .expect("lock");
    d.lock_mailbox("pop3", 9, "s2", "b@example.test", lease)
        .await
        .expect("lock");
    d.lock_mailbox("imap", 7, "s3", "a@example.test", lease)
        .await
        .expect("other kind");
    let locks = d.mailbox_locks("pop3").await.expect("list");
    let listed: Vec<(u64, &str, &str)> = locks
        .iter()
        .map(|(m, l)| (*m, l.holder.as_str(), l.owner.as_str()))
        .collect();
    assert_eq!(
        listed,
        [(7, "s1", "a@example.test"), (9, "s2", "b@example.test")]
    );
    let broken = d.break_mailbox_lock("pop3", 7).await.expect("break");
    assert_eq!(broken.map(|l| l.holder), Some("s1".to_string()));
    assert!(
        !d.renew_mailbox_lock("pop3", 7, "s1", lease)
            .await
            .expect("renew"),
        "the holder learns it at its renewal"
    );
    assert_eq!(
        d.lock_mailbox("pop3", 7, "s4", "a@example.test", lease)
            .await
            .expect("lock"),
        LockOutcome::Held
    );
    assert_eq!(
        d.break_mailbox_lock("pop3", 8).await.expect("nothing"),
        None
    );
}
