//! The cluster under faults, with real `tern` processes on one PostgreSQL. A member cut off from
//! Raft both ways (its cluster port behind a gate the test cuts, its connections to the others
//! refused at their gates) while it delivers keeps reaching the
//! store, but once its shards moved it cannot commit an outcome on them — the owner epoch the
//! new owners wrote into the store refuses it, whether the member reads it in the write's own
//! transaction or in its next scan, while its Raft view still says it owns them — and the
//! survivors deliver the mail; healed, it is active again with its share.

use std::time::{Duration, Instant};

use tern_tests::{
    cluster::{PASSWORD, Scene, TOKEN, balanced, members, start_with, status, wait},
    gate::Gate,
    outbound,
    peer::Peer,
};

/// Waits up to `secs` for `check`, polling every 100 ms.
async fn until(secs: u64, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check() {
        assert!(Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_member_cut_off_from_raft_cannot_commit_on_shards_that_moved() {
    let scene = Scene::new(3);
    let (pg, cert_dir, dirs) = (&scene.pg, &scene.certs, &scene.dirs);
    // The remote server answers each message's end of data after 10 s: a delivery the cut-off
    // member started is still running when its shards move.
    let peer = Peer::start_slow("127.0.0.1:0", Duration::from_secs(10))
        .await
        .expect("peer");
    let relay = peer.addr.to_string();
    let gates: Vec<Gate> = (0..3).map(|_| Gate::open().expect("gate")).collect();
    // Each member is reached by the others only through its gate, and connects to them from
    // an address of its own.
    let source = |i: usize| std::net::IpAddr::from([127, 0, 0, 11 + i as u8]);
    let node = |i: usize, join: Option<&str>| {
        let advertise = gates[i].addr().to_string();
        let from = source(i).to_string();
        let env = [
            ("TERN_CLUSTER__ADVERTISE", advertise.as_str()),
            ("TERN_CLUSTER__SOURCE_ADDRESS", from.as_str()),
            ("TERN_QUEUE__RELAY_HOST", relay.as_str()),
            ("TERN_QUEUE__RELAY_TLS", "none"),
            ("TERN_QUEUE__SCAN_INTERVAL_MS", "100"),
            ("TERN_QUEUE__RETRY_INTERVALS_SECONDS", "1"),
            ("TERN_QUEUE__MAX_CONNECTIONS_PER_DESTINATION", "20"),
        ];
        let n = start_with(pg, dirs[i].path(), cert_dir, i as u64 + 1, join, &env);
        gates[i].forward_to(n.addr("cluster"));
        n
    };
    let n1 = node(0, None);
    let join = gates[0].addr().to_string();
    let nodes = [n1, node(1, Some(&join)), node(2, Some(&join))];
    wait(&nodes[0], 60, "three members with their shares", |s| {
        balanced(s, &[1, 2, 3])
    });

    // 30 messages to 30 domains: every member delivers some of them.
    let n1 = &nodes[0];
    let mut c = outbound::submission(n1.addr("submission"), &n1.certificate(), PASSWORD).await;
    let subjects: Vec<String> = (0..30).map(|i| format!("partition-{i}")).collect();
    for (i, subject) in subjects.iter().enumerate() {
        let rcpt = format!("user{i}@d{i}.test");
        outbound::send(&mut c, "<demo@example.test>", &[&rcpt], subject, "body\r\n").await;
    }
    let _ = c.cmd("QUIT").await;

    // A member that is not the leader is cut off from Raft, both ways, while it delivers.
    let mut victim = 0;
    until(30, "a follower delivers", || {
        let leader = status(&nodes[0])["leader"].as_u64();
        victim = (1..=3)
            .filter(|id| Some(*id as u64) != leader)
            .find(|id| nodes[id - 1].metric("tern_queue_deliveries_active") >= 1.0)
            .unwrap_or(0);
        victim != 0
    })
    .await;
    let cut = &nodes[victim - 1];
    let started = cut.metric("tern_queue_deliveries_active");
    for (i, gate) in gates.iter().enumerate() {
        if i == victim - 1 {
            gate.cut();
        } else {
            gate.refuse(source(victim - 1));
        }
    }
    let cut_at = Instant::now();
    let rest: Vec<u64> = (1..=3).filter(|id| *id != victim as u64).collect();
    let survivor = &nodes[rest[0] as usize - 1];
    let s = wait(survivor, 30, "the cut-off member's shards moved", |s| {
        balanced(s, &rest)
            && members(s)
                .iter()
                .any(|m| m["id"] == victim && m["state"] == "down" && m["shards"] == 0)
    });
    println!(
        "node {victim} cut off with {started} deliveries running; its shards moved after {} ms",
        cut_at.elapsed().as_millis()
    );
    assert!(
        s["leader"].as_u64() != Some(victim as u64),
        "the cut-off member leads: {s:#}"
    );

    // Its deliveries end after the move: the store refuses their outcomes.
    until(30, "the cut-off member's outcome refused", || {
        cut.metric("tern_queue_fenced_writes_total{write=\"attempt\"}") >= 1.0
    })
    .await;
    cut.wait_for_log("outcome not written", Duration::from_secs(5))
        .expect("the refusal is logged");
    // Not a wall-clock guess: the cut-off member still sees the old shard map (its Raft state
    // is stale), yet the store's epoch stopped it.
    let stale = status(cut);
    assert!(
        members(&stale)
            .iter()
            .any(|m| m["id"] == victim && m["state"] == "active"),
        "the cut-off member's own view should be stale: {stale:#}"
    );

    // The survivors deliver everything.
    let delivered = |subject: &str| peer.with_subject(subject);
    until(120, "every message delivered", || {
        subjects.iter().all(|s| delivered(s) > 0)
    })
    .await;

    // Healed: the member answers again, is active and takes its share back.
    gates.iter().for_each(Gate::mend);
    wait(survivor, 60, "the healed member has its share", |s| {
        balanced(s, &[1, 2, 3])
    });
    for n in &nodes {
        outbound::wait_queue_empty(n, TOKEN, 60).await;
    }
    // Counted once no queue holds anything more to send.
    let twice = subjects.iter().filter(|s| delivered(s) > 1).count();
    println!(
        "all 30 delivered; {twice} twice (sent by the cut-off member, whose outcome was refused)"
    );
    for n in nodes {
        n.stop().expect("clean stop");
    }
}
