//! SMTP ingest benchmark: 20 concurrent sessions send 4 KiB messages to 20 local users on a
//! release `tern serve --dev` (embedded store, or PostgreSQL with `TERN_TEST_STORE=postgres`;
//! every 250 durable). Prints accepted messages/s and
//! latency percentiles of the DATA round trip (end of data → 250).
//! Run: `cargo bench -p tern-tests --bench smtp_ingest` (TERN_BENCH_SECONDS to change the time);
//! `TERN_BENCH_CHECKS=1` turns every inbound check on — IP lists, a DNS list, rate limits, SPF,
//! DKIM (each message signed with Ed25519), ARC and DMARC against a DNS server the bench runs,
//! ClamAV (a real clamd) and the spam score — so the run shows what filtering costs, DNS
//! answered from the node's cache after the first message (`TERN_BENCH_CHECKS=noav`: the same
//! without ClamAV, whose clamd shares the machine's cores);
//! `TERN_BENCH_SERVER` and its companions point it at another server (see `tern_tests::bench`;
//! it needs the users `user0`..`user19` in `TERN_BENCH_USER`'s domain).

use std::time::{Duration, Instant};

use tern_tests::{
    bench::Target,
    clamd::Clamd,
    dkim,
    dns::{self, Dns},
    smtp::{Client, message},
};

/// What the checks need: a DNS zone, a clamd (unless left out), the sender's DKIM key.
struct Checks {
    dns: Dns,
    clamd: Option<Clamd>,
    key: Vec<u8>,
}

impl Checks {
    async fn start(antivirus: bool) -> Checks {
        let dns = dns::serve("test.", &[]).await.expect("dns");
        let (key, record) = dkim::ed25519_key();
        dns.add_txt("remote.test", "v=spf1 ip4:127.0.0.1 -all")
            .await;
        dns.add_txt("_dmarc.remote.test", "v=DMARC1; p=reject")
            .await;
        dns.add_txt("b._domainkey.remote.test", &record).await;
        let clamd = antivirus.then(|| Clamd::start().expect("clamd"));
        Checks { dns, clamd, key }
    }

    fn env(&self) -> Vec<(String, String)> {
        let checks = match self.clamd {
            Some(_) => "ip_lists,dnsbl,rate_limits,auth,antivirus,score",
            None => "ip_lists,dnsbl,rate_limits,auth,score",
        };
        let mut env = vec![
            ("TERN_QUEUE__DNS_SERVER", self.dns.addr.to_string()),
            ("TERN_SMTP__CHECKS__MX", checks.into()),
            ("TERN_SMTP__CHECKS__DNSBL__LISTS", "bl.test".into()),
            (
                "TERN_SMTP__CHECKS__RATE_LIMITS__RULES",
                "ip connections 100000/1m,sender messages 10000000/1h,net recipients 10000000/1h"
                    .into(),
            ),
        ];
        if let Some(clamd) = &self.clamd {
            env.push((
                "TERN_SMTP__CHECKS__ANTIVIRUS__CLAMD",
                clamd.socket.display().to_string(),
            ));
        }
        env.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }
}

const SESSIONS: usize = 20;

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let seconds = tern_tests::bench::seconds();
    let checks = match std::env::var("TERN_BENCH_CHECKS").as_deref() {
        Ok("1") => Some(Checks::start(true).await),
        Ok("noav") => Some(Checks::start(false).await),
        _ => None,
    };
    let env = checks.as_ref().map(Checks::env).unwrap_or_default();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let key = checks.as_ref().map(|c| c.key.clone());
    let target = Target::start(&env).expect("the server under load");
    let users: Vec<String> = (0..SESSIONS)
        .map(|i| target.extra_user(i).expect("account"))
        .collect();
    let addr = target.smtp;
    let body = "x".repeat(4096 - 200);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let tasks: Vec<_> = (0..SESSIONS)
        .map(|i| {
            let (body, to, key) = (body.clone(), users[i].clone(), key.clone());
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
                    let msg = match &key {
                        Some(key) => dkim::sign(dkim::ed25519(key), &msg, "remote.test", "b"),
                        None => msg,
                    };
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
        "SMTP ingest: {SESSIONS} sessions, 4 KiB messages to {SESSIONS} local users, {} store, {seconds}s, checks {}",
        match (target.tern(), tern_tests::backend::postgres()) {
            (None, _) => "the other server's",
            (Some(_), true) => "postgres",
            (Some(_), false) => "embedded",
        },
        match &checks {
            Some(c) if c.clamd.is_some() => "ip_lists+dnsbl+rate_limits+auth+antivirus+score",
            Some(_) => "ip_lists+dnsbl+rate_limits+auth+score",
            None => "ip_lists",
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
        "tern_smtp_check_seconds_sum",
        "tern_smtp_check_seconds_count",
        "tern_smtp_auth_results_total{method=\"dmarc\",result=\"pass\"}",
        "tern_antivirus_scans_total{result=\"clean\"}",
        "tern_spam_verdicts_total",
    ]);
    target.stop().expect("stop");
}
