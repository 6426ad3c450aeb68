//! The embedded store on a disk that fills up (a small tmpfs): it refuses commits with
//! `NoSpace` while it still has its reserve, so nothing it acknowledged is lost and it never
//! poisons itself; when a write fails anyway (the disk filled behind its back), it stops taking
//! writes, reports itself unhealthy, and reopens itself once space is back; reopening on a
//! nearly full disk refuses writes instead of failing again.

use std::time::{Duration, Instant};

use tern_store::{Db, EmbeddedOptions, EmbeddedStore, StoreError, keys::scratch};
use tern_tests::tmpfs::Tmpfs;

fn open(path: &std::path::Path, reserve_bytes: u64, memtable_bytes: u64) -> Db {
    let options = EmbeddedOptions {
        memtable_bytes,
        reserve_bytes,
        ..EmbeddedOptions::default()
    };
    Db::new(EmbeddedStore::open_with(path, options).expect("open"))
}

async fn put(db: &Db, i: u64, value: &[u8]) -> Result<(), StoreError> {
    let key = scratch::item("disk", i);
    let key = &key;
    db.run(|tx| async move { tx.set(key, value) }).await
}

async fn all_present(db: &Db, acked: &[u64], value: &[u8]) {
    for &i in acked {
        let key = scratch::item("disk", i);
        let key = &key;
        let got = db
            .run(|tx| async move { tx.get(key).await })
            .await
            .expect("read");
        assert_eq!(got.as_deref(), Some(value), "acknowledged key {i} is there");
    }
}

async fn wait_health(db: &Db, healthy: bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while db.health().is_ok() != healthy {
        assert!(
            Instant::now() < deadline,
            "store health never became {healthy}: {:?}",
            db.health()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reserve_refuses_commits_before_the_disk_fills() {
    let Some(fs) = Tmpfs::mount(48) else { return };
    let path = fs.path().join("store");
    let db = open(&path, 8 << 20, 256 * 1024);
    // Room for 6 MiB of data above the 8 MiB reserve: compactions stay within the reserve.
    let filler = fs.fill(14 << 20);
    let value = vec![0xab; 32 * 1024];
    let mut acked = Vec::new();
    let refusal = loop {
        match put(&db, acked.len() as u64, &value).await {
            Ok(()) => acked.push(acked.len() as u64),
            Err(e) => break e,
        }
        assert!(acked.len() < 5_000, "the disk never ran short");
    };
    assert!(refusal.is_no_space(), "refused for space: {refusal}");
    assert!(
        refusal.to_string().contains("the store keeps 8388608 free"),
        "{refusal}"
    );
    assert!(db.health().is_ok(), "refusing is not failing");
    assert!(fs.free() > 4 << 20, "the reserve stays free: {}", fs.free());
    all_present(&db, &acked, &value).await;

    std::fs::remove_file(filler).expect("free space");
    put(&db, 100_000, &value)
        .await
        .expect("commits again once there is room");

    // Restarting with little space: it opens, refuses writes, and loses nothing.
    drop(db);
    let filler = fs.fill(6 << 20);
    let db = open(&path, 8 << 20, 256 * 1024);
    assert!(
        put(&db, 100_001, &value)
            .await
            .is_err_and(|e| e.is_no_space())
    );
    assert!(db.health().is_ok());
    all_present(&db, &acked, &value).await;
    std::fs::remove_file(filler).expect("free space");
    put(&db, 100_002, &value).await.expect("commits again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_write_stops_writes_until_the_store_reopens() {
    let Some(fs) = Tmpfs::mount(32) else { return };
    let path = fs.path().join("store");
    // No reserve: the disk can fill under the store, which then fails a write for real.
    let db = open(&path, 0, 16 * 1024);
    let value = vec![0xcd; 4096];
    let mut acked = Vec::new();
    for i in 0..200 {
        put(&db, i, &value).await.expect("room at first");
        acked.push(i);
    }
    // Leave a little room and commit an incompressible value that just fits it: the commit
    // passes the (empty) reserve, and writing its memtable out finds the disk full.
    let filler = fs.fill(96 * 1024);
    let big: Vec<u8> = (0..fs.free() - 16 * 1024)
        .map(|_| rand::random::<u8>())
        .collect();
    match put(&db, 1_000, &big).await {
        Ok(()) | Err(StoreError::Unavailable(_)) => {}
        Err(e) => panic!("unexpected error: {e}"),
    }
    wait_health(&db, false).await;
    assert!(
        matches!(put(&db, 0, &value).await, Err(StoreError::Unavailable(_))),
        "no commits while failed"
    );
    std::fs::remove_file(filler).expect("free space");
    wait_health(&db, true).await;
    assert_eq!(
        tern_store::metrics::METRICS
            .healthy
            .with_label_values(&["embedded"])
            .get(),
        1
    );
    put(&db, 999_999, &value)
        .await
        .expect("commits after reopening");
    all_present(&db, &acked, &value).await;
}
