//! Durable commit throughput and latency of the embedded and postgres backends, for 1, 16 and
//! 64 concurrent writers, in two workloads:
//! - `independent`: each transaction writes a 4 KiB message plus three index keys of its own;
//! - `one account`: each transaction is shaped like a delivery to the same mailbox (read the
//!   mailbox's UID counter serializably, check the new UID is free, write the 4 KiB message and
//!   its MODSEQ key, add to five counters), so the writers conflict; the retry rate is the
//!   number of runs of the transaction body beyond one per commit, per commit.
//!
//! The postgres runs use a throwaway PostgreSQL (fsync on, as the embedded store) and are
//! skipped with a note when the machine has no PostgreSQL server binaries.
//! Run: `cargo bench -p tern-store --bench commit` (`TERN_BENCH_SECONDS`, default 5).

use std::{
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use tern_store::{
    Db, EmbeddedStore,
    keys::scratch,
    postgres::{PgOptions, PgStore, throwaway::TempPostgres},
};

const SECONDS: u64 = 5;

#[derive(Clone, Copy, PartialEq)]
enum Workload {
    Independent,
    OneAccount,
}

/// One open store of a backend, and what keeps it alive.
struct Opened {
    db: Db,
    _dir: Option<tempfile::TempDir>,
    _pg: Option<TempPostgres>,
}

async fn open(backend: &str) -> Result<Opened, String> {
    match backend {
        "embedded" => {
            let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
            let db = Db::new(EmbeddedStore::open(dir.path()).map_err(|e| e.to_string())?);
            Ok(Opened {
                db,
                _dir: Some(dir),
                _pg: None,
            })
        }
        _ => {
            let pg = TempPostgres::start().map_err(|e| e.to_string())?;
            let mut options = PgOptions::new(pg.url());
            options.pool_size = 64;
            let db = Db::new(PgStore::open(options).await.map_err(|e| e.to_string())?);
            Ok(Opened {
                db,
                _dir: None,
                _pg: Some(pg),
            })
        }
    }
}

async fn transaction(db: &Db, workload: Workload, n: u64, body: &[u8], runs: &AtomicU64) {
    match workload {
        Workload::Independent => db
            .run(|tx| async move {
                runs.fetch_add(1, Ordering::Relaxed);
                tx.set(&scratch::item("msg", n), body)?;
                tx.set(&scratch::item("idx-a", n), b"1")?;
                tx.set(&scratch::item("idx-b", n), b"2")?;
                tx.set(&scratch::item("idx-c", n), b"3")
            })
            .await
            .expect("commit"),
        Workload::OneAccount => db
            .run(|tx| async move {
                runs.fetch_add(1, Ordering::Relaxed);
                let uid_key = scratch::item("acct-uidnext", 0);
                let uid = tx.get_counter(&uid_key).await? as u64 + 1;
                let message = scratch::item("acct-msg", uid);
                assert!(tx.get(&message).await?.is_none(), "UID {uid} reused");
                tx.set(&message, body)?;
                tx.set(&scratch::item("acct-modseq", uid), &uid.to_le_bytes())?;
                tx.set(&uid_key, &(uid as i64).to_le_bytes())?;
                for (i, delta) in [1, 4096, 1, 4096, 1].into_iter().enumerate() {
                    tx.atomic_add(&scratch::counter("acct", i as u64), delta)?;
                }
                Ok(())
            })
            .await
            .expect("commit"),
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let seconds = std::env::var("TERN_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(SECONDS);
    println!("4 KiB value per transaction, durable commits, {seconds}s per run");
    println!(
        "{:>9} {:>12} {:>8} {:>11} {:>9} {:>9} {:>9} {:>9}",
        "backend", "workload", "writers", "commits/s", "p50 ms", "p99 ms", "max ms", "retries"
    );
    for backend in ["embedded", "postgres"] {
        for workload in [Workload::Independent, Workload::OneAccount] {
            for writers in [1usize, 16, 64] {
                let opened = match open(backend).await {
                    Ok(o) => o,
                    Err(e) => {
                        println!("{backend:>9} skipped: {e}");
                        break;
                    }
                };
                let runs = Arc::new(AtomicU64::new(0));
                let deadline = Instant::now() + Duration::from_secs(seconds);
                let tasks: Vec<_> = (0..writers)
                    .map(|w| {
                        let db = opened.db.clone();
                        let runs = runs.clone();
                        tokio::spawn(async move {
                            let body = vec![b'x'; 4096];
                            let mut latencies = Vec::new();
                            let mut i = 0u64;
                            while Instant::now() < deadline {
                                let n = (w as u64) << 32 | i;
                                let start = Instant::now();
                                transaction(&db, workload, n, &body, &runs).await;
                                latencies.push(start.elapsed());
                                i += 1;
                            }
                            latencies
                        })
                    })
                    .collect();
                let mut all = Vec::new();
                for t in tasks {
                    all.extend(t.await.expect("writer"));
                }
                all.sort();
                let pct = |p: f64| {
                    all[((all.len() as f64 * p) as usize).min(all.len() - 1)].as_secs_f64() * 1000.0
                };
                let commits = all.len() as f64;
                let retries = (runs.load(Ordering::Relaxed) as f64 - commits) / commits;
                println!(
                    "{:>9} {:>12} {:>8} {:>11.0} {:>9.2} {:>9.2} {:>9.2} {:>9.2}",
                    backend,
                    match workload {
                        Workload::Independent => "independent",
                        Workload::OneAccount => "one account",
                    },
                    writers,
                    commits / seconds as f64,
                    pct(0.50),
                    pct(0.99),
                    pct(1.0),
                    retries
                );
            }
        }
    }
}
