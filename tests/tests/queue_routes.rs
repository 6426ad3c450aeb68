//! Outbound routes and notifications end to end: a static route to a second `tern` as smarthost
//! (STARTTLS required, AUTH PLAIN), the archive copy, delay warnings and lifetime expiry (also
//! while the destination is suspended), retry-now clearing a suspension, and DSN NOTIFY
//! (SUCCESS, NEVER) with ENVID and ORCPT carried into the report.

use std::time::Duration;

use tern_tests::{
    Tern, ok,
    outbound::{PASSWORD, Remote, inbox, submission, submit, wait_inbox, wait_queue_empty},
    smtp, ternctl,
};

const TOKEN: &str = "routes-token";

fn start(remote: &Remote, extra: &[(&str, &str)], args: &[&str]) -> (tempfile::TempDir, Tern) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut env: Vec<(String, String)> = remote.queue_env();
    env.push(("TERN_DEV_ADMIN_TOKEN".into(), TOKEN.into()));
    env.push(("TERN_DEV_PASSWORD".into(), PASSWORD.into()));
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut all = vec!["--dev"];
    all.extend_from_slice(args);
    let tern = Tern::start(dir.path(), &all, &env).expect("tern starts");
    (dir, tern)
}

#[tokio::test(flavor = "multi_thread")]
async fn static_route_through_a_second_tern_with_starttls_and_auth() {
    let remote = Remote::start().await;
    // B: a Tern that delivers into the remote world.
    let (_b_dir, b) = start(&remote, &[], &[]);
    // A: routes remote.test through B's submission port, STARTTLS required, AUTH as demo.
    let cfg_dir = tempfile::tempdir().expect("tempdir");
    let cfg = cfg_dir.path().join("a.toml");
    std::fs::write(
        &cfg,
        format!(
            "[queue.routes.\"remote.test\"]\nhost = \"{}\"\ntls = \"starttls\"\nusername = \"demo@example.test\"\npassword = \"{PASSWORD}\"\nretry_intervals_seconds = \"1\"\n",
            b.addr("submission")
        ),
    )
    .expect("config");
    let (_a_dir, a) = start(&remote, &[], &["--config", cfg.to_str().expect("path")]);
    submit(&a, "demo@example.test", &["ok-route@remote.test"], "routed").await;
    let m = remote
        .mx1
        .wait_for("ok-route@remote.test", 30)
        .await
        .expect("delivered through the smarthost");
    assert!(m.mail_from.contains("<demo@example.test>"));
    let received =
        m.data.matches("\r\nReceived: ").count() + usize::from(m.data.starts_with("Received: "));
    assert!(
        received >= 2,
        "both Terns added a Received header: {}",
        m.data
    );
    assert!(
        m.data.contains("with ESMTPSA"),
        "A authenticated over TLS at B: {}",
        m.data
    );
    let tls = a.get("/metrics").expect("metrics").1;
    assert!(
        tls.lines()
            .any(|l| l.starts_with("tern_queue_sessions_total{tls=\"yes\"}") && !l.ends_with(" 0")),
        "the session to the smarthost used TLS"
    );
    a.stop().expect("stop a");
    b.stop().expect("stop b");
}

#[tokio::test(flavor = "multi_thread")]
async fn archive_copy_of_accepted_mail() {
    let remote = Remote::start().await;
    let (_d, tern) = start(
        &remote,
        &[("TERN_QUEUE__ARCHIVE_ADDRESS", "demo@example.test")],
        &[],
    );
    submit(
        &tern,
        "demo@example.test",
        &["ok-arch@remote.test", "unknown-arch@remote.test"],
        "archived",
    )
    .await;
    remote
        .mx1
        .wait_for("ok-arch@remote.test", 30)
        .await
        .expect("delivered");
    let copy = wait_inbox(&tern, &["X-Tern-Archive:", "Subject: archived"], 30)
        .await
        .expect("archive copy in the archive mailbox");
    assert!(
        copy.contains("accepted by mx1.remote.test for ok-arch@remote.test"),
        "{copy}"
    );
    assert!(
        !copy.contains("for ok-arch@remote.test, unknown-arch"),
        "only accepted recipients named"
    );
    // The original and its archive copy are both done: no further copy can come.
    wait_queue_empty(&tern, TOKEN, 60).await;
    let copies = inbox(&tern)
        .await
        .iter()
        .filter(|m| m.contains("X-Tern-Archive:"))
        .count();
    assert_eq!(copies, 1, "one archive copy");
    tern.stop().expect("stop");
}

#[tokio::test(flavor = "multi_thread")]
async fn delay_warning_then_expiry_while_suspended() {
    let remote = Remote::start().await;
    let (_d, tern) = start(
        &remote,
        &[
            ("TERN_QUEUE__DELAY_WARNING_SECONDS", "1"),
            ("TERN_QUEUE__MAX_LIFETIME_SECONDS", "6"),
            ("TERN_QUEUE__SUSPEND_AFTER_FAILURES", "3"),
            ("TERN_QUEUE__SUSPEND_SECONDS", "3600"),
        ],
        &[],
    );
    submit(&tern, "demo@example.test", &["late@down.test"], "slowpoke").await;
    let delay = wait_inbox(&tern, &["Delayed Mail", "late@down.test"], 30)
        .await
        .expect("a delay warning");
    assert!(delay.contains("Action: delayed"), "{delay}");
    assert!(delay.contains("could not be connected to"), "{delay}");
    assert!(
        delay.contains("you do not need to"),
        "tells the sender not to resend: {delay}"
    );
    let bounce = wait_inbox(&tern, &["Undelivered Mail", "late@down.test"], 40)
        .await
        .expect("returned after the lifetime, although the destination is suspended");
    assert!(bounce.contains("Status: 5.4.7"), "{bounce}");
    assert!(bounce.contains("before the retry period ended"), "{bounce}");
    assert!(
        bounce.contains("suspended"),
        "the suspension is the cause given: {bounce}"
    );
    let q = tern.api(TOKEN, "/queue").expect("queue");
    assert_eq!(
        q["entries"],
        serde_json::json!([]),
        "entry removed after the bounce"
    );
    tern.stop().expect("stop");
}

#[tokio::test(flavor = "multi_thread")]
async fn retry_now_clears_a_suspension() {
    let remote = Remote::start().await;
    let (_d, tern) = start(
        &remote,
        &[
            ("TERN_QUEUE__SUSPEND_AFTER_FAILURES", "1"),
            ("TERN_QUEUE__SUSPEND_SECONDS", "3600"),
        ],
        &[],
    );
    submit(&tern, "demo@example.test", &["x@down.test"], "suspend-me").await;
    let attempts = |t: &Tern| {
        t.api(TOKEN, "/queue").expect("queue")["entries"][0]["attempts"]
            .as_u64()
            .unwrap_or(0)
    };
    // Suspended after one failure: the entry waits for the end of the suspension (its next
    // attempt moved there), and has been tried once.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let summary = tern.api(TOKEN, "/queue/summary").expect("summary");
        let until = summary["destinations"][0]["suspended_until"].as_i64();
        let next = tern.api(TOKEN, "/queue").expect("queue")["entries"][0]["next_attempt"].as_i64();
        if let (Some(until), Some(next)) = (until, next)
            && next >= until
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never postponed: {summary}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        attempts(&tern),
        1,
        "suspended after one failure: no more attempts"
    );
    let summary = ok(&ternctl(&tern.url(), Some(TOKEN), &["queue", "summary"]));
    assert!(
        summary.contains("down.test") && summary.contains("could not connect"),
        "{summary}"
    );
    ok(&ternctl(
        &tern.url(),
        Some(TOKEN),
        &["queue", "retry", "--domain", "down.test"],
    ));
    for _ in 0..50 {
        if attempts(&tern) >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        attempts(&tern),
        2,
        "retry now tried again despite the suspension"
    );
    tern.stop().expect("stop");
}

#[tokio::test(flavor = "multi_thread")]
async fn notify_success_and_never_with_envid_and_orcpt() {
    let remote = Remote::start().await;
    let (_d, tern) = start(&remote, &[], &[]);
    let mut c = submission(tern.addr("submission"), &tern.certificate(), PASSWORD).await;
    c.expect("MAIL FROM:<demo@example.test> ENVID=env-42 RET=HDRS", 250)
        .await
        .expect("mail");
    c.expect(
        "RCPT TO:<ok-n@remote.test> NOTIFY=SUCCESS ORCPT=rfc822;boss@example.org",
        250,
    )
    .await
    .expect("rcpt");
    c.expect("RCPT TO:<unknown-n@remote.test> NOTIFY=NEVER", 250)
        .await
        .expect("rcpt");
    let m = smtp::message("demo@example.test", "ok-n@remote.test", "notify", "hi\r\n");
    assert_eq!(c.data(&m).await.expect("data").code, 250);
    let success = wait_inbox(&tern, &["Successful Mail Delivery Report"], 30)
        .await
        .expect("success DSN");
    assert!(success.contains("Action: relayed"), "{success}");
    assert!(
        success.contains("Original-Envelope-Id: env-42"),
        "{success}"
    );
    assert!(
        success.contains("Original-Recipient: rfc822;boss@example.org"),
        "{success}"
    );
    // The entry is gone: the NOTIFY=NEVER failure was recorded without a DSN.
    wait_queue_empty(&tern, TOKEN, 60).await;
    assert!(
        inbox(&tern)
            .await
            .iter()
            .all(|m| !m.contains("unknown-n@remote.test")),
        "NOTIFY=NEVER: no bounce"
    );
    tern.stop().expect("stop");
}

#[tokio::test(flavor = "multi_thread")]
async fn reinject_a_message_file() {
    let remote = Remote::start().await;
    let (_d, tern) = start(&remote, &[], &[]);
    let dir = tempfile::tempdir().expect("tempdir");
    let file = dir.path().join("pending.eml");
    std::fs::write(
        &file,
        "FROM: <demo@example.test>\r\nRCPT: <ok-inj@remote.test>\r\nRCPT: <demo@example.test>\r\nFrom: demo@example.test\r\nSubject: reinjected\r\n\r\nback in the queue\r\n",
    )
    .expect("file");
    let path = file.to_str().expect("path");
    let out = ok(&ternctl(
        &tern.url(),
        Some(TOKEN),
        &["queue", "inject", path],
    ));
    assert!(out.contains("queued as"), "{out}");
    let m = remote
        .mx1
        .wait_for("ok-inj@remote.test", 30)
        .await
        .expect("remote recipient delivered");
    assert!(
        m.mail_from.contains("<demo@example.test>"),
        "{}",
        m.mail_from
    );
    assert!(
        m.data.contains("Subject: reinjected") && !m.data.contains("RCPT:"),
        "{}",
        m.data
    );
    assert!(
        m.data.contains("(Tern re-inject)"),
        "trace header: {}",
        m.data
    );
    wait_inbox(&tern, &["Subject: reinjected", "back in the queue"], 30)
        .await
        .expect("local recipient delivered");

    // The command line's envelope overrides the file's.
    let out = ok(&ternctl(
        &tern.url(),
        Some(TOKEN),
        &[
            "queue",
            "inject",
            path,
            "--from",
            "",
            "--to",
            "ok-inj2@remote.test",
        ],
    ));
    assert!(out.contains("queued as"), "{out}");
    let m = remote
        .mx1
        .wait_for("ok-inj2@remote.test", 30)
        .await
        .expect("delivered");
    assert!(m.mail_from.contains("<>"), "{}", m.mail_from);

    // An empty file, and a file without an envelope anywhere: clear refusals, nothing queued.
    std::fs::write(
        &file,
        "FROM: <demo@example.test>\r\nRCPT: <x@remote.test>\r\n\r\n",
    )
    .expect("file");
    let e = tern_tests::err(&ternctl(
        &tern.url(),
        Some(TOKEN),
        &["queue", "inject", path],
    ));
    assert!(e.contains("the file holds no message"), "{e}");
    std::fs::write(&file, "Subject: bare\r\n\r\nbody\r\n").expect("file");
    let e = tern_tests::err(&ternctl(
        &tern.url(),
        Some(TOKEN),
        &["queue", "inject", path],
    ));
    assert!(e.contains("no sender"), "{e}");
    let e = tern_tests::err(&ternctl(
        &tern.url(),
        Some(TOKEN),
        &[
            "queue",
            "inject",
            path,
            "--from",
            "demo@example.test",
            "--to",
            "nobody@example.test",
        ],
    ));
    assert!(
        e.contains("nobody@example.test: no such local address"),
        "{e}"
    );
    tern.stop().expect("stop");
}
