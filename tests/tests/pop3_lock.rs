//! The POP3 maildrop lock and the refusals around it: a second session gets `[IN-USE]`, the
//! lock of a node killed with SIGKILL expires on its own, clear-text logins are refused before
//! STLS, bad input gets specific `-ERR` replies, and failed logins are delayed.

use std::time::{Duration, Instant};

use tern_tests::{Tern, pop3::Client, smtp::tls_config};

const TOKEN: &str = "lock-token";
const PASSWORD: &str = "demo-password";
const IN_USE: &str =
    "-ERR [IN-USE] mailbox is locked by another POP3 session, try again when it ends";

fn env(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut env = vec![
        ("TERN_DEV_ADMIN_TOKEN", TOKEN),
        ("TERN_DEV_PASSWORD", PASSWORD),
    ];
    env.extend_from_slice(extra);
    env
}

#[tokio::test(flavor = "multi_thread")]
async fn second_session_gets_in_use_until_the_first_quits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tern = Tern::start(dir.path(), &["--dev"], &env(&[])).expect("tern");
    let tls = tls_config(&tern.certificate()).expect("tls");
    let (mut a, _) = Client::connect(tern.addr("pop3s"), Some(&tls))
        .await
        .expect("a");
    assert!(
        a.login("demo@example.test", PASSWORD)
            .await
            .expect("login")
            .starts_with("+OK Logged in")
    );
    let (mut b, _) = Client::connect(tern.addr("pop3s"), Some(&tls))
        .await
        .expect("b");
    assert_eq!(b.login("demo", PASSWORD).await.expect("login"), IN_USE);
    assert!(a.cmd("QUIT").await.expect("quit").starts_with("+OK"));
    assert!(
        b.login("demo", PASSWORD)
            .await
            .expect("login")
            .starts_with("+OK Logged in"),
        "free after QUIT"
    );
    let metrics = tern.get("/metrics").expect("metrics").1;
    assert!(
        metrics.contains("tern_pop3_lock_conflicts_total 1"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_nodes_lock_expires() {
    let dir = tempfile::tempdir().expect("tempdir");
    // The lease is renewed every half lease, so after the kill it runs at least 6 s more:
    // the restart and a login fit in that on a loaded machine.
    let extra = [("TERN_POP3__LOCK_LEASE_SECONDS", "12")];
    let tern = Tern::start(dir.path(), &["--dev"], &env(&extra)).expect("tern");
    let tls = tls_config(&tern.certificate()).expect("tls");
    let (mut a, _) = Client::connect(tern.addr("pop3s"), Some(&tls))
        .await
        .expect("a");
    assert!(
        a.login("demo", PASSWORD)
            .await
            .expect("login")
            .starts_with("+OK Logged in")
    );
    tern.kill();
    let killed = std::time::Instant::now();
    let tern = Tern::start(dir.path(), &["--dev"], &env(&extra)).expect("restart");
    let tls = tls_config(&tern.certificate()).expect("tls");
    let (mut b, _) = Client::connect(tern.addr("pop3s"), Some(&tls))
        .await
        .expect("b");
    let first = b.login("demo", PASSWORD).await.expect("login");
    let elapsed = killed.elapsed();
    if elapsed < Duration::from_secs(6) {
        assert_eq!(first, IN_USE, "the dead session's lease is still running");
    } else {
        eprintln!("restart and login took {elapsed:?}: the lease may have run out, not checked");
    }
    // The lease runs out on its own: a fresh session logs in, without any restart.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let (mut c, _) = Client::connect(tern.addr("pop3s"), Some(&tls))
            .await
            .expect("c");
        let r = c.login("demo", PASSWORD).await.expect("login");
        if r.starts_with("+OK Logged in") {
            break;
        }
        assert_eq!(r, IN_USE);
        assert!(
            std::time::Instant::now() < deadline,
            "the lease never expired"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn clear_text_bad_input_and_login_delays() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tern = Tern::start(
        dir.path(),
        &["--dev"],
        &env(&[("TERN_POP3__AUTH_FAILURE_DELAY_MS", "300")]),
    )
    .expect("tern");
    let tls = tls_config(&tern.certificate()).expect("tls");
    let (mut c, greeting) = Client::connect(tern.addr("pop3"), None)
        .await
        .expect("connect");
    assert!(greeting.starts_with("+OK"));
    let (status, capa) = c.multi("CAPA").await.expect("capa");
    assert!(
        status.starts_with("+OK")
            && capa.contains(&"STLS".to_string())
            && !capa.contains(&"USER".to_string()),
        "{capa:?}"
    );
    assert_eq!(
        c.cmd("USER demo").await.expect("user"),
        "-ERR [AUTH] Plain-text authentication is disabled on unencrypted connections; use STLS or port 995"
    );
    assert_eq!(
        c.cmd("AUTH PLAIN AGRlbW8AZGVtby1wYXNzd29yZA==")
            .await
            .expect("auth")
            .split(';')
            .next(),
        Some("-ERR [AUTH] Plain-text authentication is disabled on unencrypted connections")
    );
    assert_eq!(
        c.cmd(&format!("NOOP {}", "x".repeat(300)))
            .await
            .expect("long"),
        "-ERR Command line too long (at most 255 octets)"
    );
    assert_eq!(
        c.cmd("STAT").await.expect("stat"),
        "-ERR STAT is not allowed before login"
    );
    assert_eq!(
        c.cmd("XTND").await.expect("unknown"),
        "-ERR Unknown command XTND"
    );
    assert_eq!(
        c.cmd("APOP demo 0123").await.expect("apop"),
        "-ERR APOP is not supported; use USER/PASS or AUTH PLAIN over TLS"
    );
    let mut c = c.stls(&tls).await.expect("stls");
    let started = Instant::now();
    assert_eq!(
        c.login("demo", "wrong-1").await.expect("login"),
        "-ERR [AUTH] Authentication failed; log in with the full address"
    );
    assert_eq!(
        c.login("demo@example.test", "wrong-2")
            .await
            .expect("login"),
        "-ERR [AUTH] Authentication failed"
    );
    // Delays of 300 ms and 600 ms: failed logins cannot be hammered.
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "failed logins are delayed: {:?}",
        started.elapsed()
    );
    assert_eq!(
        c.login("demo", "wrong-3").await.expect("login"),
        "-ERR [AUTH] Too many authentication failures, closing connection"
    );
    assert!(c.closed().await);

    let (c2, _) = Client::connect(tern.addr("pop3"), None)
        .await
        .expect("connect");
    let mut c2 = c2.stls(&tls).await.expect("stls");
    assert!(
        c2.login("demo", PASSWORD)
            .await
            .expect("login")
            .starts_with("+OK")
    );
    assert_eq!(
        c2.cmd("RETR 1").await.expect("retr"),
        "-ERR no such message 1"
    );
    assert_eq!(
        c2.cmd("RETR 0").await.expect("retr"),
        "-ERR no such message 0"
    );
    assert_eq!(
        c2.cmd("TOP 1").await.expect("top"),
        "-ERR Invalid arguments: TOP needs a message number and a line count"
    );
    assert_eq!(
        c2.cmd("USER demo").await.expect("user"),
        "-ERR USER is not allowed after login"
    );
    assert_eq!(c2.cmd("STAT").await.expect("stat"), "+OK 0 0");
}

#[tokio::test(flavor = "multi_thread")]
async fn sasl_tls_ambiguity_and_limits() {
    let dir = tempfile::tempdir().expect("tempdir");
    let extra = [
        ("TERN_POP3__MAX_ERRORS", "3"),
        ("TERN_POP3__MAX_CONNECTIONS_PER_IP", "2"),
    ];
    let tern = Tern::start(dir.path(), &["--dev"], &env(&extra)).expect("tern");
    tern.api_send(
        TOKEN,
        "POST",
        "/domains",
        serde_json::json!({ "name": "second.test" }),
    )
    .expect("domain");
    tern.api_send(
        TOKEN,
        "POST",
        "/accounts",
        serde_json::json!({ "address": "demo@second.test", "password": "other-password" }),
    )
    .expect("account");
    let tls = tls_config(&tern.certificate()).expect("tls");
    let (mut c, _) = Client::connect(tern.addr("pop3s"), Some(&tls))
        .await
        .expect("connect");
    assert_eq!(
        c.cmd("STLS").await.expect("stls"),
        "-ERR TLS is already active"
    );
    assert_eq!(
        c.cmd("AUTH CRAM-MD5").await.expect("auth"),
        "-ERR Unsupported SASL mechanism (use PLAIN)"
    );
    assert_eq!(c.cmd("AUTH PLAIN").await.expect("auth"), "+ ");
    assert_eq!(
        c.cmd("*").await.expect("cancel"),
        "-ERR SASL authentication aborted"
    );
    // Three errors so far; the error limit closes the session.
    assert_eq!(
        c.login("demo", PASSWORD).await.expect("login"),
        "-ERR Too many errors, closing connection"
    );
    let (mut c, _) = Client::connect(tern.addr("pop3s"), Some(&tls))
        .await
        .expect("connect");
    let r = c.login("demo", PASSWORD).await.expect("login");
    assert!(
        r == "-ERR [AUTH] Authentication failed; log in with the full address",
        "{r}"
    );
    assert!(
        !r.contains('@'),
        "no address is named to an unauthenticated client: {r}"
    );
    assert!(
        c.login("demo@second.test", "other-password")
            .await
            .expect("login")
            .starts_with("+OK Logged in")
    );
    // Per-IP limit of 2: c and one more; the third is refused before any session.
    let (_second, g) = Client::connect(tern.addr("pop3"), None)
        .await
        .expect("second");
    assert!(g.starts_with("+OK"));
    let (mut third, g) = Client::connect(tern.addr("pop3"), None)
        .await
        .expect("third");
    assert_eq!(g, "-ERR [SYS/TEMP] Too many connections from your address");
    assert!(third.closed().await);
}
