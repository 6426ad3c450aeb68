//! SIGTERM drains a real `tern` within `server.shutdown_grace_seconds` (5 s here): `/readyz`
//! fails at once while the admin endpoint stays up, the listeners close, a message whose DATA
//! was under way is still accepted and survives the restart, then SMTP hears `421 4.3.2`, an
//! IDLE session `* BYE [UNAVAILABLE]` and POP3 `-ERR [SYS/TEMP]`; a delivery under way finishes
//! and its outcome is committed before the exit (not sent again after the restart), while one
//! stuck at a slow remote server does not hold the exit past the grace and is delivered after
//! the restart. In a cluster, a member stopped with SIGTERM hands its queue shards to the others
//! before it exits.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use tern_tests::{
    Tern,
    cluster::{Scene, balanced, members, start, wait},
    imap, outbound,
    peer::Peer,
    pop3, smtp,
};

const TOKEN: &str = "drain-token";
const PASSWORD: &str = "drain-password";
const USER: &str = "demo@example.test";
const GRACE: Duration = Duration::from_secs(5);

fn start_in(dir: &Path, extra: &[(&str, &str)]) -> Tern {
    let mut env = vec![
        ("TERN_DEV_ADMIN_TOKEN", TOKEN),
        ("TERN_DEV_PASSWORD", PASSWORD),
        ("TERN_SERVER__SHUTDOWN_GRACE_SECONDS", "5"),
    ];
    env.extend_from_slice(extra);
    Tern::start(dir, &["--dev"], &env).expect("tern starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_what_was_acknowledged_and_tells_every_client() {
    let dir = tempfile::tempdir().expect("tempdir");
    let t = start_in(dir.path(), &[]);
    let tls = smtp::tls_config(&t.certificate()).expect("tls");

    // A message half sent, an IDLE session, a POP3 session.
    let (mut s, _) = smtp::Client::connect(t.addr("smtp"), None)
        .await
        .expect("smtp");
    s.expect("EHLO drain.test", 250).await.expect("ehlo");
    s.expect("MAIL FROM:<a@remote.test>", 250)
        .await
        .expect("mail");
    s.expect(&format!("RCPT TO:<{USER}>"), 250)
        .await
        .expect("rcpt");
    s.expect("DATA", 354).await.expect("data");
    let message = smtp::message("a@remote.test", USER, "sent-while-draining", "body\r\n");
    let (first, rest) = message.split_at(message.len() / 2);
    s.send_raw(first.as_bytes()).await.expect("first half");
    let mut i = imap::session(&t, USER, PASSWORD).await;
    assert!(i.cmd("SELECT INBOX").await.expect("select").ok());
    i.send(b"i1 IDLE\r\n").await.expect("idle");
    assert!(i.line().await.expect("continuation").starts_with('+'));
    let (mut p, _) = pop3::Client::connect(t.addr("pop3s"), Some(&tls))
        .await
        .expect("pop3");
    let pass = p.login(USER, PASSWORD).await.expect("login");
    assert!(pass.starts_with("+OK"), "{pass}");

    let signalled = Instant::now();
    t.terminate().expect("SIGTERM");

    // Not ready from the first moment, while the admin endpoint still answers.
    let deadline = Instant::now() + GRACE;
    loop {
        let (code, body) = t
            .get("/readyz")
            .expect("the admin endpoint answers while draining");
        if code == 503 {
            assert_eq!(body.trim(), "draining");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "/readyz still {code} while draining"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // IDLE and POP3 are told.
    let bye = i.line().await.expect("BYE");
    assert!(bye.starts_with("* BYE [UNAVAILABLE]"), "{bye}");
    let told = p.line().await.expect("-ERR");
    assert!(told.starts_with("-ERR [SYS/TEMP]"), "{told}");
    // The message under way is accepted, then the session is told to come back later.
    s.send_raw(format!("{rest}\r\n.\r\n").as_bytes())
        .await
        .expect("rest");
    let accepted = s.read().await.expect("end of data");
    assert_eq!(accepted.code, 250, "{}", accepted.text);
    let bye = s.read().await.expect("421");
    assert!(
        bye.code == 421 && bye.text.contains("4.3.2"),
        "{}",
        bye.text
    );
    assert!(
        tokio::net::TcpStream::connect(t.addr("smtp"))
            .await
            .is_err(),
        "the SMTP listener is closed"
    );
    t.wait_stopped(GRACE + Duration::from_secs(3))
        .expect("exits within the grace");
    println!(
        "SIGTERM to exit: {} ms (grace {} s)",
        signalled.elapsed().as_millis(),
        GRACE.as_secs()
    );

    // Nothing acknowledged was lost.
    let t = start_in(dir.path(), &[]);
    let mut c = imap::session(&t, USER, PASSWORD).await;
    let ids = c.message_ids("INBOX").await.expect("ids");
    assert!(
        ids.iter().any(|id| id == "<sent-while-draining@test>"),
        "{ids:?}"
    );
    t.stop().expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_stuck_at_a_slow_server_does_not_hold_the_exit_and_is_retried() {
    let slow = Peer::start_slow("127.0.0.1:0", Duration::from_secs(60))
        .await
        .expect("slow peer");
    let dir = tempfile::tempdir().expect("tempdir");
    let env = relaying(&slow);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let t = start_in(dir.path(), &env);
    let mut c = outbound::submission(t.addr("submission"), &t.certificate(), PASSWORD).await;
    outbound::send(
        &mut c,
        "<demo@example.test>",
        &["someone@far.test"],
        "stuck-at-exit",
        "body\r\n",
    )
    .await;
    let _ = c.cmd("QUIT").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while slow.receiving.lock().expect("lock").0 == 0 {
        assert!(Instant::now() < deadline, "the delivery never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    t.terminate().expect("SIGTERM");
    let took = t
        .wait_stopped(GRACE + Duration::from_secs(3))
        .expect("exits within the grace");
    println!(
        "SIGTERM to exit with a delivery stuck: {} ms",
        took.as_millis()
    );

    // After the restart the message goes out (to a server that answers, this time).
    let fast = Peer::start("127.0.0.1:0").await.expect("peer");
    let env = relaying(&fast);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let t = start_in(dir.path(), &env);
    assert!(
        fast.wait_for("someone@far.test", 60).await.is_some(),
        "the message stuck at the exit was not delivered after the restart"
    );
    t.stop().expect("clean stop");
}

/// The queue settings of a node relaying everything to `relay`.
fn relaying(relay: &Peer) -> Vec<(&'static str, String)> {
    vec![
        ("TERN_QUEUE__RELAY_HOST", relay.addr.to_string()),
        ("TERN_QUEUE__RELAY_TLS", "none".to_string()),
        ("TERN_QUEUE__SCAN_INTERVAL_MS", "100".to_string()),
        ("TERN_QUEUE__RETRY_INTERVALS_SECONDS", "1".to_string()),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_under_way_finishes_within_the_grace_and_is_not_sent_again() {
    let peer = Peer::start_slow("127.0.0.1:0", Duration::from_secs(2))
        .await
        .expect("peer");
    let dir = tempfile::tempdir().expect("tempdir");
    let env = relaying(&peer);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let t = start_in(dir.path(), &env);
    let mut c = outbound::submission(t.addr("submission"), &t.certificate(), PASSWORD).await;
    outbound::send(
        &mut c,
        "<demo@example.test>",
        &["someone@far.test"],
        "finishes-in-grace",
        "body\r\n",
    )
    .await;
    let _ = c.cmd("QUIT").await;
    let deadline = Instant::now() + Duration::from_secs(30);
    while peer.receiving.lock().expect("lock").0 == 0 {
        assert!(Instant::now() < deadline, "the delivery never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    t.terminate().expect("SIGTERM");
    let took = t
        .wait_stopped(GRACE + Duration::from_secs(3))
        .expect("exits within the grace");
    println!(
        "SIGTERM to exit with a 2 s delivery under way: {} ms",
        took.as_millis()
    );
    assert_eq!(peer.with_subject("finishes-in-grace"), 1);
    // Its outcome was committed before the exit: nothing is left to send.
    let t = start_in(dir.path(), &env);
    let queue = t.api(TOKEN, "/queue").expect("queue");
    assert_eq!(
        queue["entries"].as_array().map(Vec::len),
        Some(0),
        "{queue}"
    );
    t.stop().expect("clean stop");
    assert_eq!(peer.with_subject("finishes-in-grace"), 1, "sent again");
}

#[test]
fn a_member_stopped_with_sigterm_hands_its_shards_off_first() {
    let scene = Scene::new(3);
    let (pg, certs, dirs) = (&scene.pg, &scene.certs, &scene.dirs);
    let n1 = start(pg, dirs[0].path(), certs, 1, None);
    let join = n1.addr("cluster").to_string();
    let n2 = start(pg, dirs[1].path(), certs, 2, Some(&join));
    let n3 = start(pg, dirs[2].path(), certs, 3, Some(&join));
    wait(&n1, 60, "three members with their shares", |s| {
        balanced(s, &[1, 2, 3])
    });
    let signalled = Instant::now();
    n3.terminate().expect("SIGTERM");
    // It drains itself (not taken over after down_after): it says it holds none any more...
    let line = n3
        .wait_for_log("queue shards handed off before stopping", GRACE)
        .expect("hand-off logged");
    assert!(line.contains("left=0"), "{line}");
    n3.wait_stopped(GRACE + Duration::from_secs(3))
        .expect("exits within the grace");
    println!(
        "node 3 handed its shards off and exited {} ms after SIGTERM",
        signalled.elapsed().as_millis()
    );
    // ...and the others own them all, with node 3 drained, not lost.
    let s = wait(&n1, 30, "every shard on nodes 1 and 2", |s| {
        balanced(s, &[1, 2])
    });
    let m3 = members(&s)
        .into_iter()
        .find(|m| m["id"] == 3)
        .expect("member 3");
    assert!(
        m3["shards"] == 0 && (m3["state"] == "draining" || m3["state"] == "down"),
        "{s:#}"
    );
    n1.stop().expect("clean stop");
    n2.stop().expect("clean stop");
}
