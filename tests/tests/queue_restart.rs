//! Restart safety of the outbound queue: 1 000 messages are queued for a slow peer, the node is
//! killed with SIGKILL while delivering, and restarted on the same data. Every message arrives;
//! only messages in flight at the kill (at most one per connection) may arrive twice.

use std::{collections::BTreeMap, time::Duration};

use tern_tests::{
    Tern,
    dns::{self, Rr},
    outbound::submission,
    peer::Peer,
    smtp,
};

const TOTAL: usize = 1000;
const CONNECTIONS: &str = "4";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn queued_mail_survives_kill_9_and_is_delivered_once() {
    let peer = Peer::start_slow("127.0.0.2:0", Duration::from_millis(15))
        .await
        .expect("peer");
    let dns = dns::serve(
        "test.",
        &[
            Rr::Mx("remote.test.", 10, "mx.remote.test."),
            Rr::A("mx.remote.test.", [127, 0, 0, 2]),
        ],
    )
    .await
    .expect("dns")
    .addr
    .to_string();
    let port = peer.addr.port().to_string();
    let env = [
        ("TERN_DEV_ADMIN_TOKEN", "restart-token"),
        ("TERN_DEV_PASSWORD", "restart-password"),
        ("TERN_QUEUE__DNS_SERVER", dns.as_str()),
        ("TERN_QUEUE__REMOTE_PORT", port.as_str()),
        ("TERN_QUEUE__SCAN_INTERVAL_MS", "100"),
        ("TERN_QUEUE__RETRY_INTERVALS_SECONDS", "1"),
        ("TERN_QUEUE__MAX_CONNECTIONS_PER_DESTINATION", CONNECTIONS),
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    let tern = Tern::start(dir.path(), &["--dev"], &env).expect("tern");

    // Queue everything over one authenticated submission session.
    let mut c = submission(
        tern.addr("submission"),
        &tern.certificate(),
        "restart-password",
    )
    .await;
    for i in 0..TOTAL {
        c.expect("MAIL FROM:<demo@example.test>", 250)
            .await
            .expect("mail");
        c.expect(&format!("RCPT TO:<n{i}@remote.test>"), 250)
            .await
            .expect("rcpt");
        let m = smtp::message(
            "demo@example.test",
            "x@remote.test",
            &format!("msg-{i}"),
            "x\r\n",
        );
        assert_eq!(c.data(&m).await.expect("data").code, 250);
    }
    let _ = c.cmd("QUIT").await;

    // Kill while the slow peer is part way through.
    let mut waited = 0;
    while peer.messages().len() < TOTAL / 5 && waited < 600 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        waited += 1;
    }
    let before_kill = peer.messages().len();
    assert!(before_kill < TOTAL, "the kill must happen mid-delivery");
    tern.kill();
    let tern = Tern::start(dir.path(), &["--dev"], &env).expect("tern restarts");

    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for _ in 0..1800 {
        counts.clear();
        for m in peer.messages() {
            for r in m.rcpts {
                *counts.entry(r).or_default() += 1;
            }
        }
        if counts.len() == TOTAL {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let missing: Vec<String> = (0..TOTAL)
        .map(|i| format!("n{i}@remote.test"))
        .filter(|a| !counts.contains_key(a))
        .collect();
    assert!(missing.is_empty(), "never delivered: {missing:?}");
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    println!(
        "restart safety: {TOTAL} queued, {before_kill} delivered before SIGKILL, {} delivered twice: {twice:?}",
        twice.len()
    );
    let connections: usize = CONNECTIONS.parse().expect("number");
    assert!(
        twice.len() <= connections,
        "only messages in flight (one per connection) may be delivered twice: {twice:?}"
    );
    assert!(twice.iter().all(|(_, n)| **n == 2));
    tern.stop().expect("stop");
}
