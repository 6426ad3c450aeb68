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
    // Fencing: a newer claim makes the old epoch stale; an older or equal one is refused.
    let claim = |node: u64, epoch: i64| {
        db.run(move |tx| async move { shard::claim(&tx, 3, node, epoch).await })
    };
    assert_eq!(claim(1, 1).await.expect("claim"), shard::Claim::Claimed);
    assert_eq!(claim(1, 1).await.expect("again"), shard::Claim::Claimed);
    assert_eq!(claim(2, 2).await.expect("claim"), shard::Claim::Claimed);
    assert_eq!(
        claim(1, 2).await.expect("stale"),
        shard::Claim::Superseded(shard::Owner { epoch: 2, node: 2 })
    );
    assert!(
        !db.run(|tx| async move { shard::still_owned(&tx, 3, 1).await })
            .await
            .expect("check")
    );
    assert!(
        db.run(|tx| async move { shard::still_owned(&tx, 3, 2).await })
            .await
            .expect("check")
    );
    let owners = db
        .run(|tx| async move { shard::owners(&tx).await })
        .await
        .expect("owners");
    assert_eq!(owners, [(3, shard::Owner { epoch: 2, node: 2 })]);
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

async fn counts(db: &Db, shard_no: u16) -> Vec<(i64, Option<i64>)> {
    let mut out = Vec::new();
    for status in ops::STATUSES {
        let c = db
            .run(|tx| async move { ops::count_of(&tx, shard_no, status).await })
            .await
            .expect("count");
        out.push((c.entries, c.oldest));
    }
    out
}

#[tokio::test]
async fn shard_counters_follow_every_change_without_a_scan() {
    let (_t, db) = store();
    let staged = blob::stage(&db, BODY).await.expect("stage");
    let staged = &staged;
    let make = |i: i64| QueueEntry {
        created: 100 + i,
        ..entry(&format!("c{i}"), staged.id)
    };
    db.run(|tx| async move {
        for i in 0..3 {
            queue::enqueue(&tx, &make(i), staged).await?;
        }
        Ok(())
    })
    .await
    .expect("enqueue");
    let s = make(0).shard;
    // pending, deferred, held
    assert_eq!(counts(&db, s).await, [(3, Some(100)), (0, None), (0, None)]);
    db.run(|tx| async move {
        let before = ops::get(&tx, "c0").await?.expect("c0");
        let mut after = before.clone();
        after.attempts = 1;
        ops::update(&tx, &before, &after)?;
        let before = ops::get(&tx, "c1").await?.expect("c1");
        let mut after = before.clone();
        after.held = true;
        ops::update(&tx, &before, &after)
    })
    .await
    .expect("defer and hold");
    assert_eq!(
        counts(&db, s).await,
        [(1, Some(102)), (1, Some(100)), (1, Some(101))]
    );
    db.run(|tx| async move {
        let e = ops::get(&tx, "c0").await?.expect("c0");
        ops::remove(&tx, &e)
    })
    .await
    .expect("remove");
    assert_eq!(
        counts(&db, s).await,
        [(1, Some(102)), (0, None), (1, Some(101))]
    );
    // Counting a queue from before the counters gives the same figures, once.
    db.run(|tx| async move {
        for st in ops::STATUSES {
            tx.set(&tern_store::keys::queue::count(s, st), &0i64.to_le_bytes())?;
            let (b, e) = tern_store::keys::queue::ages(s, st);
            tx.clear_range(&b, &e)?;
        }
        Ok(())
    })
    .await
    .expect("forget the counts");
    assert_eq!(counts(&db, s).await, [(0, None), (0, None), (0, None)]);
    assert!(ops::count_existing(&db, 64).await.expect("count"));
    assert_eq!(
        counts(&db, s).await,
        [(1, Some(102)), (0, None), (1, Some(101))]
    );
    assert!(!ops::count_existing(&db, 64).await.expect("once"));
}

#[tokio::test]
async fn the_shard_count_is_kept_from_the_first_start() {
    let (_t, db) = store();
    let first = db
        .run(|tx| async move { shard::layout(&tx, 16).await })
        .await
        .expect("layout");
    let later = db
        .run(|tx| async move { shard::layout(&tx, 64).await })
        .await
        .expect("layout");
    assert_eq!((first, later), (16, 16));
}
