//! Concurrent deliveries into one mailbox, checked message by message: 20 SMTP sessions each
//! deliver `TERN_BENCH_MESSAGES` (default 500) messages with unique Message-IDs to the same
//! account on a release `tern serve --dev` — or, with `TERN_BENCH_MAILBOXES=20`, each session to
//! its own account, the comparison the one-mailbox figure is held to. Then, over IMAP, every
//! acknowledged Message-ID must be in its INBOX exactly once and STATUS MESSAGES must equal the
//! number of UIDs (the lost-update race lost about 1 in 50-100 k such deliveries). Prints
//! throughput, latency, the store's conflicts and the mean group-commit size; exits non-zero
//! on any loss.
//! Run: `cargo bench -p tern-tests --bench one_mailbox` (`TERN_BENCH_MAILBOXES=20` for the
//! spread run). `TERN_BENCH_NODES=2` runs two cluster nodes on a throwaway PostgreSQL instead,
//! the sessions taking turns between them, so deliveries from both nodes meet in the one
//! mailbox (the cross-node case: conflicts at the store, retried). `TERN_BENCH_SERVER` and its
//! companions point it at another server (see `tern_tests::bench`; the spread run needs
//! `user1`.. in the account's domain); the store figures are Tern's only.

use std::{
    collections::HashMap,
    net::SocketAddr,
    time::{Duration, Instant},
};

use tern_tests::{
    Tern,
    bench::Target,
    cluster::{self, Scene},
    smtp::{Client, message},
};

const SESSIONS: usize = 20;

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let per_session: usize = std::env::var("TERN_BENCH_MESSAGES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(500);
    let mailboxes: usize = std::env::var("TERN_BENCH_MAILBOXES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1)
        .clamp(1, SESSIONS);
    let env = [("TERN_SMTP__MAX_CONNECTIONS_PER_IP", "100")];
    let (target, others, _scene) = match tern_tests::bench::env_or("TERN_BENCH_NODES", 1) {
        1 => (
            Target::start(&env).expect("the server under load"),
            Vec::new(),
            None,
        ),
        n => {
            let scene = Scene::new(n);
            let node = |id: u64, join: Option<&str>| {
                cluster::start_with(
                    &scene.pg,
                    scene.dirs[id as usize - 1].path(),
                    &scene.certs,
                    id,
                    join,
                    &env,
                )
            };
            let first = node(1, None);
            let join = first.addr("cluster").to_string();
            let others: Vec<Tern> = (2..=n).map(|id| node(id, Some(&join))).collect();
            let ids: Vec<u64> = (1..=n).collect();
            cluster::wait(&first, 60, "every member with its shards", |s| {
                cluster::balanced(s, &ids)
            });
            (
                Target::of(first, cluster::TOKEN, cluster::PASSWORD).expect("node 1"),
                others,
                Some(scene),
            )
        }
    };
    let nodes: Vec<&Tern> = target.tern().into_iter().chain(&others).collect();
    // Account 0 is the target's; the others are extra users.
    let accounts: Vec<String> = (0..mailboxes)
        .map(|i| match i {
            0 => Ok(target.user.clone()),
            i => target.extra_user(i),
        })
        .collect::<anyhow::Result<_>>()
        .expect("accounts");
    let metrics = || {
        nodes
            .iter()
            .map(|t| t.get("/metrics").expect("metrics").1)
            .collect::<Vec<_>>()
            .join("\n")
    };
    let before = metrics();
    let smtp: Vec<SocketAddr> = std::iter::once(target.smtp)
        .chain(others.iter().map(|t| t.addr("smtp")))
        .collect();
    let body = "y".repeat(1500) + "\r\n";
    let started = Instant::now();
    let tasks: Vec<_> = (0..SESSIONS)
        .map(|s| {
            let body = body.clone();
            let to = accounts[s % mailboxes].clone();
            let addr = smtp[s % smtp.len()];
            tokio::spawn(async move {
                let (mut c, _) = Client::connect(addr, None).await.expect("connect");
                c.expect("EHLO bench.test", 250).await.expect("ehlo");
                let mut acked = Vec::with_capacity(per_session);
                let mut latencies = Vec::with_capacity(per_session);
                for n in 0..per_session {
                    let id = format!("s{s}-{n}");
                    c.envelope("bench@remote.test", &to)
                        .await
                        .expect("envelope");
                    let m = message("bench@remote.test", &to, &id, &body);
                    let t = Instant::now();
                    c.send_raw(format!("{m}\r\n.\r\n").as_bytes())
                        .await
                        .expect("body");
                    let r = c.read().await.expect("reply");
                    if r.code == 250 {
                        acked.push((s % mailboxes, format!("<{id}@test>")));
                        latencies.push(t.elapsed());
                    } else {
                        eprintln!("{id}: {}", r.text);
                    }
                }
                let _ = c.cmd("QUIT").await;
                (acked, latencies)
            })
        })
        .collect();
    let mut acked = Vec::new();
    let mut latencies: Vec<Duration> = Vec::new();
    for t in tasks {
        let (a, l) = t.await.expect("session");
        acked.extend(a);
        latencies.extend(l);
    }
    let elapsed = started.elapsed().as_secs_f64();
    latencies.sort();
    let pct = |p: f64| {
        latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)].as_secs_f64()
            * 1000.0
    };
    let after = metrics();
    let delta =
        |name: &str| tern_tests::metric_sum(&after, name) - tern_tests::metric_sum(&before, name);
    let conflicts = delta("tern_store_conflicts_total");
    let group = delta("tern_store_group_commit_size_sum")
        / delta("tern_store_group_commit_size_count").max(1.0);
    println!(
        "{mailboxes} mailbox(es), {} node(s): {SESSIONS} sessions x {per_session} messages, {} acknowledged in {elapsed:.1} s ({:.0} msg/s); end of data to 250: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; store conflicts {conflicts} ({:.2} per message), mean group commit {group:.1} transactions",
        smtp.len(),
        acked.len(),
        acked.len() as f64 / elapsed,
        pct(0.5),
        pct(0.99),
        pct(1.0),
        conflicts / acked.len().max(1) as f64,
    );
    let mut ok = true;
    for (i, account) in accounts.iter().enumerate() {
        let acked: Vec<&String> = acked
            .iter()
            .filter(|(a, _)| *a == i)
            .map(|(_, id)| id)
            .collect();
        ok &= check(&target, account, &acked).await;
    }
    for other in others {
        other.stop().expect("stop");
    }
    target.stop().expect("stop");
    if !ok {
        eprintln!("LOST OR DUPLICATED MAIL");
        std::process::exit(1);
    }
}

/// Whether `account`'s INBOX holds every acknowledged Message-ID exactly once, with as many
/// messages as UIDs.
async fn check(target: &Target, account: &str, acked: &[&String]) -> bool {
    let mut c = target.imap_as(account).await.expect("session");
    let status = c
        .cmd("STATUS INBOX (MESSAGES UIDNEXT)")
        .await
        .expect("status");
    let messages: usize = status
        .untagged
        .iter()
        .find_map(|l| {
            let at = l.find("MESSAGES ")? + "MESSAGES ".len();
            l[at..].split([' ', ')']).next()?.parse().ok()
        })
        .expect("STATUS MESSAGES");
    let ids = c.message_ids("INBOX").await.expect("fetch");
    let search = c.cmd("UID SEARCH ALL").await.expect("search");
    let uids = search
        .lines("SEARCH")
        .first()
        .map_or(0, |l| l.split_whitespace().count().saturating_sub(1));
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for id in &ids {
        *seen.entry(id.as_str()).or_default() += 1;
    }
    let missing = acked
        .iter()
        .filter(|id| !seen.contains_key(id.as_str()))
        .count();
    let duplicated = seen.values().filter(|n| **n > 1).count();
    println!(
        "{account} INBOX: STATUS MESSAGES {messages}, UID SEARCH ALL {uids} UIDs, {} Message-IDs; acknowledged but missing {missing}, present more than once {duplicated}",
        ids.len()
    );
    let _ = c.cmd("LOGOUT").await;
    missing == 0 && duplicated == 0 && messages == uids && uids == acked.len()
}
