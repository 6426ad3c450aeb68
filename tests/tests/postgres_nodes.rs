//! Several `tern serve` processes on one PostgreSQL database: they accept SMTP for the same
//! account at once and IMAP on each sees every message exactly once, with unique, increasing
//! UIDs; a database lost while running turns SMTP into `451 4.3.0`, IMAP into
//! `NO [UNAVAILABLE]` and `/readyz` into 503, and the node recovers by itself when it returns;
//! an unreachable database at start fails with a message naming `store.postgres_url`; a backup
//! of a node on PostgreSQL restores into another database; IDLE and NOTIFY on one node hear
//! what another node does; a rate limit counts what every node saw; a login ban one node
//! started holds on the other.

use std::{collections::BTreeSet, process::Command, time::Duration};

use tern_store::postgres::throwaway::TempPostgres;
use tern_tests::{Tern, bin, imap, ok, pop3, smtp, ternctl};

const TOKEN: &str = "pg-token";
const PASSWORD: &str = "demo-password";

fn node(pg: &TempPostgres) -> (tempfile::TempDir, Tern) {
    node_with(pg, &[])
}

/// A node on `pg` with `extra` environment.
fn node_with(pg: &TempPostgres, extra: &[(&str, &str)]) -> (tempfile::TempDir, Tern) {
    let url = pg.url();
    let mut env = vec![
        ("TERN_STORE__BACKEND", "postgres"),
        ("TERN_STORE__POSTGRES_URL", url.as_str()),
    ];
    env.extend_from_slice(extra);
    Tern::dev(TOKEN, PASSWORD, &env)
}

/// `(uid, message-id)` of every message in INBOX, in the order FETCH returned them.
async fn uids_and_ids(c: &mut imap::Client) -> Vec<(u32, String)> {
    assert!(c.cmd("EXAMINE INBOX").await.expect("examine").ok());
    let r = c
        .cmd("UID FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
        .await
        .expect("fetch");
    assert!(r.ok(), "{}", r.all());
    r.untagged
        .iter()
        .filter_map(|l| {
            let uid = l
                .split("UID ")
                .nth(1)?
                .split(|c: char| !c.is_ascii_digit())
                .next()?;
            let at = l.to_ascii_lowercase().find("message-id:")?;
            let id = l[at + "message-id:".len()..].split_whitespace().next()?;
            Some((uid.parse().ok()?, id.trim_end_matches(')').to_string()))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn three_nodes_share_one_mailbox() {
    let pg = TempPostgres::start().expect("postgres");
    // One at a time: the first creates the schema and the dev fixtures, the others find them.
    let nodes: Vec<(tempfile::TempDir, Tern)> = (0..3).map(|_| node(&pg)).collect();
    let mut senders = Vec::new();
    for (n, (_, tern)) in nodes.iter().enumerate() {
        for task in 0..2 {
            let addr = tern.addr("smtp");
            senders.push(tokio::spawn(async move {
                let subjects: Vec<String> = (0..12).map(|i| format!("n{n}-t{task}-m{i}")).collect();
                let subjects: Vec<&str> = subjects.iter().map(String::as_str).collect();
                smtp::deliver(addr, "demo@example.test", &subjects).await
            }));
        }
    }
    for s in senders {
        s.await
            .expect("task")
            .expect("every message accepted with 250");
    }
    let expected: BTreeSet<String> = (0..3)
        .flat_map(|n| {
            (0..2).flat_map(move |t| (0..12).map(move |i| format!("<n{n}-t{t}-m{i}@test>")))
        })
        .collect();
    for (n, (_, tern)) in nodes.iter().enumerate() {
        let mut c = imap::session(tern, "demo", PASSWORD).await;
        let seen = uids_and_ids(&mut c).await;
        assert_eq!(
            seen.len(),
            expected.len(),
            "node {n} sees every message once"
        );
        let ids: BTreeSet<String> = seen.iter().map(|(_, id)| id.clone()).collect();
        assert_eq!(ids, expected, "node {n} sees exactly the messages sent");
        assert!(
            seen.windows(2).all(|w| w[0].0 < w[1].0),
            "node {n}: UIDs unique and increasing: {seen:?}"
        );
    }
    for (_, tern) in nodes {
        tern.stop().expect("clean stop");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn database_outage_and_recovery() {
    let pg = TempPostgres::start().expect("postgres");
    let (_dir, mut tern) = node(&pg);
    tern.expect_error("store");
    tern.expect_error("database");
    tern.expect_error("postgres");
    let mut logged_in = imap::session(&tern, "demo", PASSWORD).await;
    assert!(logged_in.cmd("SELECT INBOX").await.expect("select").ok());

    pg.stop().expect("stop postgres");

    // SMTP: a 4xx with 4.3.0, never a 250 for the message.
    let (mut c, _) = smtp::Client::connect(tern.addr("smtp"), None)
        .await
        .expect("connect");
    c.expect("EHLO feeder.test", 250).await.expect("ehlo");
    let mail = c.cmd("MAIL FROM:<feeder@remote.test>").await.expect("mail");
    let refused = if mail.code == 250 {
        c.cmd("RCPT TO:<demo@example.test>").await.expect("rcpt")
    } else {
        mail
    };
    assert_eq!(refused.code, 451, "{refused:?}");
    assert!(refused.text.contains("4.3.0"), "{refused:?}");

    // IMAP: the open session and a new login both get NO [UNAVAILABLE].
    let r = logged_in
        .cmd("STATUS INBOX (MESSAGES)")
        .await
        .expect("status");
    assert!(r.all().contains("NO [UNAVAILABLE]"), "{}", r.all());
    let tls = smtp::tls_config(&tern.certificate()).expect("tls");
    let (mut fresh, _) = imap::Client::connect(tern.addr("imaps"), Some(&tls))
        .await
        .expect("connect");
    let r = fresh.login("demo", PASSWORD).await.expect("login");
    assert!(r.all().contains("NO [UNAVAILABLE]"), "{}", r.all());

    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (status, _) = tern.get("/readyz").expect("readyz");
        if status == 503 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "/readyz stayed {status}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    pg.start_again().expect("start postgres again");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let (status, _) = tern.get("/readyz").expect("readyz");
        if status == 200 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "/readyz stayed {status}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    smtp::deliver(tern.addr("smtp"), "demo@example.test", &["after-outage"])
        .await
        .expect("delivery works again");
    let mut c = imap::session(&tern, "demo", PASSWORD).await;
    let seen = uids_and_ids(&mut c).await;
    let ids: Vec<&str> = seen.iter().map(|(_, id)| id.as_str()).collect();
    assert_eq!(
        ids,
        ["<after-outage@test>"],
        "only the message accepted after the outage"
    );
}

#[test]
fn unreachable_database_at_start_names_the_setting_and_host() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let dir = tempfile::tempdir().expect("tempdir");
    let out = Command::new(bin("tern"))
        .args(["serve", "--dev"])
        .current_dir(dir.path())
        .env("TERN_DEV_PASSWORD", PASSWORD)
        .env("TERN_DEV_ADMIN_TOKEN", TOKEN)
        .env("TERN_STORE__BACKEND", "postgres")
        .env(
            "TERN_STORE__POSTGRES_URL",
            format!("postgres://tern:hunter2@127.0.0.1:{port}/tern"),
        )
        .output()
        .expect("run tern");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("store.postgres_url") && stderr.contains(&format!("127.0.0.1:{port}")),
        "{stderr}"
    );
    assert!(
        !stderr.contains("hunter2"),
        "the password never appears: {stderr}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn backup_restores_into_another_database() {
    let (first, second) = (
        TempPostgres::start().expect("postgres"),
        TempPostgres::start().expect("postgres"),
    );
    let (_dir, tern) = node(&first);
    smtp::deliver(
        tern.addr("smtp"),
        "demo@example.test",
        &["kept-1", "kept-2"],
    )
    .await
    .expect("deliver");
    let backup = tempfile::tempdir().expect("tempdir");
    let to = backup.path().join("b");
    ok(&ternctl(
        &tern.url(),
        Some(TOKEN),
        &["backup", "--to", to.to_str().expect("utf8")],
    ));
    tern.stop().expect("clean stop");
    let out = ok(&ternctl(
        "http://127.0.0.1:9",
        None,
        &[
            "restore",
            "--from",
            to.to_str().expect("utf8"),
            "--postgres-url",
            &second.url(),
        ],
    ));
    assert!(out.contains("restored"), "{out}");
    let (_dir, restored) = node(&second);
    let mut c = imap::session(&restored, "demo", PASSWORD).await;
    let seen = uids_and_ids(&mut c).await;
    let ids: Vec<&str> = seen.iter().map(|(_, id)| id.as_str()).collect();
    assert_eq!(ids, ["<kept-1@test>", "<kept-2@test>"]);
}

/// Reads lines until one contains `needle`, up to `within`.
async fn line_with(c: &mut imap::Client, needle: &str, within: Duration) -> Option<String> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        if left.is_zero() {
            return None;
        }
        match c.line_within(left).await.expect("read") {
            Some(l) if l.contains(needle) => return Some(l),
            Some(_) => {}
            None => return None,
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_on_one_node_sees_what_another_node_does_and_pop3_locks_hold_across() {
    let pg = TempPostgres::start().expect("postgres");
    let (_a_dir, a) = node(&pg);
    let (_b_dir, b) = node(&pg);
    let mut idler = imap::session(&a, "demo", PASSWORD).await;
    let selected = idler.cmd("SELECT INBOX").await.expect("select");
    assert!(selected.ok(), "{}", selected.all());
    let mut exists: u32 = selected
        .untagged
        .iter()
        .find_map(|l| l.strip_suffix(" EXISTS")?.parse().ok())
        .expect("EXISTS");
    idler.send(b"i1 IDLE\r\n").await.expect("idle");
    assert!(idler.line().await.expect("continuation").starts_with('+'));

    // Deliveries through node B wake the IDLE session on node A.
    let mut waits = Vec::new();
    for i in 0..20 {
        let sent = std::time::Instant::now();
        smtp::deliver(
            b.addr("smtp"),
            "demo@example.test",
            &[&format!("cross-{i}")],
        )
        .await
        .expect("delivered on B");
        exists += 1;
        let line = line_with(
            &mut idler,
            &format!("* {exists} EXISTS"),
            Duration::from_secs(10),
        )
        .await;
        assert!(line.is_some(), "IDLE on A saw delivery {i} made on B");
        waits.push(sent.elapsed());
    }
    waits.sort();
    println!(
        "IDLE on A woken by SMTP on B: p50 {} ms, max {} ms over {} deliveries",
        waits[waits.len() / 2].as_millis(),
        waits[waits.len() - 1].as_millis(),
        waits.len()
    );

    // A flag set and an expunge on node B reach the IDLE session on node A too.
    let mut other = imap::session(&b, "demo", PASSWORD).await;
    assert!(other.cmd("SELECT INBOX").await.expect("select").ok());
    assert!(
        other
            .cmd(&format!("STORE {exists} +FLAGS (\\Flagged)"))
            .await
            .expect("store")
            .ok()
    );
    let flagged = line_with(&mut idler, "\\Flagged", Duration::from_secs(10)).await;
    assert!(flagged.is_some_and(|l| l.contains(&format!("* {exists} FETCH"))));
    assert!(
        other
            .cmd(&format!("STORE {exists} +FLAGS (\\Deleted)"))
            .await
            .expect("store")
            .ok()
    );
    assert!(other.cmd("EXPUNGE").await.expect("expunge").ok());
    assert!(
        line_with(
            &mut idler,
            &format!("* {exists} EXPUNGE"),
            Duration::from_secs(10)
        )
        .await
        .is_some(),
        "the expunge on B reached A"
    );
    idler.send(b"DONE\r\n").await.expect("done");
    assert!(idler.until("i1").await.expect("idle ends").ok());

    // POP3's maildrop lock holds across nodes.
    let tls_a = smtp::tls_config(&a.certificate()).expect("tls");
    let tls_b = smtp::tls_config(&b.certificate()).expect("tls");
    let (mut first, _) = pop3::Client::connect(a.addr("pop3s"), Some(&tls_a))
        .await
        .expect("pop3 on A");
    assert!(
        first
            .login("demo", PASSWORD)
            .await
            .expect("login")
            .starts_with("+OK")
    );
    let (mut second, _) = pop3::Client::connect(b.addr("pop3s"), Some(&tls_b))
        .await
        .expect("pop3 on B");
    let refused = second.login("demo", PASSWORD).await.expect("login");
    assert!(refused.starts_with("-ERR [IN-USE]"), "{refused}");
    assert!(first.cmd("QUIT").await.expect("quit").starts_with("+OK"));
    assert!(
        second
            .login("demo", PASSWORD)
            .await
            .expect("login")
            .starts_with("+OK"),
        "free once A's session quit"
    );
}

/// NOTIFY on node A hears of mail and new mailboxes made through node B (the store's watches
/// cross nodes).
#[tokio::test(flavor = "multi_thread")]
async fn notify_on_one_node_hears_another_node() {
    let pg = TempPostgres::start().expect("postgres");
    let (_a_dir, a) = node(&pg);
    let (_b_dir, b) = node(&pg);
    let mut follower = imap::session(&a, "demo", PASSWORD).await;
    assert!(follower.cmd("CREATE Lists").await.expect("create").ok());
    let set = follower
        .cmd("NOTIFY SET (personal (MessageNew MessageExpunge MailboxName))")
        .await
        .expect("notify");
    assert!(set.ok(), "{}", set.all());
    let mut other = imap::session(&b, "demo", PASSWORD).await;
    let appended = other
        .cmd_literal(
            "APPEND Lists",
            imap::message("Tue, 24 Nov 2026 09:00:00 +0000", "x").as_bytes(),
        )
        .await
        .expect("append");
    assert!(appended.ok(), "{}", appended.all());
    let status = line_with(&mut follower, "* STATUS Lists", Duration::from_secs(10)).await;
    assert!(
        status.as_deref().is_some_and(|l| l.contains("MESSAGES 1 ")),
        "{status:?}"
    );
    assert!(other.cmd("CREATE Projects").await.expect("create").ok());
    let list = line_with(&mut follower, "* LIST", Duration::from_secs(10)).await;
    assert_eq!(list.as_deref(), Some("* LIST () \"/\" Projects"));
    a.stop().expect("clean stop");
    b.stop().expect("clean stop");
}

/// Waits until `tern` has flushed its rate-limit counters (it then holds some in memory).
fn flushed(tern: &Tern) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while tern.metric("tern_limit_counters") < 1.0 {
        assert!(std::time::Instant::now() < deadline, "no flush within 20 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_counts_what_every_node_saw() {
    let pg = TempPostgres::start().expect("postgres");
    let limits = [
        ("TERN_SMTP__CHECKS__MX", "ip_lists,rate_limits"),
        (
            "TERN_SMTP__CHECKS__RATE_LIMITS__RULES",
            "ip connections 4/1h",
        ),
    ];
    let (_a_dir, a) = node_with(&pg, &limits);
    let (_b_dir, b) = node_with(&pg, &limits);
    let connect = |tern: &Tern| {
        let addr = tern.addr("smtp");
        async move {
            let (mut c, greeting) = smtp::Client::connect(addr, None).await.expect("connect");
            if greeting.code == 220 {
                c.expect("QUIT", 221).await.expect("quit");
            }
            greeting
        }
    };
    for _ in 0..3 {
        assert_eq!(connect(&a).await.code, 220);
    }
    flushed(&a);
    // B's first connection is within its own count; flushing it, B reads A's three.
    assert_eq!(connect(&b).await.code, 220);
    flushed(&b);
    let refused = connect(&b).await;
    assert_eq!(
        refused.text,
        "421 4.7.0 127.0.0.1 reached the rate limit \"ip connections 4/1h\"; try again later",
        "B's second connection is the fifth of the cluster"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_ban_started_on_one_node_holds_on_the_other() {
    let pg = TempPostgres::start().expect("postgres");
    let security = [("TERN_SECURITY__IP_BAN_AFTER", "3")];
    let (_a_dir, a) = node_with(&pg, &security);
    let (_b_dir, b) = node_with(&pg, &security);
    let login = |tern: &Tern, password: &'static str| {
        let (addr, cert) = (tern.addr("pop3s"), tern.certificate());
        async move {
            let tls = smtp::tls_config(&cert).expect("tls config");
            let (mut p, _) = pop3::Client::connect(addr, Some(&tls))
                .await
                .expect("connect");
            p.login("demo@example.test", password).await.expect("login")
        }
    };
    for _ in 0..3 {
        let r = login(&a, "wrong-password").await;
        assert!(r.starts_with("-ERR [AUTH]"), "{r}");
    }
    let banned = "-ERR [AUTH] too many failed logins from 127.0.0.1; try again in 15 minutes";
    assert_eq!(login(&a, PASSWORD).await, banned);
    assert_eq!(
        login(&b, PASSWORD).await,
        banned,
        "B refuses the address A banned, right password and all"
    );
    a.stop().expect("clean stop");
    b.stop().expect("clean stop");
}
