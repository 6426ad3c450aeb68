//! The cluster with real `tern` processes on one PostgreSQL: three nodes form a Raft cluster
//! over mutually authenticated TLS (certificates from `ternctl cluster certs`), `ternctl
//! cluster status` shows them with the queue shards balanced; a member killed with SIGKILL is
//! marked down and its shards move to the survivors; it comes back and takes its share again;
//! the leader killed, the survivors elect another and no shard is left without an owner; the
//! old leader restarted on other ports is back with its share. A
//! node with a certificate from another CA is refused at the TLS handshake (logged, counted),
//! and a node id already in use is refused; `ternctl cluster drain` empties a member of shards
//! (not the last one) and `leave` removes it. `--cluster-init` starts a cluster on a node whose
//! join list names members. With mail queued, a killed member's mail is
//! delivered by the survivors.

use std::time::{Duration, Instant};

use tern_store::postgres::throwaway::TempPostgres;
use tern_tests::{
    cluster::{
        PASSWORD, Scene, TOKEN, balanced, certs, launch, members, start, start_with, status, wait,
    },
    err, ok, outbound,
    peer::Peer,
    ternctl,
};

#[test]
fn three_nodes_form_a_cluster_survive_kills_and_balance_shards() {
    let scene = Scene::new(3);
    let (pg, cert_dir, dirs) = (&scene.pg, &scene.certs, &scene.dirs);
    let n1 = start(pg, dirs[0].path(), cert_dir, 1, None);
    let join = n1.addr("cluster").to_string();
    let n2 = start(pg, dirs[1].path(), cert_dir, 2, Some(&join));
    let n3 = start(pg, dirs[2].path(), cert_dir, 3, Some(&join));
    let s = wait(&n1, 60, "three members with their shares", |s| {
        balanced(s, &[1, 2, 3])
            && members(s)
                .iter()
                .filter(|m| m["role"] == "leader" || m["role"] == "voter")
                .count()
                == 3
    });
    println!("formed: {s:#}");
    // An entry is committed before it is applied.
    let index = |k: &str| s[k].as_u64().unwrap_or(0);
    assert!(
        index("commit_index") >= index("applied_index") && index("applied_index") > 0,
        "{s:#}"
    );
    let table = ok(&ternctl(&n2.url(), Some(TOKEN), &["cluster", "status"]));
    assert!(
        table.contains("leader")
            && table.contains("voter")
            && table.contains("committed")
            && table.lines().count() >= 5,
        "{table}"
    );

    // kill -9 of a member that is not the leader: marked down, its shards move.
    let leader = s["leader"].as_u64().expect("leader");
    let mut nodes = vec![Some(n1), Some(n2), Some(n3)];
    let victim = (1..=3u64).find(|id| *id != leader).expect("a follower");
    let killed_at = Instant::now();
    nodes[victim as usize - 1].take().expect("node").kill();
    let alive = nodes.iter().position(Option::is_some).expect("a survivor");
    let rest: Vec<u64> = (1..=3).filter(|id| *id != victim).collect();
    wait(
        nodes[alive].as_ref().expect("alive"),
        30,
        "the dead member's shards moved",
        |s| {
            balanced(s, &rest)
                && members(s)
                    .iter()
                    .any(|m| m["id"] == victim && m["state"] == "down" && m["shards"] == 0)
        },
    );
    println!(
        "follower {victim} killed: its shards owned again after {} ms",
        killed_at.elapsed().as_millis()
    );

    // It comes back (same data directory, so same Raft log): active again, with its share.
    nodes[victim as usize - 1] = Some(start(
        pg,
        dirs[victim as usize - 1].path(),
        cert_dir,
        victim,
        None,
    ));
    let s = wait(
        nodes[alive].as_ref().expect("alive"),
        60,
        "the member is back with its share",
        |s| balanced(s, &[1, 2, 3]),
    );

    // kill -9 of the leader: the others elect a new one and take its shards.
    let leader = s["leader"].as_u64().expect("leader");
    let killed_at = Instant::now();
    nodes[leader as usize - 1].take().expect("leader").kill();
    let survivor = nodes.iter().flatten().next().expect("a survivor");
    let rest: Vec<u64> = (1..=3).filter(|id| *id != leader).collect();
    let s = wait(survivor, 30, "a new leader, every shard owned", |s| {
        s["leader"].as_u64().is_some_and(|l| l != leader) && balanced(s, &rest)
    });
    println!(
        "leader {leader} killed: new leader {} and its shards owned after {} ms",
        s["leader"],
        killed_at.elapsed().as_millis()
    );

    // It comes back on other ports: it resumes leading its old term at start, loses it to the
    // newer one, and must still get its new addresses to the others (through them, since the
    // change it made itself can commit only once the new leader reaches it).
    nodes[leader as usize - 1] = Some(start(
        pg,
        dirs[leader as usize - 1].path(),
        cert_dir,
        leader,
        None,
    ));
    let survivor = nodes
        .iter()
        .enumerate()
        .find_map(|(i, n)| n.as_ref().filter(|_| i != leader as usize - 1))
        .expect("a survivor");
    wait(survivor, 60, "the old leader is back with its share", |s| {
        balanced(s, &[1, 2, 3])
    });
    for n in nodes.into_iter().flatten() {
        n.stop().expect("clean stop");
    }
}

#[test]
fn a_foreign_certificate_and_a_node_id_in_use_are_refused() {
    let pg = &TempPostgres::start().expect("postgres");
    let scratch = tempfile::tempdir().expect("tempdir");
    let ours = scratch.path().join("ours");
    let theirs = scratch.path().join("theirs");
    certs(&ours, &["1", "2"]);
    certs(&theirs, &["3"]);
    let dirs: Vec<_> = (0..3)
        .map(|_| tempfile::tempdir().expect("tempdir"))
        .collect();
    // --cluster-init: node 1 starts a cluster although its join list names a member (one that
    // does not exist, here).
    let mut n1 = launch(
        pg,
        dirs[0].path(),
        &ours,
        1,
        Some("127.0.0.1:9"),
        &[],
        &["--cluster-init"],
    );
    n1.expect_error("TLS handshake refused");
    n1.expect_error("node id already in use");
    let join = n1.addr("cluster").to_string();
    wait(&n1, 30, "a one-node cluster", |s| balanced(s, &[1]));

    // Another CA's certificate: refused at the handshake, logged with the peer, counted.
    let mut foreign = start(pg, dirs[1].path(), &theirs, 3, Some(&join));
    foreign.expect_error("");
    n1.wait_for_log("TLS handshake refused", Duration::from_secs(30))
        .expect("refusal logged");
    let refused = n1.metric("tern_cluster_tls_failures_total");
    assert!(refused >= 1.0, "{refused}");
    assert_eq!(status(&n1)["members"].as_array().map(Vec::len), Some(1));
    foreign.kill();

    // Node id 2 is taken by a live member: another node claiming it is refused.
    let twin = start(pg, dirs[2].path(), &ours, 2, Some(&join));
    wait(&n1, 30, "node 2 joins", |s| balanced(s, &[1, 2]));
    let clash_dir = tempfile::tempdir().expect("tempdir");
    let mut clash = start(pg, clash_dir.path(), &ours, 2, Some(&join));
    clash.expect_error("");
    clash
        .wait_for_log("already in use", Duration::from_secs(30))
        .expect("the joining node is told");
    clash.kill();
    assert!(balanced(&status(&n1), &[1, 2]), "the cluster is unchanged");

    // Drain: node 2 hands its shards to node 1, and ternctl says when it can be stopped.
    let ctl = |args: &[&str]| ternctl(&twin.url(), Some(TOKEN), args);
    let drained = ok(&ctl(&["cluster", "drain", "2"]));
    assert!(drained.contains("node 2 is drained"), "{drained}");
    let s = status(&n1);
    let m2 = members(&s)
        .into_iter()
        .find(|m| m["id"] == 2)
        .expect("member 2");
    assert_eq!(
        (m2["state"].as_str(), m2["shards"].as_u64()),
        (Some("draining"), Some(0))
    );
    // The last active member cannot be drained: its shards would have nowhere to go.
    let refused = err(&ctl(&["cluster", "drain", "1"]));
    assert!(refused.contains("last active member"), "{refused}");
    // Leave: node 2 is gone from the members.
    assert!(ok(&ctl(&["cluster", "leave", "2"])).contains("left the cluster"));
    let s = wait(&n1, 30, "one member left", |s| members(s).len() == 1);
    assert!(balanced(&s, &[1]), "{s}");
    twin.kill();
    n1.stop().expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dead_nodes_queued_mail_is_delivered_by_the_survivors() {
    let scene = Scene::new(3);
    let (pg, cert_dir, dirs) = (&scene.pg, &scene.certs, &scene.dirs);
    // Every message goes to one slow remote server (a relay host), 400 ms per message.
    let peer = Peer::start_slow("127.0.0.1:0", Duration::from_millis(400))
        .await
        .expect("peer");
    let relay = peer.addr.to_string();
    let queue_env = [
        ("TERN_QUEUE__RELAY_HOST", relay.as_str()),
        ("TERN_QUEUE__RELAY_TLS", "none"),
        ("TERN_QUEUE__SCAN_INTERVAL_MS", "100"),
        ("TERN_QUEUE__RETRY_INTERVALS_SECONDS", "1"),
        ("TERN_QUEUE__MAX_CONNECTIONS_PER_DESTINATION", "2"),
    ];
    let n1 = start_with(pg, dirs[0].path(), cert_dir, 1, None, &queue_env);
    let join = n1.addr("cluster").to_string();
    let n2 = start_with(pg, dirs[1].path(), cert_dir, 2, Some(&join), &queue_env);
    let n3 = start_with(pg, dirs[2].path(), cert_dir, 3, Some(&join), &queue_env);
    let s = wait(&n1, 60, "three members with their shares", |s| {
        balanced(s, &[1, 2, 3])
    });
    let leader = s["leader"].as_u64().expect("leader");

    // 60 messages to 30 domains, spread over the shards of all three nodes.
    let mut c = outbound::submission(n1.addr("submission"), &n1.certificate(), PASSWORD).await;
    let subjects: Vec<String> = (0..60).map(|i| format!("failover-{i}")).collect();
    for (i, subject) in subjects.iter().enumerate() {
        let rcpt = format!("user{i}@d{}.test", i % 30);
        outbound::send(&mut c, "<demo@example.test>", &[&rcpt], subject, "body\r\n").await;
    }
    let _ = c.cmd("QUIT").await;

    // Once deliveries run, a member that is not the leader is killed.
    let deadline = Instant::now() + Duration::from_secs(30);
    while peer.messages().len() < 5 {
        assert!(Instant::now() < deadline, "deliveries did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let victim = (1..=3u64).find(|id| *id != leader).expect("a follower");
    let mut nodes = vec![Some(n1), Some(n2), Some(n3)];
    let before = peer.messages().len();
    let killed_at = Instant::now();
    nodes[victim as usize - 1].take().expect("node").kill();

    // Every accepted message arrives; count the ones that arrived twice.
    let deadline = Instant::now() + Duration::from_secs(120);
    let delivered = |subject: &str| peer.with_subject(subject);
    while subjects.iter().any(|s| delivered(s) == 0) {
        assert!(
            Instant::now() < deadline,
            "not delivered: {:?}",
            subjects
                .iter()
                .filter(|s| delivered(s) == 0)
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let all_in = killed_at.elapsed().as_millis();
    for n in nodes.iter().flatten() {
        outbound::wait_queue_empty(n, TOKEN, 60).await;
    }
    // Counted once no queue holds anything more to send.
    let duplicates = subjects.iter().filter(|s| delivered(s) > 1).count();
    println!(
        "node {victim} killed after {before} deliveries: all 60 delivered {all_in} ms later, \
         {duplicates} delivered twice (sent by the dead node, which died before committing the \
         outcome)"
    );
    for n in nodes.into_iter().flatten() {
        n.stop().expect("clean stop");
    }
}
