//! SMTP ingest benchmark: 20 concurrent sessions send 4 KiB messages to 20 local users on a
//! release `tern serve --dev` (embedded store, or PostgreSQL with `TERN_TEST_STORE=postgres`;
//! every 250 durable). Prints accepted messages/s and
//! latency percentiles of the DATA round trip (end of data → 250).
//! Run: `cargo bench -p tern-tests --bench smtp_ingest` (TERN_BENCH_SECONDS to change the time);
//! `TERN_BENCH_SERVER` and its companions point it at another server (see `tern_tests::bench`;
//! it needs the users `user0`..`user19` in `TERN_BENCH_USER`'s domain).

use std::time::{Duration, Instant};

use tern_tests::{
    bench::Target,
    smtp::{Client, message},
};

const SESSIONS: usize = 20;

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let seconds = tern_tests::bench::seconds();
    let target = Target::start(&[]).expect("the server under load");
    let users: Vec<String> = (0..SESSIONS)
        .map(|i| target.extra_user(i).expect("account"))
        .collect();
    let addr = target.smtp;
    let body = "x".repeat(4096 - 200);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let tasks: Vec<_> = (0..SESSIONS)
        .map(|i| {
            let (body, to) = (body.clone(), users[i].clone());
            tokio::spawn(async move {
                let (mut c, _) = Client::connect(addr, None).await.expect("connect");
                c.expect("EHLO bench.test", 250).await.expect("ehlo");
                let mut latencies = Vec::new();
                let mut n = 0u64;
                while Instant::now() < deadline {
                    c.envelope("bench@remote.test", &to)
                        .await
                        .expect("envelope");
                    let msg = message("bench@remote.test", &to, &format!("bench-{i}-{n}"), &body);
                    let t = Instant::now();
                    c.send_raw(format!("{msg}\r\n.\r\n").as_bytes())
                        .await
                        .expect("body");
                    let r = c.read().await.expect("reply");
                    assert_eq!(r.code, 250, "{}", r.text);
                    latencies.push(t.elapsed());
                    n += 1;
                }
                let _ = c.cmd("QUIT").await;
                latencies
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("session"));
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    let pct =
        |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)].as_secs_f64() * 1000.0;
    println!(
        "SMTP ingest: {SESSIONS} sessions, 4 KiB messages to {SESSIONS} local users, {} store, {seconds}s",
        match (target.tern(), tern_tests::backend::postgres()) {
            (None, _) => "the other server's",
            (Some(_), true) => "postgres",
            (Some(_), false) => "embedded",
        }
    );
    println!(
        "accepted {} messages: {:.0} msg/s; end-of-data to 250: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        all.len(),
        all.len() as f64 / elapsed,
        pct(0.50),
        pct(0.99),
        pct(1.0)
    );
    target.print_metrics(&[
        "process_resident_memory_bytes",
        "tern_store_group_commit_size_sum",
        "tern_store_group_commit_size_count",
        "tern_store_retries_total",
        "tern_store_commits_total",
    ]);
    target.stop().expect("stop");
}
