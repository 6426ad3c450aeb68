//! IMAP benchmark on a release `tern serve --dev`.
//! 1. A 10 000-message INBOX (2 KiB messages, APPENDed over 8 connections): prints the time of
//!    SELECT, FETCH 1:* (FLAGS ENVELOPE), FETCH 1:* (BODY.PEEK[]), UID FETCH 1:* (FLAGS),
//!    SEARCHes on flags, sizes, envelope fields and the body text, STATUS and a STORE on every
//!    message; then FETCH 1:* (BODY.PEEK[]) plain and under COMPRESS=DEFLATE: time, IMAP bytes
//!    received (before TLS) and the server's CPU.
//! 2. Idle connections: opens N sessions over implicit TLS from 127.0.0.10-.19, each logged in
//!    with INBOX selected and in IDLE; prints the server's RSS per idle connection, then how
//!    long each of `TERN_BENCH_WAKES` (default 10) SMTP deliveries, one after the other, takes
//!    to reach all N (every session gets `* n EXISTS`).
//!
//! Run: `cargo bench -p tern-tests --bench imap_mailbox`; `TERN_BENCH_MESSAGES` (default
//! 10000) and `TERN_BENCH_IDLE` (default 10000) change the sizes. `TERN_BENCH_SERVER` and its
//! companions point it at another server (see `tern_tests::bench`); its idle sessions then
//! connect from 127.0.0.10-.19 only when the server is on loopback.

use std::{
    net::{IpAddr, Ipv4Addr},
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use tern_tests::{
    bench::Target,
    imap::{self, Client},
    smtp,
};

const SOURCES: u8 = 10;

fn message(i: usize) -> Vec<u8> {
    let mut m = format!(
        "From: Sender {s} <sender{s}@remote.test>\r\nTo: demo@example.test\r\nSubject: report number {i}\r\nMessage-ID: <{i}@bench.test>\r\nDate: Tue, 24 Nov 2026 09:00:00 +0000\r\n\r\n",
        s = i % 50
    );
    while m.len() < 2000 {
        m.push_str("lorem ipsum dolor sit amet consectetur adipiscing elit\r\n");
    }
    if i % 1000 == 7 {
        m.push_str("needle in the haystack\r\n");
    }
    m.into_bytes()
}

/// The `p` quantile of sorted durations, in milliseconds.
fn pct(sorted: &[Duration], p: f64) -> f64 {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)].as_secs_f64() * 1e3
}

async fn timed(c: &mut Client, label: &str, command: &str) -> imap::Reply {
    let started = Instant::now();
    let r = c.cmd(command).await.expect("command");
    let took = started.elapsed();
    assert!(r.ok(), "{label}: {}", r.status);
    println!(
        "{label:<44} {:>9.1} ms  ({} responses)",
        took.as_secs_f64() * 1e3,
        r.untagged.len()
    );
    r
}

/// FETCH 1:* (BODY.PEEK[]) on a new session, compressed or not: time, IMAP bytes received
/// (before TLS) and the server's CPU seconds for it.
async fn fetch_bodies(target: &Target, compressed: bool) {
    let mut c = target.imap().await.expect("session");
    let counted = if compressed {
        Some(c.compress().await.expect("COMPRESS"))
    } else {
        None
    };
    assert!(c.cmd("EXAMINE INBOX").await.expect("examine").ok());
    let cpu = target.cpu_seconds();
    let started = Instant::now();
    let r = c.cmd("FETCH 1:* (BODY.PEEK[])").await.expect("fetch");
    let took = started.elapsed();
    assert!(r.ok(), "{}", r.status);
    let cpu = cpu
        .zip(target.cpu_seconds())
        .map_or_else(|| "n/a".to_string(), |(a, b)| format!("{:.2} s", b - a));
    let plain: usize = r.untagged.iter().map(|l| l.len() + 2).sum();
    let wire = counted.map_or(plain, |n| n.load(Ordering::Relaxed) as usize);
    println!(
        "FETCH 1:* (BODY.PEEK[]) {:<12} {:>9.1} ms  {:>7.2} MB received  server CPU {cpu}",
        if compressed { "COMPRESS" } else { "plain" },
        took.as_secs_f64() * 1e3,
        wire as f64 / 1e6,
    );
    c.cmd("LOGOUT").await.expect("logout");
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let messages = tern_tests::bench::env_or("TERN_BENCH_MESSAGES", 10_000) as usize;
    let idle = tern_tests::bench::env_or("TERN_BENCH_IDLE", 10_000) as usize;
    let wakes = tern_tests::bench::env_or("TERN_BENCH_WAKES", 10).max(1) as usize;
    let per_ip = (idle / usize::from(SOURCES) + 10).to_string();
    let target = Target::start(&[
        ("TERN_IMAP__MAX_CONNECTIONS_PER_IP", per_ip.as_str()),
        ("TERN_IMAP__MAX_CONNECTIONS", "30000"),
    ])
    .expect("the server under load");
    let target = Arc::new(target);
    let rss = |t: &Target| {
        t.rss_mb()
            .map_or_else(|| "n/a".to_string(), |mb| format!("{mb:.0} MB"))
    };

    // 1. The big mailbox.
    let started = Instant::now();
    let mut fillers = Vec::new();
    for w in 0..8 {
        let target = target.clone();
        fillers.push(tokio::spawn(async move {
            let mut c = target.imap().await.expect("session");
            for i in (w..messages).step_by(8) {
                let r = c
                    .cmd_literal("APPEND INBOX", &message(i))
                    .await
                    .expect("append");
                assert!(r.ok(), "{}", r.status);
            }
        }));
    }
    for f in fillers {
        f.await.expect("filler");
    }
    let fill = started.elapsed();
    println!(
        "filled INBOX with {messages} messages over 8 connections in {:.1} s ({:.0} APPEND/s)",
        fill.as_secs_f64(),
        messages as f64 / fill.as_secs_f64()
    );
    let mut c = target.imap().await.expect("session");
    timed(&mut c, "SELECT INBOX", "SELECT INBOX").await;
    timed(
        &mut c,
        "FETCH 1:* (FLAGS ENVELOPE)",
        "FETCH 1:* (FLAGS ENVELOPE)",
    )
    .await;
    timed(
        &mut c,
        "FETCH 1:* (FLAGS ENVELOPE), again",
        "FETCH 1:* (FLAGS ENVELOPE)",
    )
    .await;
    timed(&mut c, "UID FETCH 1:* (FLAGS)", "UID FETCH 1:* (FLAGS)").await;
    timed(&mut c, "FETCH 1:* (BODY.PEEK[])", "FETCH 1:* (BODY.PEEK[])").await;
    timed(&mut c, "SEARCH ALL", "SEARCH ALL").await;
    timed(&mut c, "SEARCH UNSEEN", "SEARCH UNSEEN").await;
    timed(&mut c, "SEARCH LARGER 2050", "SEARCH LARGER 2050").await;
    timed(&mut c, "SEARCH UNSEEN, again", "SEARCH UNSEEN").await;
    timed(&mut c, "SEARCH FROM sender7", "SEARCH FROM sender7").await;
    timed(
        &mut c,
        "SEARCH SUBJECT \"number 4242\"",
        "SEARCH SUBJECT \"number 4242\"",
    )
    .await;
    let r = timed(
        &mut c,
        "SEARCH BODY needle (reads every body)",
        "SEARCH BODY needle",
    )
    .await;
    println!(
        "  BODY needle matched: {}",
        r.lines("SEARCH")[0].split(' ').count() - 1
    );
    timed(
        &mut c,
        "STATUS INBOX (MESSAGES UNSEEN)",
        "STATUS INBOX (MESSAGES UNSEEN)",
    )
    .await;
    timed(
        &mut c,
        "STORE 1:* +FLAGS.SILENT (\\Flagged)",
        "STORE 1:* +FLAGS.SILENT (\\Flagged)",
    )
    .await;
    timed(&mut c, "SEARCH FLAGGED", "SEARCH FLAGGED").await;
    println!("server RSS after the mailbox work: {}", rss(&target));
    if let Some(parts) = target.memory_parts() {
        println!("  {parts}");
    }
    c.cmd("LOGOUT").await.expect("logout");
    drop(c);
    for compressed in [false, true] {
        fetch_bodies(&target, compressed).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    // 2. Idle connections.
    let before = target.rss_mb();
    let spread = target.imaps.ip().is_loopback();
    let started = Instant::now();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Client>(idle.max(1));
    let gate = Arc::new(tokio::sync::Semaphore::new(64));
    for n in 0..idle {
        let (target, tx, gate) = (target.clone(), tx.clone(), gate.clone());
        tokio::spawn(async move {
            let _permit = gate.acquire().await.expect("gate");
            let ip = spread.then(|| {
                IpAddr::V4(Ipv4Addr::new(
                    127,
                    0,
                    0,
                    10 + (n % usize::from(SOURCES)) as u8,
                ))
            });
            let (mut c, _) = Client::connect_from(target.imaps, ip, Some(&target.tls))
                .await
                .expect("connect");
            let r = c
                .login(&target.user, &target.password)
                .await
                .expect("login");
            assert!(r.ok(), "login: {}", r.all());
            assert!(c.cmd("SELECT INBOX").await.expect("select").ok());
            c.send(b"i IDLE\r\n").await.expect("idle");
            assert!(c.line().await.expect("continuation").starts_with('+'));
            let _ = tx.send(c).await;
        });
    }
    drop(tx);
    let mut open = Vec::with_capacity(idle);
    while let Some(c) = rx.recv().await {
        open.push(c);
        if open.len() % 1000 == 0 {
            println!(
                "  {} sessions idling ({:.0} s)",
                open.len(),
                started.elapsed().as_secs_f64()
            );
        }
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let memory = match (before, target.rss_mb()) {
        (Some(before), Some(after)) => format!(
            "; server RSS {before:.0} MB → {after:.0} MB: {:.1} KB per idle connection",
            (after - before) * 1000.0 / open.len().max(1) as f64
        ),
        _ => String::new(),
    };
    println!(
        "{} IDLE sessions over TLS opened in {:.0} s{memory}",
        open.len(),
        started.elapsed().as_secs_f64(),
    );
    if let Some(parts) = target.memory_parts() {
        println!("  {parts}");
    }

    // Deliveries, one at a time, each reaching every idle session.
    let mut all = Vec::new();
    let mut p99s = Vec::new();
    for wake in 0..wakes {
        // Every session is read by a task waiting before the delivery starts, so the figures
        // hold no spawning of this client's tasks.
        let want = Arc::new(format!("* {} EXISTS", messages + 1 + wake));
        let ready = Arc::new(AtomicUsize::new(0));
        let waiters: Vec<_> = open
            .drain(..)
            .map(|mut c| {
                let (want, ready) = (want.clone(), ready.clone());
                tokio::spawn(async move {
                    ready.fetch_add(1, Ordering::Relaxed);
                    loop {
                        let l = c.line().await.expect("line");
                        if l == *want {
                            return (c, Instant::now());
                        }
                    }
                })
            })
            .collect();
        while ready.load(Ordering::Relaxed) < waiters.len() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let started = Instant::now();
        smtp::deliver(target.smtp, &target.user, &["wake up"])
            .await
            .expect("deliver");
        let mut lat = Vec::with_capacity(waiters.len());
        for w in waiters {
            let (c, at) = w.await.expect("waiter");
            open.push(c);
            lat.push(at - started);
        }
        lat.sort();
        let (p50, p99, last) = (pct(&lat, 0.5), pct(&lat, 0.99), pct(&lat, 1.0));
        println!(
            "  delivery {}: {} IDLE sessions notified: p50 {p50:.0} ms, p99 {p99:.0} ms, last {last:.0} ms",
            wake + 1,
            lat.len()
        );
        p99s.push(p99);
        all.extend(lat);
    }
    all.sort();
    p99s.sort_by(f64::total_cmp);
    println!(
        "{wakes} SMTP deliveries → {} IDLE sessions each: over all notifications p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms; median of the per-delivery p99s {:.0} ms (from the start of each SMTP session)",
        open.len(),
        pct(&all, 0.5),
        pct(&all, 0.99),
        pct(&all, 1.0),
        p99s[p99s.len() / 2]
    );
    target.print_metrics(&[
        "tern_imap_notify_latency_seconds_sum",
        "tern_imap_notify_latency_seconds_count",
    ]);
    drop(open);
    if let Ok(target) = Arc::try_unwrap(target) {
        target.stop().expect("stop");
    }
}
