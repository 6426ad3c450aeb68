//! Login rate: 10 concurrent IMAP clients, each connecting over implicit TLS, logging in and
//! out in a loop for `TERN_BENCH_SECONDS` (default 10) on a release `tern serve --dev`, once
//! with the verified-credential cache off and once on. Prints logins/s and the LOGIN latency.
//! Run: `cargo bench -p tern-tests --bench imap_logins`; `TERN_BENCH_SERVER` and its
//! companions point it at another server (see `tern_tests::bench`), measured once.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use tern_tests::{bench::Target, imap};

const CLIENTS: usize = 10;

async fn run(cache_seconds: &str, seconds: u64) {
    let target = Arc::new(
        Target::start(&[("TERN_SERVER__LOGIN_CACHE_SECONDS", cache_seconds)])
            .expect("the server under load"),
    );
    let until = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let target = target.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < until {
                    let (mut c, _) = imap::Client::connect(target.imaps, Some(&target.tls))
                        .await
                        .expect("connect");
                    let t = Instant::now();
                    let r = c
                        .login(&target.user, &target.password)
                        .await
                        .expect("login");
                    assert!(r.ok(), "login: {}", r.all());
                    latencies.push(t.elapsed());
                    c.cmd("LOGOUT").await.expect("logout");
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("client"));
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
    let label = match target.tern() {
        Some(_) if cache_seconds == "0" => "tern, cache off",
        Some(_) => "tern, cache on",
        None => "the other server",
    };
    println!(
        "{label}: {} logins in {elapsed:.1} s with {CLIENTS} clients = {:.0} logins/s; LOGIN p50 {:.2} ms, p99 {:.2} ms",
        all.len(),
        all.len() as f64 / elapsed,
        pct(0.5).as_secs_f64() * 1000.0,
        pct(0.99).as_secs_f64() * 1000.0,
    );
    if let Ok(target) = Arc::try_unwrap(target) {
        target.stop().expect("stop");
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let seconds = tern_tests::bench::seconds();
    run("0", seconds).await;
    if std::env::var_os("TERN_BENCH_SERVER").is_none() {
        run("300", seconds).await;
    }
}
