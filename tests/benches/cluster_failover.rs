//! Cluster benchmark on one throwaway PostgreSQL and release `tern` nodes: the time until a
//! killed member's queue shards are owned again (p50/p99/max over TERN_BENCH_KILLS kills, 20 by
//! default: three of four kill a follower, every fourth the leader; the member is restarted
//! and its share given back before the next kill), then SMTP ingest through 1, 2 and 3 nodes
//! (20 sessions spread over the nodes, 4 KiB messages to 20 local users, TERN_BENCH_SECONDS
//! each, 10 by default). Figures only: nothing here is a threshold.
//! Run: `cargo bench -p tern-tests --bench cluster_failover`.

use std::time::{Duration, Instant};

use serde_json::json;
use tern_tests::{
    Tern,
    bench::env_or,
    cluster::{Scene, TOKEN, balanced, members, start, status, wait},
    smtp::{Client, message},
};

const SESSIONS: usize = 20;

fn summary(label: &str, mut times: Vec<Duration>) {
    if times.is_empty() {
        return;
    }
    times.sort();
    let pct = |p: f64| times[((times.len() as f64 * p) as usize).min(times.len() - 1)].as_millis();
    println!(
        "{label}: {} kills, shards owned again after p50 {} ms, p99 {} ms, max {} ms",
        times.len(),
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
}

/// Accepted messages per second through the SMTP ports of `nodes` for `seconds`.
async fn ingest(nodes: &[&Tern], seconds: u64) -> (usize, f64) {
    let addrs: Vec<_> = nodes.iter().map(|n| n.addr("smtp")).collect();
    let body = "x".repeat(4096 - 200);
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let tasks: Vec<_> = (0..SESSIONS)
        .map(|i| {
            let (addr, body) = (addrs[i % addrs.len()], body.clone());
            tokio::spawn(async move {
                let (mut c, _) = Client::connect(addr, None).await.expect("connect");
                c.expect("EHLO bench.test", 250).await.expect("ehlo");
                let to = format!("user{i}@example.test");
                let mut n = 0usize;
                while Instant::now() < deadline {
                    c.envelope("bench@remote.test", &to)
                        .await
                        .expect("envelope");
                    let msg = message("bench@remote.test", &to, &format!("b-{i}-{n}"), &body);
                    c.send_raw(format!("{msg}\r\n.\r\n").as_bytes())
                        .await
                        .expect("body");
                    let r = c.read().await.expect("reply");
                    assert_eq!(r.code, 250, "{}", r.text);
                    n += 1;
                }
                let _ = c.cmd("QUIT").await;
                n
            })
        })
        .collect();
    let mut total = 0;
    for t in tasks {
        total += t.await.expect("session");
    }
    (total, total as f64 / started.elapsed().as_secs_f64())
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let kills = env_or("TERN_BENCH_KILLS", 20);
    let seconds = tern_tests::bench::seconds();
    let scene = Scene::new(3);
    let (pg, cert_dir, dirs) = (&scene.pg, &scene.certs, &scene.dirs);
    let first = start(pg, dirs[0].path(), cert_dir, 1, None);
    let join = first.addr("cluster").to_string();
    let mut nodes: Vec<Option<Tern>> = vec![Some(first)];
    for id in 2..=3u64 {
        nodes.push(Some(start(
            pg,
            dirs[id as usize - 1].path(),
            cert_dir,
            id,
            Some(&join),
        )));
    }
    let any = |nodes: &[Option<Tern>]| nodes.iter().position(Option::is_some).expect("a node");
    wait(nodes[0].as_ref().expect("node 1"), 60, "formed", |s| {
        balanced(s, &[1, 2, 3])
    });

    let (mut follower, mut leader_kills) = (Vec::new(), Vec::new());
    for i in 0..kills {
        let at = any(&nodes);
        let s = status(nodes[at].as_ref().expect("alive"));
        let leader = s["leader"].as_u64().expect("leader");
        let victim = if i % 4 == 3 {
            leader
        } else {
            (1..=3u64).find(|id| *id != leader).expect("a follower")
        };
        let killed = Instant::now();
        nodes[victim as usize - 1].take().expect("victim").kill();
        let rest: Vec<u64> = (1..=3).filter(|id| *id != victim).collect();
        let at = any(&nodes);
        wait(nodes[at].as_ref().expect("alive"), 60, "taken over", |s| {
            balanced(s, &rest)
                && members(s)
                    .iter()
                    .any(|m| m["id"] == victim && m["shards"] == 0)
        });
        let took = killed.elapsed();
        eprintln!(
            "kill {}: node {victim} ({}) taken over in {} ms",
            i + 1,
            if victim == leader {
                "leader"
            } else {
                "follower"
            },
            took.as_millis()
        );
        if victim == leader {
            leader_kills.push(took);
        } else {
            follower.push(took);
        }
        nodes[victim as usize - 1] = Some(start(
            pg,
            dirs[victim as usize - 1].path(),
            cert_dir,
            victim,
            None,
        ));
        wait(nodes[at].as_ref().expect("alive"), 60, "back", |s| {
            balanced(s, &[1, 2, 3])
        });
    }
    println!("cluster failover, 3 nodes on PostgreSQL, down_after 3000 ms, heartbeat 250 ms");
    summary("follower killed", follower);
    summary("leader killed", leader_kills);

    let n1 = nodes[0].as_ref().expect("node 1");
    for i in 0..SESSIONS {
        n1.api_send(
            TOKEN,
            "POST",
            "/accounts",
            json!({ "address": format!("user{i}@example.test"), "password": "bench-password" }),
        )
        .expect("account");
    }
    for count in 1..=3usize {
        let through: Vec<&Tern> = nodes.iter().flatten().take(count).collect();
        let (n, rate) = ingest(&through, seconds).await;
        println!(
            "SMTP ingest through {count} node(s): {n} messages in {seconds}s, {rate:.0} msg/s \
             ({SESSIONS} sessions, 4 KiB, one PostgreSQL)"
        );
    }
    for n in nodes.into_iter().flatten() {
        n.stop().expect("stop");
    }
}
