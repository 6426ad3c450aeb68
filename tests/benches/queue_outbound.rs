//! Outbound queue benchmark on a release `tern serve --dev`.
//! 1. Throughput: N messages (4 KiB) for 20 destination domains are queued while their MX is
//!    down, then the sink peer starts and `retry --all` releases them; prints messages/s until
//!    the sink has them all.
//! 2. Scan cost: M deferred entries (100 recipients per message, 100 unreachable destinations)
//!    sit in the queue; prints the mean due-scan time from `tern_queue_scan_seconds`, with the
//!    cost of a full listing for comparison, and the server's RSS at each stage.
//!
//! Run: `cargo bench -p tern-tests --bench queue_outbound`; `TERN_BENCH_MESSAGES` (default
//! 4000) and `TERN_BENCH_DEFERRED` (default 100000) change the sizes.

use std::time::{Duration, Instant};

use serde_json::json;
use tern_tests::{
    Tern,
    bench::{PASSWORD, TOKEN, env_or},
    dns::{self, Rr},
    metric_sum,
    outbound::{send, submission},
    peer::Peer,
};

const DESTINATIONS: usize = 20;
const DEAD: usize = 100;
const FROM: &str = "<demo@example.test>";

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

fn rss_mb(tern: &Tern) -> f64 {
    metric_sum(
        &tern.get("/metrics").expect("metrics").1,
        "process_resident_memory_bytes",
    ) / 1e6
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let messages = env_or("TERN_BENCH_MESSAGES", 4000) as usize;
    let deferred = env_or("TERN_BENCH_DEFERRED", 100_000) as usize;
    // A port on 127.0.0.2 that nothing listens on yet; the sink takes it later.
    let port = std::net::TcpListener::bind("127.0.0.2:0")
        .expect("bind")
        .local_addr()
        .expect("addr")
        .port();
    let mut records = vec![
        Rr::A("sink.test.", [127, 0, 0, 2]),
        Rr::A("dead.test.", [127, 0, 0, 4]),
    ];
    for d in 0..DESTINATIONS {
        records.push(Rr::Mx(leak(format!("d{d}.test.")), 10, "sink.test."));
    }
    for d in 0..DEAD {
        records.push(Rr::Mx(leak(format!("z{d}.test.")), 10, "dead.test."));
    }
    let dns = dns::serve("test.", &records).await.expect("dns");
    let dns_addr = dns.addr.to_string();
    let port_s = port.to_string();
    let dir = tempfile::tempdir().expect("tempdir");
    let tern = Tern::start(
        dir.path(),
        &["--dev"],
        &[
            ("TERN_DEV_ADMIN_TOKEN", TOKEN),
            ("TERN_DEV_PASSWORD", PASSWORD),
            ("RUST_LOG", "warn"),
            ("TERN_SMTP__MAX_CONNECTIONS_PER_IP", "100"),
            ("TERN_QUEUE__DNS_SERVER", &dns_addr),
            ("TERN_QUEUE__REMOTE_PORT", &port_s),
            ("TERN_QUEUE__SCAN_INTERVAL_MS", "100"),
            ("TERN_QUEUE__RETRY_INTERVALS_SECONDS", "3600"),
            ("TERN_QUEUE__SUSPEND_AFTER_FAILURES", "1000000000"),
        ],
    )
    .expect("tern starts");

    // 1. Throughput.
    let body = "x".repeat(4096 - 200);
    let per = messages / DESTINATIONS;
    let tasks: Vec<_> = (0..DESTINATIONS)
        .map(|d| {
            let body = body.clone();
            let addr = tern.addr("submission");
            let cert = tern.certificate();
            tokio::spawn(async move {
                let mut c = submission(addr, &cert, PASSWORD).await;
                for i in 0..per {
                    let rcpt = format!("u{i}@d{d}.test");
                    send(&mut c, FROM, &[&rcpt], &format!("b-{d}-{i}"), &body).await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("submitter");
    }
    let total = per * DESTINATIONS;
    // Wait until every entry has failed its first attempt (the MX is down).
    loop {
        let m = tern.get("/metrics").expect("metrics").1;
        if metric_sum(&m, "tern_queue_recipients_total{result=\"deferred\"}") as usize >= total {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let sink = Peer::start(&format!("127.0.0.2:{port}"))
        .await
        .expect("sink");
    let started = Instant::now();
    tern.api_send(TOKEN, "POST", "/queue/retry", json!({}))
        .expect("retry all");
    while sink.messages().len() < total {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let secs = started.elapsed().as_secs_f64();
    let m = tern.get("/metrics").expect("metrics").1;
    println!(
        "outbound: {total} messages of 4 KiB to {DESTINATIONS} destinations delivered in {secs:.2} s: {:.0} msg/s ({} SMTP connections)",
        total as f64 / secs,
        *sink.connections.lock().expect("lock")
    );
    println!(
        "delivery latency (accept → remote 250, includes the time parked): mean {:.1} s",
        metric_sum(&m, "tern_queue_delivery_seconds_sum")
            / metric_sum(&m, "tern_queue_delivery_seconds_count")
    );

    println!(
        "server RSS after the throughput run: {:.0} MB",
        rss_mb(&tern)
    );

    // 2. Scan cost with many deferred entries.
    let per_message = 100;
    let msgs = deferred.div_ceil(per_message);
    let sessions = 10;
    let tasks: Vec<_> = (0..sessions)
        .map(|s| {
            let addr = tern.addr("submission");
            let cert = tern.certificate();
            tokio::spawn(async move {
                let mut c = submission(addr, &cert, PASSWORD).await;
                for i in (s..msgs).step_by(sessions) {
                    let rcpts: Vec<String> = (0..per_message)
                        .map(|d| format!("m{i}@z{d}.test"))
                        .collect();
                    let rcpts: Vec<&str> = rcpts.iter().map(String::as_str).collect();
                    send(&mut c, FROM, &rcpts, &format!("z-{i}"), "small\r\n").await;
                }
            })
        })
        .collect();
    let fill = Instant::now();
    for t in tasks {
        t.await.expect("submitter");
    }
    let queued = msgs * per_message;
    loop {
        let m = tern.get("/metrics").expect("metrics").1;
        if metric_sum(&m, "tern_queue_due_entries") == 0.0
            && metric_sum(&m, "tern_queue_in_flight_entries") == 0.0
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    println!(
        "queued {queued} entries for {DEAD} unreachable destinations and took their first attempts in {:.1} s",
        fill.elapsed().as_secs_f64()
    );
    println!(
        "server RSS with {queued} entries queued: {:.0} MB",
        rss_mb(&tern)
    );
    let before = tern.get("/metrics").expect("metrics").1;
    tokio::time::sleep(Duration::from_secs(10)).await;
    let after = tern.get("/metrics").expect("metrics").1;
    let n = metric_sum(&after, "tern_queue_scan_seconds_count")
        - metric_sum(&before, "tern_queue_scan_seconds_count");
    let sum = metric_sum(&after, "tern_queue_scan_seconds_sum")
        - metric_sum(&before, "tern_queue_scan_seconds_sum");
    println!(
        "due scan of 64 shards with {queued} deferred entries: {n:.0} scans, mean {:.3} ms",
        sum / n * 1000.0
    );
    let t = Instant::now();
    let summary = tern.api(TOKEN, "/queue/summary").expect("summary");
    println!(
        "full listing for comparison (queue summary over {} entries): {:.0} ms",
        summary["total"],
        t.elapsed().as_secs_f64() * 1000.0
    );
    println!("server RSS after the full listing: {:.0} MB", rss_mb(&tern));
    tern.stop().expect("stop");
}
