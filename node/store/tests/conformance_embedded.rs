//! Runs the conformance suite on the embedded backend, plus the kill -9 durability case.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::Duration,
};

use tern_store::{Db, EmbeddedOptions, EmbeddedStore, conformance};

fn fresh() -> (tempfile::TempDir, Db) {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = Db::new(EmbeddedStore::open(dir.path()).expect("open"));
    (dir, db)
}

macro_rules! suite {
    ($($name:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $name() {
            let (_dir, db) = fresh();
            conformance::$name(&db).await;
        }
    )*};
}

suite!(
    conflicts_and_retry,
    snapshot_and_serializable,
    ranges,
    atomic_add_under_concurrency,
    watches,
    limits,
    blob_chunking
);

/// The read-modify-write stress case with 64 KiB memtables, so memtable flushes and
/// compactions finish while commit groups are in flight (the window where a fjall snapshot
/// could claim a version whose batch was not yet in the memtable).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn read_modify_write_stress() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = EmbeddedOptions {
        memtable_bytes: 64 * 1024,
        ..EmbeddedOptions::default()
    };
    let db = Db::new(EmbeddedStore::open_with(dir.path(), options).expect("open"));
    conformance::read_modify_write_stress(&db).await;
}

/// Child side of the kill test: commits numbered keys from 8 writers, printing each number
/// once its commit returned, until it is killed.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "run only as the child of durability_across_kill"]
async fn durability_child() {
    let Ok(dir) = std::env::var("TERN_KILL_TEST_DIR") else {
        return;
    };
    let db = Db::new(EmbeddedStore::open(&dir).expect("open"));
    conformance::commit_numbered_until_killed(&db).await;
}

#[test]
fn durability_across_kill() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut child = Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "durability_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("TERN_KILL_TEST_DIR", dir.path())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn child");
    let stdout = child.stdout.take().expect("stdout");
    let mut acked = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line.expect("line");
        if let Some(n) = line.strip_prefix("ACK ") {
            acked.push(n.parse::<u64>().expect("number"));
            if acked.len() == 3000 {
                // SIGKILL: no destructor, no flush, no goodbye.
                child.kill().expect("kill");
                break;
            }
        }
    }
    let _ = child.wait();
    assert_eq!(
        acked.len(),
        3000,
        "child acknowledged commits before the kill"
    );
    std::thread::sleep(Duration::from_millis(100));
    let db = Db::new(EmbeddedStore::open(dir.path()).expect("reopen after kill"));
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let missing = rt.block_on(conformance::missing_numbered(&db, &acked));
    assert!(
        missing.is_empty(),
        "acknowledged commits lost after kill -9: {missing:?}"
    );
}

/// The backup snapshot: it sees the store as it was when taken, however long it is held and
/// whatever is written meanwhile, and reads in bounded ranges.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_lived_snapshot_for_backups() {
    let (_dir, db) = fresh();
    let put = |k: &'static [u8], v: &'static [u8]| {
        let db = db.clone();
        async move {
            db.transact(|tx| async move {
                tx.set(k, v)?;
                Ok::<_, tern_store::StoreError>(())
            })
            .await
            .expect("commit")
        }
    };
    put(b"a", b"1").await;
    put(b"b", b"2").await;
    let snap = db.backend().snapshot().await.expect("snapshot");
    put(b"a", b"changed").await;
    put(b"c", b"3").await;
    // Past the 5 s a transaction may live.
    tokio::time::sleep(tern_store::limits::MAX_TRANSACTION_AGE + Duration::from_millis(200)).await;
    let first = snap.get_range(b"", b"\xff", 1).await.expect("read");
    assert_eq!(first.len(), 1);
    assert_eq!(
        (first[0].key.as_slice(), first[0].value.as_slice()),
        (&b"a"[..], &b"1"[..])
    );
    let rest = snap.get_range(b"a\0", b"\xff", 10).await.expect("read");
    let keys: Vec<&[u8]> = rest.iter().map(|kv| kv.key.as_slice()).collect();
    assert_eq!(keys, [&b"b"[..]], "the later write is not in it");
}
