//! Submission rate: 10 concurrent clients, each sending one message per connection the way a
//! mail client does — connect to submission, EHLO, STARTTLS, EHLO, AUTH PLAIN, MAIL, RCPT,
//! DATA, QUIT — for `TERN_BENCH_SECONDS` (default 10). Prints messages/s and the latency of
//! the whole cycle and of AUTH alone. The first login of the run verifies the password; the
//! others are answered by the credential cache (the server's, for another server whatever it
//! does), and TLS sessions are resumed with tickets where the server issues them.
//! Run: `cargo bench -p tern-tests --bench smtp_submission`; `TERN_BENCH_SERVER` and its
//! companions point it at another server (see `tern_tests::bench`).

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use tern_tests::{
    bench::Target,
    smtp::{Client, message},
};

const CLIENTS: usize = 10;

/// The `p` quantile of sorted durations, in milliseconds.
fn pct(sorted: &[Duration], p: f64) -> f64 {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)].as_secs_f64() * 1e3
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let seconds = tern_tests::bench::seconds();
    let target = Arc::new(Target::start(&[]).expect("the server under load"));
    let body = "z".repeat(2000);
    let until = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|i| {
            let (target, body) = (target.clone(), body.clone());
            tokio::spawn(async move {
                let (mut cycles, mut auths) = (Vec::new(), Vec::new());
                let mut n = 0;
                while Instant::now() < until {
                    let t = Instant::now();
                    let (mut c, greeting) =
                        Client::connect(target.submission, Some(target.tls.clone()))
                            .await
                            .expect("connect");
                    assert_eq!(greeting.code, 220, "{}", greeting.text);
                    c.expect("EHLO bench.test", 250).await.expect("ehlo");
                    let mut c = c.starttls().await.expect("starttls");
                    c.expect("EHLO bench.test", 250).await.expect("ehlo");
                    let a = Instant::now();
                    let r = c
                        .auth_plain(&target.user, &target.password)
                        .await
                        .expect("auth");
                    assert_eq!(r.code, 235, "{}", r.text);
                    auths.push(a.elapsed());
                    // MAIL, RCPT and DATA.
                    c.envelope(&target.user, &target.user)
                        .await
                        .expect("envelope");
                    let m = message(&target.user, &target.user, &format!("s{i}-{n}"), &body);
                    c.send_raw(format!("{m}\r\n.\r\n").as_bytes())
                        .await
                        .expect("body");
                    let r = c.read().await.expect("reply");
                    assert_eq!(r.code, 250, "{}", r.text);
                    let _ = c.cmd("QUIT").await;
                    cycles.push(t.elapsed());
                    n += 1;
                }
                (cycles, auths)
            })
        })
        .collect();
    let (mut cycles, mut auths) = (Vec::new(), Vec::new());
    for t in tasks {
        let (c, a) = t.await.expect("client");
        cycles.extend(c);
        auths.extend(a);
    }
    let elapsed = started.elapsed().as_secs_f64();
    cycles.sort();
    auths.sort();
    println!(
        "submission, {CLIENTS} clients, one message per STARTTLS + AUTH connection: {} messages in {elapsed:.1} s = {:.1} msg/s; cycle p50 {:.1} ms, p99 {:.1} ms; AUTH p50 {:.2} ms, p99 {:.2} ms",
        cycles.len(),
        cycles.len() as f64 / elapsed,
        pct(&cycles, 0.5),
        pct(&cycles, 0.99),
        pct(&auths, 0.5),
        pct(&auths, 0.99),
    );
    target.print_metrics(&["tern_tls_handshakes_total", "tern_password_checks_total"]);
    if let Ok(target) = Arc::try_unwrap(target) {
        target.stop().expect("stop");
    }
}
