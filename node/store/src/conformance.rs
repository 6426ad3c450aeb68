//! The conformance suite every backend runs: FoundationDB's semantics (conflicts, snapshot
//! reads, read-your-writes, ranges, atomic adds, watches), its limits, and blob chunking.
//! Each check takes an empty store and panics with a message when the backend misbehaves.
//! The kill -9 durability case needs a child process: the test files spawn it, and it runs
//! [`commit_numbered_until_killed`]; [`missing_numbered`] checks what survived.

use std::time::Duration;

use crate::{
    Db, RangeOptions, StoreError, blob,
    keys::scratch,
    limits::{MAX_KEY_BYTES, MAX_TRANSACTION_AGE, MAX_VALUE_BYTES},
    reclaim,
};

fn k(i: u64) -> Vec<u8> {
    scratch::item("conf", i)
}

/// A key that takes atomic adds.
fn c(i: u64) -> Vec<u8> {
    scratch::counter("conf", i)
}

/// Whether the backend's conflicts are exactly FoundationDB's (see
/// [`crate::Store::conflicts_exactly`]); the checks of FoundationDB's exact behaviour run only
/// then, the checks of serializability always.
fn exact(db: &Db) -> bool {
    db.backend().conflicts_exactly()
}

/// Write skew, which every serializable store must refuse: `reader` read `k(a)` before another
/// transaction that read `k(b)` wrote `k(a)` and committed; `reader` then writes `k(b)`. Either
/// order of the two would have let one see the other's write, so `reader` must not commit.
async fn write_skew(db: &Db, reader: &crate::Tx, a: u64, b: u64) {
    let (ka, kb) = (k(a), k(b));
    let (ka, kb) = (&ka, &kb);
    db.run(|tx| async move {
        tx.get(kb).await?;
        tx.set(ka, b"written after the reader read it")
    })
    .await
    .expect("the other transaction commits");
    reader.set(kb, b"derived from a stale read").expect("set");
}

async fn put(db: &Db, key: &[u8], value: &[u8]) {
    db.run(|tx| async move { tx.set(key, value) })
        .await
        .expect("put commits");
}

async fn get(db: &Db, key: &[u8]) -> Option<Vec<u8>> {
    db.run(|tx| async move { tx.get(key).await })
        .await
        .expect("get runs")
}

/// A serializable read followed by another transaction's write aborts the reader's commit;
/// the retry helper runs it again until it succeeds.
pub async fn conflicts_and_retry(db: &Db) {
    put(db, &k(1), b"a").await;
    let reader = db.begin().await.expect("begin");
    assert_eq!(reader.get(&k(1)).await.expect("read"), Some(b"a".to_vec()));
    write_skew(db, &reader, 1, 2).await;
    assert_eq!(
        reader.commit().await,
        Err(StoreError::NotCommitted),
        "write skew must conflict"
    );
    assert_eq!(
        get(db, &k(2)).await,
        None,
        "a refused commit writes nothing"
    );
    if exact(db) {
        // FoundationDB refuses any commit whose serializable read was overwritten meanwhile,
        // even when ordering it first would have been serializable.
        let reader = db.begin().await.expect("begin");
        reader.get(&k(1)).await.expect("read");
        put(db, &k(1), b"b").await;
        reader.set(&k(2), b"derived from a").expect("set");
        assert_eq!(
            reader.commit().await,
            Err(StoreError::NotCommitted),
            "stale read must conflict"
        );
    }

    // Writes alone (blind writes) never conflict.
    let blind = db.begin().await.expect("begin");
    put(db, &k(1), b"c").await;
    blind.set(&k(1), b"d").expect("set");
    blind.commit().await.expect("blind write commits");

    // Read-modify-write from many tasks: every increment lands exactly once.
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let db = db.clone();
            tokio::spawn(async move {
                for _ in 0..10 {
                    db.run(|tx| async move {
                        let n = tx.get_counter(&k(3)).await?;
                        tx.set(&k(3), &(n + 1).to_le_bytes())
                    })
                    .await
                    .expect("retry helper commits");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
    let total = db
        .run(|tx| async move { tx.get_counter(&k(3)).await })
        .await
        .expect("read");
    assert_eq!(total, 160, "serializable increments under contention");
}

/// Snapshot reads add no conflict and every read in a transaction sees one version.
pub async fn snapshot_and_serializable(db: &Db) {
    put(db, &k(10), b"1").await;
    let tx = db.begin().await.expect("begin");
    assert_eq!(
        tx.get_snapshot(&k(10)).await.expect("read"),
        Some(b"1".to_vec())
    );
    put(db, &k(10), b"2").await;
    assert_eq!(
        tx.get(&k(10)).await.expect("read"),
        Some(b"1".to_vec()),
        "repeatable read"
    );
    tx.set(&k(11), b"x").expect("set");
    let outcome = tx.commit().await;
    if exact(db) {
        // The serializable re-read of k(10) now conflicts.
        assert_eq!(outcome, Err(StoreError::NotCommitted));
    } else {
        // Ordering this transaction first is serializable, so it may commit.
        assert!(
            matches!(outcome, Ok(()) | Err(StoreError::NotCommitted)),
            "{outcome:?}"
        );
    }

    let tx = db.begin().await.expect("begin");
    assert!(tx.get_snapshot(&k(10)).await.expect("read").is_some());
    put(db, &k(10), b"3").await;
    tx.set(&k(11), b"y").expect("set");
    tx.commit().await.expect("snapshot reads do not conflict");

    // Read-your-writes, including clears and atomic adds.
    let tx = db.begin().await.expect("begin");
    tx.set(&k(12), b"mine").expect("set");
    assert_eq!(tx.get(&k(12)).await.expect("read"), Some(b"mine".to_vec()));
    tx.clear(&k(10)).expect("clear");
    assert_eq!(tx.get(&k(10)).await.expect("read"), None);
    tx.atomic_add(&c(13), 5).expect("add");
    tx.atomic_add(&c(13), 2).expect("add");
    assert_eq!(tx.get_counter(&c(13)).await.expect("read"), 7);
    assert!(
        matches!(tx.atomic_add(&k(13), 1), Err(StoreError::NotACounter(_))),
        "adds only to counter keys"
    );
    tx.commit().await.expect("commit");
    assert_eq!(get(db, &k(10)).await, None);
    assert_eq!(get(db, &k(12)).await, Some(b"mine".to_vec()));

    // A transaction may commit only once.
    let tx = db.begin().await.expect("begin");
    tx.set(&k(14), b"once").expect("set");
    tx.commit().await.expect("commit");
    assert!(tx.commit().await.is_err(), "second commit refused");
}

/// Range reads forward, reverse and limited, merged with the transaction's own writes; a
/// limited read conflicts only with writes in the part it walked.
pub async fn ranges(db: &Db) {
    db.run(|tx| async move {
        for i in 100..200 {
            tx.set(&k(i), &i.to_le_bytes())?;
        }
        Ok(())
    })
    .await
    .expect("fill");
    let (b, e) = (k(100), k(200));
    let (b, e) = (&b, &e);
    let all = db
        .run(|tx| async move { tx.get_range(b, e, RangeOptions::all()).await })
        .await
        .expect("range");
    assert_eq!(all.len(), 100);
    assert!(all.windows(2).all(|w| w[0].key < w[1].key), "forward order");
    let rev = db
        .run(|tx| async move {
            tx.get_range(b, e, RangeOptions::all().reverse().limit(3))
                .await
        })
        .await
        .expect("range");
    assert_eq!(
        rev.iter().map(|kv| kv.key.clone()).collect::<Vec<_>>(),
        vec![k(199), k(198), k(197)]
    );
    let first = db
        .run(|tx| async move { tx.get_range(b, e, RangeOptions::all().limit(5)).await })
        .await
        .expect("range");
    assert_eq!(first.last().map(|kv| kv.key.clone()), Some(k(104)));

    // Own writes show up in ranges; clear_range hides committed keys.
    let merged = db
        .run(|tx| async move {
            tx.clear_range(&k(100), &k(150))?;
            tx.set(&k(120), b"new")?;
            tx.clear(&k(151))?;
            let out = tx.get_range(b, e, RangeOptions::all().limit(3)).await?;
            let back = tx
                .get_range(b, e, RangeOptions::all().reverse().limit(1))
                .await?;
            Ok((out, back))
        })
        .await
        .expect("merged range");
    assert_eq!(
        merged.0.iter().map(|kv| kv.key.clone()).collect::<Vec<_>>(),
        vec![k(120), k(150), k(152)]
    );
    assert_eq!(merged.1[0].key, k(199));
    let after = db
        .run(|tx| async move { tx.get_range(b, e, RangeOptions::all()).await })
        .await
        .expect("range");
    assert_eq!(after.len(), 50, "100 - 50 cleared + 1 set - 1 cleared");

    // A limited read conflicts with a write inside what it walked (120, 150), not beyond it
    // (FoundationDB tracks exactly what was walked; other backends may refuse more).
    if exact(db) {
        let tx = db.begin().await.expect("begin");
        let seen = tx
            .get_range(b, e, RangeOptions::all().limit(2))
            .await
            .expect("range");
        assert_eq!(seen.len(), 2);
        put(db, &k(190), b"beyond").await;
        tx.set(&k(1), b"ok").expect("set");
        tx.commit()
            .await
            .expect("write beyond the walked part does not conflict");
    }
    let tx = db.begin().await.expect("begin");
    tx.get_range(b, e, RangeOptions::all().limit(2))
        .await
        .expect("range");
    write_skew(db, &tx, 121, 1).await;
    assert_eq!(tx.commit().await, Err(StoreError::NotCommitted));
    assert_eq!(
        db.run(|tx| async move { tx.get_range(&k(1), &k(0), RangeOptions::all()).await })
            .await,
        Err(StoreError::InvertedRange)
    );
}

/// Read-modify-write under stress, the way a mailbox hands out UIDs: many tasks each read a
/// counter serializably, write a record under the value they read and store the value plus one,
/// with a padding value alongside so the backend's background work (memtable flushes and
/// compactions on the embedded store) runs while commit groups are in flight. Every increment
/// must survive: the counter equals the number of commits, and every commit's record is there
/// under its own slot, never overwritten by another. `TERN_STRESS_COMMITS` sets the number of
/// commits (default 12 000).
pub async fn read_modify_write_stress(db: &Db) {
    const TASKS: u64 = 24;
    const COUNTERS: u64 = 4;
    let commits: u64 = std::env::var("TERN_STRESS_COMMITS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(12_000);
    let per_task = commits.div_ceil(TASKS);
    let counter = |c: u64| scratch::item("rmw-next", c);
    let slot = |c: u64, n: u64| scratch::item(&format!("rmw-slot-{c}"), n);
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let db = db.clone();
            tokio::spawn(async move {
                let padding = vec![t as u8; 2048];
                for i in 0..per_task {
                    let c = (t + i) % COUNTERS;
                    let tag = (t << 32 | i).to_le_bytes();
                    let (tag, padding) = (&tag, &padding);
                    db.run(|tx| async move {
                        let next = tx.get_counter(&counter(c)).await? as u64;
                        tx.set(&slot(c, next), tag)?;
                        tx.set(&counter(c), &((next + 1) as i64).to_le_bytes())?;
                        tx.set(&scratch::item("rmw-pad", t << 32 | i), padding)
                    })
                    .await
                    .expect("retry helper commits");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
    let mut total = 0;
    let mut tags = std::collections::BTreeSet::new();
    for c in 0..COUNTERS {
        let slots = db
            .run(|tx| async move {
                let next = tx.get_counter(&counter(c)).await?;
                let all = scratch::all(&format!("rmw-slot-{c}"));
                let slots = tx.get_range(&all.0, &all.1, RangeOptions::all()).await?;
                Ok((next, slots))
            })
            .await
            .expect("read back");
        let (next, slots) = slots;
        assert_eq!(
            next as usize,
            slots.len(),
            "counter {c} says {next} increments but {} records hold a slot: an update was lost",
            slots.len()
        );
        total += slots.len() as u64;
        tags.extend(slots.into_iter().map(|kv| kv.value));
    }
    assert_eq!(
        total,
        per_task * TASKS,
        "every committed increment is counted"
    );
    assert_eq!(
        tags.len() as u64,
        total,
        "every commit's record survives under its own slot"
    );
}

/// Concurrent atomic adds never conflict and none is lost.
pub async fn atomic_add_under_concurrency(db: &Db) {
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let db = db.clone();
            tokio::spawn(async move {
                for _ in 0..25 {
                    let tx = db.begin().await.expect("begin");
                    tx.atomic_add(&c(300), 2).expect("add");
                    tx.atomic_add(&c(301), -1).expect("add");
                    tx.commit().await.expect("atomic adds never conflict");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("task");
    }
    let (a, b) = db
        .run(|tx| async move {
            Ok((
                tx.get_counter(&c(300)).await?,
                tx.get_counter(&c(301)).await?,
            ))
        })
        .await
        .expect("read");
    assert_eq!((a, b), (1600, -800));
}

/// A watch fires when another transaction changes the key, also through `clear_range`; a
/// watch whose transaction never commits is cancelled.
pub async fn watches(db: &Db) {
    put(db, &k(400), b"v1").await;
    let tx = db.begin().await.expect("begin");
    let w = tx.watch(&k(400)).expect("watch");
    tx.commit().await.expect("commit arms the watch");
    let mut w = Box::pin(w);
    assert!(
        tokio::time::timeout(Duration::from_millis(200), &mut w)
            .await
            .is_err(),
        "no change, no fire"
    );
    put(db, &k(400), b"v2").await;
    tokio::time::timeout(Duration::from_secs(10), w)
        .await
        .expect("fires on change")
        .expect("ok");

    let tx = db.begin().await.expect("begin");
    let w = tx.watch(&k(400)).expect("watch");
    tx.commit().await.expect("commit");
    db.run(|tx| async move { tx.clear_range(&k(399), &k(401)) })
        .await
        .expect("clear");
    tokio::time::timeout(Duration::from_secs(10), w)
        .await
        .expect("fires on clear")
        .expect("ok");

    let w = {
        let tx = db.begin().await.expect("begin");
        tx.watch(&k(400)).expect("watch")
    };
    let outcome = tokio::time::timeout(Duration::from_secs(10), w)
        .await
        .expect("resolves");
    assert!(
        outcome.is_err(),
        "watch of an uncommitted transaction is cancelled"
    );
}

/// Every FoundationDB limit is refused with FoundationDB's error kind.
pub async fn limits(db: &Db) {
    let tx = db.begin().await.expect("begin");
    let big_key = scratch::sized("conf", &vec![b'k'; MAX_KEY_BYTES]);
    assert!(matches!(
        tx.set(&big_key, b"v"),
        Err(StoreError::KeyTooLarge(_))
    ));
    assert!(matches!(
        tx.get(&big_key).await,
        Err(StoreError::KeyTooLarge(_))
    ));
    assert!(matches!(
        tx.set(&k(500), &vec![0; MAX_VALUE_BYTES + 1]),
        Err(StoreError::ValueTooLarge(_))
    ));
    tx.set(&k(500), &vec![0; MAX_VALUE_BYTES])
        .expect("a value at the limit is fine");
    let err = (0..110u64).try_for_each(|i| tx.set(&k(1000 + i), &vec![1; MAX_VALUE_BYTES]));
    assert!(
        matches!(err, Err(StoreError::TransactionTooLarge(_))),
        "{err:?}"
    );
    assert_eq!(StoreError::TransactionTooLarge(0).fdb_code(), 2101);

    let tx = db.begin().await.expect("begin");
    tx.get(&k(500)).await.expect("read");
    tokio::time::sleep(MAX_TRANSACTION_AGE + Duration::from_millis(300)).await;
    tx.set(&k(501), b"late").expect("set");
    let err = tx.commit().await;
    assert_eq!(
        err,
        Err(StoreError::TransactionTooOld),
        "a transaction older than 5 s fails"
    );
    assert!(StoreError::TransactionTooOld.is_retryable());
}

/// Blobs round-trip inline and uploaded (larger than one transaction), deduplicate by content,
/// and are collected once unreferenced or abandoned.
pub async fn blob_chunking(db: &Db) {
    let small = b"Subject: hi\r\n\r\nsmall body\r\n".to_vec();
    let large: Vec<u8> = (0..12 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    for body in [&small, &large] {
        let staged = blob::stage(db, body).await.expect("stage");
        let staged = &staged;
        let id = db
            .run(|tx| async move { blob::link(&tx, staged).await })
            .await
            .expect("link");
        assert_eq!(
            &blob::read(db, id).await.expect("read back"),
            body,
            "round trip of {} bytes",
            body.len()
        );
        // A second copy shares the chunks.
        db.run(|tx| async move { blob::link(&tx, staged).await })
            .await
            .expect("link again");
        db.run(|tx| async move { blob::unlink(&tx, id) })
            .await
            .expect("unlink");
        let stats = reclaim::collect_garbage(db, blob::PENDING_TTL)
            .await
            .expect("gc");
        assert_eq!(stats.blobs, 0, "one reference is left");
        assert!(blob::read(db, id).await.is_ok());
        db.run(|tx| async move { blob::unlink(&tx, id) })
            .await
            .expect("unlink");
        let stats = reclaim::collect_garbage(db, blob::PENDING_TTL)
            .await
            .expect("gc");
        assert_eq!(stats.blobs, 1);
        assert!(blob::read(db, id).await.is_err(), "collected");
        assert_eq!(
            reclaim::backlog(db).await.expect("backlog"),
            0,
            "every dropped reference examined"
        );
    }
    // An upload that is never linked is collected after its time to live.
    let staged = blob::stage(db, &large[..3 * 1024 * 1024])
        .await
        .expect("stage");
    let stats = reclaim::collect_garbage(db, Duration::ZERO)
        .await
        .expect("gc");
    assert_eq!(stats.abandoned, 1);
    let staged = &staged;
    let lost = db
        .run(|tx| async move { blob::link(&tx, staged).await })
        .await;
    assert!(
        lost.is_err(),
        "linking a collected upload is refused, never silently empty"
    );
}

/// The child side of the kill -9 durability case: commits numbered keys from 8 writers and
/// prints `ACK <n>` once each commit returned, until the process is killed.
pub async fn commit_numbered_until_killed(db: &Db) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<u64>();
    for w in 0..8u64 {
        let (db, tx) = (db.clone(), tx.clone());
        tokio::spawn(async move {
            for i in 0.. {
                let n = w * 1_000_000 + i;
                let key = scratch::item("kill", n);
                let key = &key;
                db.run(|t| async move { t.set(key, &n.to_le_bytes()) })
                    .await
                    .expect("commit");
                let _ = tx.send(n);
            }
        });
    }
    while let Some(n) = rx.recv().await {
        println!("ACK {n}");
    }
}

/// The acknowledged numbers of [`commit_numbered_until_killed`] whose key is not in the store.
pub async fn missing_numbered(db: &Db, acked: &[u64]) -> Vec<u64> {
    let mut missing = Vec::new();
    for n in acked {
        let key = scratch::item("kill", *n);
        let key = &key;
        let v = db
            .run(|t| async move { t.get(key).await })
            .await
            .expect("read");
        if v != Some(n.to_le_bytes().to_vec()) {
            missing.push(*n);
        }
    }
    missing
}
