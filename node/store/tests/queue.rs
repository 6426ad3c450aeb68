//! The outbound queue's records on the embedded store: paging, the due index, holding,
//! removal, ids that are never overwritten, shard fencing and destination state.

use tern_store::{
    Db, EmbeddedStore,
    blob::{self, BlobId},
    model::queue::{
        self, Notify, QueueEntry, QueuedRecipient, RecipientStatus, destination, ops, shard,
    },
};

const BODY: &[u8] = b"Subject: q\r\n\r\nx\r\n";

fn store() -> (tempfile::TempDir, Db) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let db = Db::new(EmbeddedStore::open(tmp.path()).expect("open"));
    (tmp, db)
}

/// An entry for `remote.test` with no recipients, due at 100.
fn entry(id: &str, blob: BlobId) -> QueueEntry {
    QueueEntry {
        id: id.into(),
        domain: "remote.test".into(),
        shard: queue::shard_of("remote.test", 64),
        sender: "a@example.test".into(),
        recipients: Vec::new(),
        blob,
        skip: 0,
        size: BODY.len() as u64,
        envid: None,
        ret: None,
        smtputf8: false,
        body_8bit: false,
        submitted_by: None,
        created: 100,
        next_attempt: 100,
        attempts: 0,
        held: false,
        history: Vec::new(),
        delay_warnings: 0,
    }
}

#[tokio::test]
async fn queue_entries_page_hold_and_fence() {
    let (_t, db) = store();
    let staged = blob::stage(&db, BODY).await.expect("stage");
    let entry = |i: u32| QueueEntry {
        next_attempt: 100 + i64::from(i),
        recipients: vec![QueuedRecipient {
            address: format!("r{i}@remote.test"),
            orcpt: None,
            notify: Notify::default(),
            status: RecipientStatus::Pending,
        }],
        ..entry(&format!("q{i:03}"), staged.id)
    };
    let staged = &staged;
    db.run(|tx| async move {
        for i in 0..5 {
            queue::enqueue(&tx, &entry(i), staged).await?;
        }
        Ok(())
    })
    .await
    .expect("enqueue");
    let shard_no = entry(0).shard;
    // Paging returns every entry once, in id order.
    let first = db
        .run(|tx| async move { ops::page(&tx, None, 2).await })
        .await
        .expect("page");
    assert_eq!(
        first.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
        ["q000", "q001"]
    );
    let rest = db
        .run(|tx| async move { ops::page(&tx, Some("q001"), 10).await })
        .await
        .expect("page");
    assert_eq!(rest.len(), 3);
    assert_eq!(ops::scan(&db).await.expect("scan").len(), 5);
    // The due index follows next_attempt; a held entry leaves it.
    let due = db
        .run(|tx| async move { ops::due(&tx, shard_no, 102, 10).await })
        .await
        .expect("due");
    assert_eq!(due.len(), 3);
    db.run(|tx| async move {
        let before = ops::get(&tx, "q000").await?.expect("entry");
        let mut after = before.clone();
        after.held = true;
        ops::update(&tx, &before, &after)
    })
    .await
    .expect("hold");
    let due = db
        .run(|tx| async move { ops::due(&tx, shard_no, 102, 10).await })
        .await
        .expect("due");
    assert_eq!(
        due.iter().map(|(_, id)| id.as_str()).collect::<Vec<_>>(),
        ["q001", "q002"]
    );
    // Removing drops the entry and its index.
    db.run(|tx| async move {
        let e = ops::get(&tx, "q001").await?.expect("entry");
        ops::remove(&tx, &e)
    })
    .await
    .expect("remove");
    assert_eq!(ops::scan(&db).await.expect("scan").len(), 4);
    // Fencing: a newer claim makes the old epoch stale.
    let old = db
        .run(|tx| async move { shard::claim(&tx, 3).await })
        .await
        .expect("claim");
    let new = db
        .run(|tx| async move { shard::claim(&tx, 3).await })
        .await
        .expect("claim");
    assert_eq!(new, old + 1);
    assert!(
        !db.run(|tx| async move { shard::still_owned(&tx, 3, old).await })
            .await
            .expect("check")
    );
    assert!(
        db.run(|tx| async move { shard::still_owned(&tx, 3, new).await })
            .await
            .expect("check")
    );
    // Destinations back to normal are forgotten.
    db.run(|tx| async move {
        let mut dst = destination::get(&tx, "down.test").await?;
        dst.failures = 3;
        dst.suspended_until = 500;
        destination::put(&tx, &dst)
    })
    .await
    .expect("suspend");
    let all = db
        .run(|tx| async move { destination::all(&tx).await })
        .await
        .expect("all");
    assert!(all[0].is_suspended(499) && !all[0].is_suspended(500));
    db.run(|tx| async move {
        let mut dst = destination::get(&tx, "down.test").await?;
        dst.failures = 0;
        dst.suspended_until = 0;
        destination::put(&tx, &dst)
    })
    .await
    .expect("clear");
    assert!(
        db.run(|tx| async move { destination::all(&tx).await })
            .await
            .expect("all")
            .is_empty()
    );
}

#[tokio::test]
async fn a_queue_id_is_never_overwritten() {
    let (_t, db) = store();
    let staged = blob::stage(&db, BODY).await.expect("stage");
    let entry = entry("same", staged.id);
    let (e, s) = (&entry, &staged);
    db.run(|tx| async move { queue::enqueue(&tx, e, s).await })
        .await
        .expect("first");
    // The same entry again (a retried transaction) is accepted without a second copy.
    db.run(|tx| async move { queue::enqueue(&tx, e, s).await })
        .await
        .expect("idempotent");
    // Another message under the same id is refused, and the first one is kept.
    let other = QueueEntry {
        sender: "b@example.test".into(),
        ..entry.clone()
    };
    let o = &other;
    let refused = db
        .run(|tx| async move { queue::enqueue(&tx, o, s).await })
        .await
        .expect_err("refused");
    assert!(refused.to_string().contains("already in use"), "{refused}");
    let kept = db
        .run(|tx| async move { ops::get(&tx, "same").await })
        .await
        .expect("get")
        .expect("kept");
    assert_eq!(kept.sender, "a@example.test");
}
