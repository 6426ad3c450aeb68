//! Runs the conformance suite on the postgres backend against a throwaway PostgreSQL each test
//! starts for itself, plus what only a shared store has: a kill -9 of a committing process,
//! watches fired by another process, two processes committing conflicting transactions, an
//! outage, and TLS to the database.
#![cfg(feature = "postgres")]

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    time::Duration,
};

use tern_store::{
    Db, StoreError, conformance,
    keys::scratch,
    postgres::{PgOptions, PgStore, throwaway::TempPostgres},
};

async fn fresh() -> (TempPostgres, Db) {
    let pg = TempPostgres::start().expect("start a throwaway postgres");
    let db = open(&pg.url()).await;
    (pg, db)
}

async fn open(url: &str) -> Db {
    Db::new(PgStore::open(PgOptions::new(url)).await.expect("open"))
}

macro_rules! suite {
    ($($name:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $name() {
            let (_pg, db) = fresh().await;
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
    blob_chunking,
    read_modify_write_stress,
);

/// A child process of this test binary running one of the `child_*` modes below.
fn spawn_child(mode: &str, url: &str) -> Child {
    Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "child_process",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("TERN_PG_CHILD", mode)
        .env("TERN_PG_URL", url)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn child")
}

/// The child side: `durability` commits numbered keys from 8 writers and prints each number once
/// its commit returned; `increment` adds one to a shared counter 200 times by read-modify-write;
/// `touch` writes the watched key once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "run only as the child of the process tests"]
async fn child_process() {
    let (Ok(mode), Ok(url)) = (std::env::var("TERN_PG_CHILD"), std::env::var("TERN_PG_URL")) else {
        return;
    };
    let db = open(&url).await;
    match mode.as_str() {
        "durability" => conformance::commit_numbered_until_killed(&db).await,
        "increment" => {
            println!("READY");
            let counter = scratch::item("shared", 0);
            let counter = &counter;
            for _ in 0..200 {
                db.run(|tx| async move {
                    let n = tx.get_counter(counter).await?;
                    tx.set(counter, &(n + 1).to_le_bytes())
                })
                .await
                .expect("retry helper commits");
            }
            println!("DONE");
        }
        "touch" => {
            let key = scratch::item("watched", 0);
            let key = &key;
            db.run(|tx| async move { tx.set(key, b"from another process") })
                .await
                .expect("commit");
            println!("DONE");
        }
        other => panic!("unknown child mode {other}"),
    }
}

fn wait_done(mut c: Child) {
    let out = BufReader::new(c.stdout.take().expect("stdout"));
    // Read to the end: a closed pipe would fail the child's test harness.
    let lines: Vec<String> = out.lines().map_while(Result::ok).collect();
    let done = lines.iter().any(|l| l.ends_with("DONE"));
    let status = c.wait().expect("wait");
    assert!(done && status.success(), "child failed: {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn durability_across_kill() {
    let (pg, db) = fresh().await;
    let mut c = spawn_child("durability", &pg.url());
    let stdout = c.stdout.take().expect("stdout");
    let acked = tokio::task::spawn_blocking(move || {
        let mut acked = Vec::new();
        for line in BufReader::new(stdout).lines() {
            if let Some(n) = line.expect("line").strip_prefix("ACK ") {
                acked.push(n.parse::<u64>().expect("number"));
                if acked.len() == 1500 {
                    // SIGKILL: no destructor, no goodbye, connections cut mid-transaction.
                    c.kill().expect("kill");
                    break;
                }
            }
        }
        let _ = c.wait();
        acked
    })
    .await
    .expect("reader");
    assert_eq!(
        acked.len(),
        1500,
        "child acknowledged commits before the kill"
    );
    let missing = conformance::missing_numbered(&db, &acked).await;
    assert!(
        missing.is_empty(),
        "acknowledged commits lost after kill -9: {missing:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_fired_by_another_process() {
    let (pg, db) = fresh().await;
    let key = scratch::item("watched", 0);
    let tx = db.begin().await.expect("begin");
    let w = tx.watch(&key).expect("watch");
    tx.commit().await.expect("commit arms the watch");
    let url = pg.url();
    tokio::task::spawn_blocking(move || wait_done(spawn_child("touch", &url)))
        .await
        .expect("child");
    tokio::time::timeout(Duration::from_secs(20), w)
        .await
        .expect("a write by another process fires the watch")
        .expect("ok");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_commit_conflicting_transactions() {
    let (pg, db) = fresh().await;
    let url = pg.url();
    let (a, b) = (
        spawn_child("increment", &url),
        spawn_child("increment", &url),
    );
    tokio::task::spawn_blocking(move || {
        wait_done(a);
        wait_done(b);
    })
    .await
    .expect("children");
    let counter = scratch::item("shared", 0);
    let counter = &counter;
    let n = db
        .run(|tx| async move { tx.get_counter(counter).await })
        .await
        .expect("read");
    assert_eq!(
        n, 400,
        "every read-modify-write of both processes landed exactly once"
    );
}

/// The backup snapshot sees the store as it was, however long it is held.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_lived_snapshot_for_backups() {
    let (_pg, db) = fresh().await;
    let put = |k: Vec<u8>, v: &'static [u8]| {
        let db = db.clone();
        async move {
            let k = &k;
            db.run(|tx| async move { tx.set(k, v) })
                .await
                .expect("commit")
        }
    };
    put(scratch::item("snap", 1), b"1").await;
    let counter = scratch::counter("snap", 2);
    let c = &counter;
    db.run(|tx| async move { tx.atomic_add(c, 5) })
        .await
        .expect("add");
    let snap = db.backend().snapshot().await.expect("snapshot");
    put(scratch::item("snap", 1), b"changed").await;
    put(scratch::item("snap", 3), b"3").await;
    tokio::time::sleep(tern_store::limits::MAX_TRANSACTION_AGE + Duration::from_millis(200)).await;
    let everything = scratch::everything();
    let seen = snap
        .get_range(&everything.0, &everything.1, 10)
        .await
        .expect("read");
    let values: Vec<&[u8]> = seen.iter().map(|kv| kv.value.as_slice()).collect();
    assert_eq!(
        values,
        [&5i64.to_le_bytes()[..], &b"1"[..]],
        "the later writes are not in it"
    );
}

/// An unreachable database fails the open with a message naming the setting and the server;
/// a database lost while running fails transactions as temporary, marks the store unhealthy,
/// and the store recovers by itself when the database returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outage_and_recovery() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let err = PgStore::open(PgOptions::new(format!(
        "postgres://tern@127.0.0.1:{port}/postgres"
    )))
    .await
    .err()
    .expect("nothing listens there");
    let message = err.to_string();
    assert!(
        message.contains("store.postgres_url") && message.contains(&format!("127.0.0.1:{port}")),
        "{message}"
    );

    let (pg, db) = fresh().await;
    let key = scratch::item("outage", 0);
    let key = &key;
    db.run(|tx| async move { tx.set(key, b"before") })
        .await
        .expect("commit");
    pg.stop().expect("stop postgres");
    let failed = db.run(|tx| async move { tx.set(key, b"during") }).await;
    let err = failed.expect_err("no commit while the database is down");
    assert!(
        err.is_temporary() && !matches!(err, StoreError::NotCommitted),
        "{err:?}"
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while db.health().is_ok() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "health never noticed the outage"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    pg.start_again().expect("start postgres again");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match db.run(|tx| async move { tx.set(key, b"after") }).await {
            Ok(()) => break,
            Err(e) => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "never recovered: {e}"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    let v = db
        .run(|tx| async move { tx.get(key).await })
        .await
        .expect("read");
    assert_eq!(v.as_deref(), Some(&b"after"[..]));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while db.health().is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "health never recovered"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `sslmode=require` encrypts (the server rejects plain connections here) and verifies the
/// server's certificate: against the operator's CA it connects, against the web PKI roots it
/// is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_to_the_database_is_verified() {
    let ca_key = rcgen::KeyPair::generate().expect("key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).expect("ca");
    let server_key = rcgen::KeyPair::generate().expect("key");
    let server = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
        .expect("params")
        .signed_by(&server_key, &ca)
        .expect("server certificate");
    let pg = TempPostgres::start().expect("postgres");
    pg.require_tls(&server.pem(), &server_key.serialize_pem())
        .expect("tls on");
    let dir = tempfile::tempdir().expect("tempdir");
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca.pem()).expect("write ca");

    let plain = PgStore::open(PgOptions::new(pg.url()))
        .await
        .err()
        .expect("plain is rejected");
    assert!(plain.to_string().contains("store.postgres_url"), "{plain}");

    let tls_url = format!("{}?sslmode=require", pg.url());
    let mut options = PgOptions::new(tls_url.clone());
    options.ca_file = Some(ca_file);
    let db = Db::new(
        PgStore::open(options)
            .await
            .expect("TLS with the operator's CA"),
    );
    let key = scratch::item("tls", 0);
    let key = &key;
    db.run(|tx| async move { tx.set(key, b"over tls") })
        .await
        .expect("commit");

    let unverified = PgStore::open(PgOptions::new(tls_url))
        .await
        .err()
        .expect("unknown CA");
    assert!(
        unverified
            .to_string()
            .to_lowercase()
            .contains("certificate"),
        "{unverified}"
    );
}

/// Nodes starting together create the schema once (they take turns under an advisory lock),
/// and a node refuses a database whose schema is newer than it knows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schema_is_created_once_and_newer_ones_are_refused() {
    let pg = TempPostgres::start().expect("postgres");
    let url = pg.url();
    let opens: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { PgStore::open(PgOptions::new(url)).await })
        })
        .collect();
    for open in opens {
        open.await
            .expect("task")
            .expect("every concurrent start succeeds");
    }
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("connect");
    tokio::spawn(connection);
    let version: i64 = client
        .query_one(
            "SELECT value FROM tern_meta WHERE name = 'schema_version'",
            &[],
        )
        .await
        .expect("version row")
        .get(0);
    assert_eq!(version, 1);
    client
        .execute(
            "UPDATE tern_meta SET value = 99 WHERE name = 'schema_version'",
            &[],
        )
        .await
        .expect("pretend a newer tern migrated it");
    let err = PgStore::open(PgOptions::new(url))
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("schema version 99"), "{err}");
}
