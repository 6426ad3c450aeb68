//! The outbound queue with more than one owner, on nodes started in-process so the test can
//! hand out their shards (the ownership input the cluster will drive): a shard moved between
//! two nodes is delivered by its new owner only; a node that was not told it lost a shard
//! (partitioned away) cannot commit on it, because the store's owner epoch fences it; a dead
//! destination actor is replaced without losing or repeating mail or stalling other domains;
//! the node-wide delivery cap holds; a different `queue.shards` is refused at start.

use std::{net::SocketAddr, path::Path, time::Duration};

use tern_server::queue::ownership::Shards;
use tern_store::{
    Db, blob,
    model::{
        now,
        queue::{
            self, Notify, QueueEntry, QueuedRecipient, RecipientStatus, ops,
            shard::{self, Owner},
        },
    },
    postgres::throwaway::TempPostgres,
};
use tern_tests::{
    inproc::{self, InProcess},
    peer::Peer,
};
use tokio::sync::watch;

const SHARDS: u16 = 64;
const WAIT: Duration = Duration::from_secs(30);

/// Queues `id` for `rcpt` (in `domain`) straight into the store, due now, from the null sender
/// (so no DSN is ever sent back).
async fn enqueue(db: &Db, id: &str, domain: &str) {
    let body = format!("Subject: {id}\r\nMessage-ID: <{id}@test>\r\n\r\n{id}\r\n");
    let staged = blob::stage(db, body.as_bytes()).await.expect("stage");
    let at = now();
    let entry = QueueEntry {
        id: id.into(),
        domain: domain.into(),
        shard: queue::shard_of(domain, SHARDS),
        sender: String::new(),
        recipients: vec![QueuedRecipient {
            address: format!("user@{domain}"),
            orcpt: None,
            notify: Notify(Notify::NEVER),
            status: RecipientStatus::Pending,
        }],
        blob: staged.id,
        skip: 0,
        size: body.len() as u64,
        envid: None,
        ret: None,
        smtputf8: false,
        body_8bit: false,
        submitted_by: None,
        created: at,
        next_attempt: at,
        attempts: 0,
        held: false,
        history: Vec::new(),
        delay_warnings: 0,
    };
    let (e, s) = (&entry, &staged);
    db.run(|tx| async move { queue::enqueue(&tx, e, s).await })
        .await
        .expect("enqueue");
}

/// Waits for `check` to hold, polling, up to [`WAIT`].
async fn until<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn owner(db: &Db, s: u16) -> Owner {
    db.run(|tx| async move { shard::owner(&tx, s).await })
        .await
        .expect("owner")
}

async fn queued(db: &Db, id: &str) -> bool {
    db.run(|tx| async move { ops::get(&tx, id).await })
        .await
        .expect("get")
        .is_some()
}

/// The EHLO names of the sessions that delivered message `id` to `peer`.
fn deliveries(peer: &Peer, id: &str) -> Vec<String> {
    let subject = format!("Subject: {id}\r\n");
    peer.messages()
        .into_iter()
        .filter(|m| m.data.contains(&subject))
        .map(|m| m.helo)
        .collect()
}

/// A domain name with `prefix` whose shard is `wanted` (or, with `None`, any shard but
/// `avoid`).
fn domain_in(prefix: &str, wanted: Option<u16>, avoid: u16) -> String {
    (0..10_000)
        .map(|i| format!("{prefix}{i}.test"))
        .find(|d| {
            let s = queue::shard_of(d, SHARDS);
            wanted.map_or(s != avoid, |w| s == w)
        })
        .expect("a domain in the shard")
}

/// A node on `pg` named `name` (`<name>.test`) with id `node_id`, sending each domain of
/// `routes` to its peer.
async fn pg_node(
    pg: &TempPostgres,
    dir: &Path,
    name: &str,
    node_id: u64,
    routes: &[(&str, SocketAddr)],
    scan_ms: u64,
    given: watch::Receiver<Shards>,
) -> InProcess {
    let mut raw = inproc::config(&dir.join(name)).expect("config");
    inproc::postgres(&mut raw, &pg.url());
    raw.server.hostname = format!("{name}.test");
    raw.cluster.node_id = node_id;
    raw.queue.scan_interval_ms = scan_ms;
    for (domain, addr) in routes {
        inproc::route(&mut raw, domain, *addr);
    }
    InProcess::start(raw, Some(given)).await.expect("node")
}

fn all_shards(epoch: i64) -> Shards {
    (0..SHARDS).map(|s| (s, epoch)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_moved_shard_is_delivered_by_its_new_owner_and_a_stale_owner_cannot_commit() {
    let pg = tokio::task::spawn_blocking(TempPostgres::start)
        .await
        .expect("join")
        .expect("postgres");
    let dir = tempfile::tempdir().expect("tempdir");
    let fast = Peer::start("127.0.0.1:0").await.expect("peer");
    let slow = Peer::start_slow("127.0.0.1:0", Duration::from_secs(3))
        .await
        .expect("slow peer");
    let moved = "moved.test";
    let s1 = queue::shard_of(moved, SHARDS);
    let stale = domain_in("stale", None, s1);
    let s2 = queue::shard_of(&stale, SHARDS);
    let routes = [(moved, fast.addr), (stale.as_str(), slow.addr)];

    // A is given every shard; B and C none yet. C scans only when its input changes (a
    // 60-second tick), like a node cut off from the cluster that nobody tells anything.
    let (give_a, given_a) = watch::channel(all_shards(1));
    let (give_b, given_b) = watch::channel(Shards::new());
    let (give_c, given_c) = watch::channel(Shards::new());
    let a = pg_node(&pg, dir.path(), "a", 1, &routes, 100, given_a).await;
    let b = pg_node(&pg, dir.path(), "b", 2, &routes, 100, given_b).await;
    let c = pg_node(&pg, dir.path(), "c", 3, &routes, 60_000, given_c).await;
    let db = a.queue.dir.db().clone();
    until("A claims every shard", || async {
        (0..SHARDS).all(|s| a.queue.held.epoch(s) == Some(1))
    })
    .await;
    assert_eq!(owner(&db, s1).await, Owner { epoch: 1, node: 1 });

    // A delivers while it holds the shard.
    enqueue(&db, "m1", moved).await;
    until("m1 delivered", || async {
        !deliveries(&fast, "m1").is_empty()
    })
    .await;
    assert_eq!(deliveries(&fast, "m1"), ["a.test"]);

    // The shard moves to B at a new epoch: A gives it up, B claims it, and B delivers.
    give_a.send_modify(|m| {
        m.remove(&s1);
    });
    give_b.send_modify(|m| {
        m.insert(s1, 2);
    });
    until("B owns the moved shard", || async {
        owner(&db, s1).await == Owner { epoch: 2, node: 2 } && a.queue.held.epoch(s1).is_none()
    })
    .await;
    enqueue(&db, "m2", moved).await;
    until("m2 delivered", || async {
        !deliveries(&fast, "m2").is_empty()
    })
    .await;
    until("m2 committed", || async { !queued(&db, "m2").await }).await;
    assert_eq!(deliveries(&fast, "m2"), ["b.test"], "only the new owner");

    // The second shard goes to C at epoch 2; C starts delivering m3 to the slow peer.
    give_a.send_modify(|m| {
        m.remove(&s2);
    });
    give_c.send_modify(|m| {
        m.insert(s2, 2);
    });
    until("C owns the second shard", || async {
        owner(&db, s2).await == Owner { epoch: 2, node: 3 }
    })
    .await;
    enqueue(&db, "m3", &stale).await;
    // C's next tick is a minute away: its input is published again (unchanged) to wake it.
    give_c.send_modify(|_| {});
    until("C is sending m3", || async {
        slow.receiving.lock().expect("lock").0 == 1
    })
    .await;
    // Meanwhile the cluster gives the shard back to A at epoch 3, and C is not told. A claims
    // it and sends m3 as well (C has not committed); C's commit, after the remote's 250, must
    // be refused by the store's owner epoch, and A's must stand.
    let fenced = r#"tern_queue_fenced_writes_total{write="attempt"}"#;
    let fenced_before = a.metric(fenced).await;
    give_a.send_modify(|m| {
        m.insert(s2, 3);
    });
    until("m3 committed", || async { !queued(&db, "m3").await }).await;
    until("both sessions ended", || async {
        deliveries(&slow, "m3").len() == 2
    })
    .await;
    let mut by = deliveries(&slow, "m3");
    by.sort();
    assert_eq!(by, ["a.test", "c.test"]);
    // C's attempt reached the store and was refused there (not merely skipped locally).
    until("C's attempt refused by the store", || async {
        a.metric(fenced).await == fenced_before + 1.0
    })
    .await;
    assert_eq!(owner(&db, s2).await, Owner { epoch: 3, node: 1 });
    assert_eq!(
        c.queue.held.epoch(s2),
        Some(2),
        "C was never told, yet committed nothing"
    );
    println!(
        "duplicates: m3 was sent twice (the stale owner's session ended after the remote 250 \
         and its commit was fenced); m1 and m2 once each"
    );
    for n in [a, b, c] {
        n.stop().await.expect("stop");
    }
}

/// A single node on the embedded store with each domain of `routes` sent to its peer.
async fn single(
    dir: &Path,
    routes: &[(&str, SocketAddr)],
    tune: impl Fn(&mut tern_server::config::raw::RawConfig),
) -> InProcess {
    let mut raw = inproc::config(dir).expect("config");
    for (domain, addr) in routes {
        inproc::route(&mut raw, domain, *addr);
    }
    tune(&mut raw);
    InProcess::start(raw, None).await.expect("node")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dead_destination_actor_is_replaced_without_losing_repeating_or_stalling_mail() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fast = Peer::start("127.0.0.1:0").await.expect("peer");
    let slow = Peer::start_slow("127.0.0.1:0", Duration::from_millis(1500))
        .await
        .expect("slow peer");
    let node = single(
        dir.path(),
        &[("slow.test", slow.addr), ("fast.test", fast.addr)],
        |raw| raw.queue.max_connections_per_destination = 1,
    )
    .await;
    let db = node.queue.dir.db().clone();
    for id in ["s1", "s2", "s3"] {
        enqueue(&db, id, "slow.test").await;
    }
    until("the slow destination is receiving", || async {
        slow.receiving.lock().expect("lock").0 == 1
    })
    .await;
    let prefix = node.queue.destination_actors("slow.test");
    let names: Vec<String> = ractor::registry::registered()
        .into_iter()
        .filter(|n| n.starts_with(&prefix))
        .collect();
    assert_eq!(names.len(), 1, "one actor for the destination: {names:?}");
    ractor::registry::where_is(names[0].clone())
        .expect("actor")
        .kill();
    // Other destinations are not held up, and the dead actor's mail is all delivered, once.
    enqueue(&db, "f1", "fast.test").await;
    until("f1 delivered", || async {
        !deliveries(&fast, "f1").is_empty()
    })
    .await;
    until("the slow mail delivered", || async {
        ["s1", "s2", "s3"]
            .iter()
            .all(|id| !deliveries(&slow, id).is_empty())
    })
    .await;
    for id in ["s1", "s2", "s3"] {
        until("committed", || async { !queued(&db, id).await }).await;
        assert_eq!(deliveries(&slow, id).len(), 1, "{id} delivered once");
    }
    assert_eq!(
        node.metric("tern_queue_destination_actor_failures_total")
            .await,
        1.0
    );
    node.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deliveries_never_exceed_the_node_wide_cap() {
    let dir = tempfile::tempdir().expect("tempdir");
    let slow = Peer::start_slow("127.0.0.1:0", Duration::from_millis(700))
        .await
        .expect("slow peer");
    let domains = ["d1.test", "d2.test", "d3.test"];
    let routes: Vec<(&str, SocketAddr)> = domains.iter().map(|d| (*d, slow.addr)).collect();
    let node = single(dir.path(), &routes, |raw| {
        raw.queue.max_concurrent_deliveries = 2;
    })
    .await;
    let db = node.queue.dir.db().clone();
    let mut ids = Vec::new();
    for d in domains {
        for i in 0..3 {
            let id = format!("{}-{i}", &d[..2]);
            enqueue(&db, &id, d).await;
            ids.push(id);
        }
    }
    until("every message delivered", || async {
        ids.iter().all(|id| deliveries(&slow, id).len() == 1)
    })
    .await;
    let most = slow.receiving.lock().expect("lock").1;
    assert_eq!(
        most, 2,
        "two deliveries at once at most, and the cap is used"
    );
    node.stop().await.expect("stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_different_shard_count_is_refused_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = single(dir.path(), &[], |_| {}).await;
    first.stop().await.expect("stop");
    let mut raw = inproc::config(dir.path()).expect("config");
    raw.queue.shards = 32;
    let err = InProcess::start(raw, None)
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(
        err.contains("queue.shards: 32 differs from the 64 shards"),
        "{err}"
    );
    // The stored count is what the node runs with: the original setting starts again.
    let again = single(dir.path(), &[], |_| {}).await;
    until("every shard held", || async {
        again.queue.held.all().len() == usize::from(SHARDS)
    })
    .await;
    again.stop().await.expect("stop");
}
