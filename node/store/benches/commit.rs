//! Durable commit throughput and latency of the embedded store: each transaction writes a
//! 4 KiB message plus three index keys, for 1, 16 and 64 concurrent writers.
//! Run: `cargo bench -p tern-store --bench commit`

use std::time::{Duration, Instant};

use tern_store::{Db, EmbeddedStore, keys::scratch};

const SECONDS: u64 = 5;

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let seconds = std::env::var("TERN_BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(SECONDS);
    println!(
        "embedded store, 4 KiB value + 3 index keys per transaction, fsync per group, {seconds}s per run"
    );
    println!(
        "{:>8} {:>12} {:>10} {:>10} {:>10}",
        "writers", "commits/s", "p50 ms", "p99 ms", "max ms"
    );
    for writers in [1usize, 16, 64] {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::new(EmbeddedStore::open(dir.path()).expect("open"));
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let tasks: Vec<_> = (0..writers)
            .map(|w| {
                let db = db.clone();
                tokio::spawn(async move {
                    let body = vec![b'x'; 4096];
                    let mut latencies = Vec::new();
                    let mut i = 0u64;
                    while Instant::now() < deadline {
                        let n = (w as u64) << 32 | i;
                        let start = Instant::now();
                        let body = &body;
                        db.run(|tx| async move {
                            tx.set(&scratch::item("msg", n), body)?;
                            tx.set(&scratch::item("idx-a", n), b"1")?;
                            tx.set(&scratch::item("idx-b", n), b"2")?;
                            tx.set(&scratch::item("idx-c", n), b"3")
                        })
                        .await
                        .expect("commit");
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
        println!(
            "{:>8} {:>12.0} {:>10.2} {:>10.2} {:>10.2}",
            writers,
            all.len() as f64 / seconds as f64,
            pct(0.50),
            pct(0.99),
            pct(1.0)
        );
    }
}
