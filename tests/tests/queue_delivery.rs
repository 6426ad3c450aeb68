//! Outbound delivery end to end: a DNS server on loopback (hickory-server) with test zones,
//! scripted SMTP peers on 127.0.0.2 and 127.0.0.3, and `tern serve --dev` submitting mail for
//! remote domains. Covers MX preference and fallback, implicit MX, null MX, NXDOMAIN,
//! multi-recipient partial failure with a retry after 4xx, DSN texts per cause read back over
//! POP3, no bounce for the null sender, suspension of an unreachable destination, peers that
//! hang up or stall, a required STARTTLS, and the operator's `ternctl queue` commands. DKIM is
//! in `queue_dkim.rs`.

use std::time::Duration;

use tern_tests::{
    Tern, err, ok,
    outbound::{
        PASSWORD, Remote, inbox, send, submission, submit, wait_inbox, wait_queue_empty, world,
    },
    ternctl,
};

const TOKEN: &str = "queue-token";
#[tokio::test(flavor = "multi_thread")]
async fn mx_preference_fallback_and_implicit_mx() {
    let w = world(TOKEN).await;
    submit(&w.tern, "demo@example.test", &["ok@remote.test"], "pref").await;
    let m = w
        .mx1
        .wait_for("ok@remote.test", 30)
        .await
        .expect("delivered to the preferred MX");
    assert!(
        m.mail_from.contains("<demo@example.test>"),
        "{}",
        m.mail_from
    );
    assert!(m.data.contains("Subject: pref"));
    assert!(
        m.data.contains("Received: from client.test"),
        "trace header sent"
    );
    assert!(
        !m.data.starts_with("Return-Path"),
        "Return-Path is not sent on"
    );

    submit(
        &w.tern,
        "demo@example.test",
        &["ok@fallback.test"],
        "fallback",
    )
    .await;
    w.mx2
        .wait_for("ok@fallback.test", 30)
        .await
        .expect("delivered to the second MX after the first refused connections");

    submit(
        &w.tern,
        "demo@example.test",
        &["ok@implicit.test"],
        "implicit",
    )
    .await;
    w.mx2
        .wait_for("ok@implicit.test", 30)
        .await
        .expect("delivered to the domain's A record without MX");
    assert!(
        w.mx1
            .messages()
            .iter()
            .all(|m| !m.rcpts.iter().any(|r| r.contains("implicit")))
    );
    w.tern.stop().expect("stop");
}

#[tokio::test(flavor = "multi_thread")]
async fn partial_failure_bounces_the_failed_and_retries_the_deferred() {
    let w = world(TOKEN).await;
    submit(
        &w.tern,
        "demo@example.test",
        &[
            "ok1@remote.test",
            "unknown1@remote.test",
            "later1@remote.test",
        ],
        "partial",
    )
    .await;
    let first = w
        .mx1
        .wait_for("ok1@remote.test", 30)
        .await
        .expect("ok delivered");
    assert_eq!(first.rcpts, vec!["ok1@remote.test".to_string()]);
    // The 451 recipient is retried (retry interval 1 s) and then accepted.
    let retried = w
        .mx1
        .wait_for("later1@remote.test", 30)
        .await
        .expect("retried after 4xx");
    assert_eq!(retried.rcpts, vec!["later1@remote.test".to_string()]);
    let bounce = wait_inbox(&w.tern, &["unknown1@remote.test"], 30)
        .await
        .expect("a bounce for the unknown user");
    assert!(
        bounce.contains("Subject: Undelivered Mail Returned to Sender"),
        "{bounce}"
    );
    assert!(bounce.contains("multipart/report"), "{bounce}");
    assert!(
        bounce.contains("user unknown"),
        "plain-words cause: {bounce}"
    );
    assert!(
        bounce.contains("550 5.1.1 no such user here"),
        "remote reply quoted: {bounce}"
    );
    assert!(bounce.contains("Action: failed"), "{bounce}");
    assert!(bounce.contains("Status: 5.1.1"), "{bounce}");
    assert!(
        bounce.contains("Final-Recipient: rfc822; unknown1@remote.test"),
        "{bounce}"
    );
    assert!(
        bounce.contains("Subject: partial"),
        "original headers returned: {bounce}"
    );
    assert!(
        !bounce.contains("ok1@remote.test>:"),
        "only the failed recipient is reported"
    );
    // One bounce only: once the entry is gone (the later success delivered), nothing more can
    // come of it.
    wait_queue_empty(&w.tern, TOKEN, 60).await;
    let bounces = inbox(&w.tern)
        .await
        .into_iter()
        .filter(|m| m.contains("Undelivered Mail"))
        .count();
    assert_eq!(bounces, 1);
    w.tern.stop().expect("stop");
}

#[tokio::test(flavor = "multi_thread")]
async fn each_cause_has_its_readable_text() {
    let w = world(TOKEN).await;
    for (to, subject) in [
        ("full1@remote.test", "quota"),
        ("blocked1@remote.test", "blocklist"),
        ("toobig1@remote.test", "toobig"),
        ("spam1@remote.test", "spam"),
        ("someone@nullmx.test", "nullmx"),
        ("someone@nosuch.test", "nxdomain"),
    ] {
        submit(&w.tern, "demo@example.test", &[to], subject).await;
    }
    // Refused by the client side before sending: larger than the peer's SIZE, and SMTPUTF8
    // asked for while the peer does not offer it.
    let mut c = submission(w.tern.addr("submission"), &w.tern.certificate(), PASSWORD).await;
    let big = "x".repeat(1000) + "\r\n";
    send(
        &mut c,
        "<demo@example.test>",
        &["big1@remote.test"],
        "huge",
        &big.repeat(250),
    )
    .await;
    send(
        &mut c,
        "<demo@example.test> SMTPUTF8",
        &["utf1@remote.test"],
        "utf8",
        "hi\r\n",
    )
    .await;
    let _ = c.cmd("QUIT").await;
    let cases = [
        (
            [
                "big1@remote.test",
                "message is too large",
                "is larger than mx1.remote.test accepts (200000 bytes)",
            ],
            "5.3.4",
        ),
        (
            [
                "utf1@remote.test",
                "international (UTF-8) addresses",
                "553 5.6.7 mx1.remote.test does not support SMTPUTF8",
            ],
            "5.6.7",
        ),
        (
            [
                "full1@remote.test",
                "mailbox is full (quota exceeded)",
                "552 5.2.2 mailbox full",
            ],
            "5.2.2",
        ),
        (
            [
                "blocked1@remote.test",
                "listed on the block list zen.spamhaus.org",
                "554 5.7.1 Service unavailable; Client host [127.0.0.1] blocked using",
            ],
            "5.7.1",
        ),
        (
            [
                "toobig1@remote.test",
                "message is too large",
                "552 5.3.4 message size",
            ],
            "5.3.4",
        ),
        (
            [
                "spam1@remote.test",
                "rejected the content",
                "550 5.7.1 message content rejected",
            ],
            "5.7.1",
        ),
        (
            [
                "someone@nullmx.test",
                "accepts no mail (null MX",
                "The mail system here reported",
            ],
            "5.1.2",
        ),
        (
            ["someone@nosuch.test", "host not found", "NXDOMAIN"],
            "5.1.2",
        ),
    ];
    for (needles, status) in cases {
        let m = wait_inbox(&w.tern, &needles, 30)
            .await
            .unwrap_or_else(|| panic!("no bounce containing {needles:?}"));
        assert!(m.contains(&format!("Status: {status}")), "{status} in {m}");
    }
    let metrics = w.tern.get("/metrics").expect("metrics").1;
    for (reason, n) in [
        ("block_list", 1),
        ("mailbox_full", 1),
        ("policy", 2),
        ("too_large", 2),
        ("dns", 2),
        ("tls", 0),
    ] {
        let line =
            format!("tern_queue_recipients_total{{reason=\"{reason}\",result=\"failed\"}} {n}");
        assert!(metrics.contains(&line), "no {line} in\n{metrics}");
    }
    w.tern.stop().expect("stop");
}

#[tokio::test(flavor = "multi_thread")]
async fn null_sender_gets_no_bounce_and_unreachable_hosts_are_suspended() {
    let w = world(TOKEN).await;
    submit(&w.tern, "", &["unknown2@remote.test"], "nullsender").await;
    // The failure is recorded and the entry removed; no DSN is generated.
    submit(&w.tern, "demo@example.test", &["ok2@remote.test"], "marker").await;
    w.mx1
        .wait_for("ok2@remote.test", 30)
        .await
        .expect("marker delivered");
    // Both entries gone: the failure was recorded, and no DSN came of it.
    wait_queue_empty(&w.tern, TOKEN, 60).await;
    assert!(
        inbox(&w.tern)
            .await
            .iter()
            .all(|m| !m.contains("unknown2@remote.test")),
        "no bounce for the null sender"
    );

    submit(&w.tern, "demo@example.test", &["a@down.test"], "down").await;
    // The destination's suspension and the entry's second attempt are recorded one after the
    // other: wait for both.
    let mut seen = None;
    for _ in 0..240 {
        let q = w.tern.api(TOKEN, "/queue").expect("queue");
        let dest = q["destinations"]
            .as_array()
            .and_then(|d| d.iter().find(|d| d["domain"] == "down.test").cloned())
            .filter(|d| d["suspended_until"].as_i64().unwrap_or(0) > 0);
        let entry = q["entries"]
            .as_array()
            .and_then(|e| e.iter().find(|e| e["domain"] == "down.test").cloned())
            .expect("entry still queued");
        if let Some(d) = dest
            && entry["attempts"].as_i64().unwrap_or(0) >= 2
        {
            seen = Some((d, entry));
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let (d, entry) = seen.expect("down.test suspended after 2 connection failures");
    assert!(
        d["last_error"]
            .as_str()
            .unwrap_or("")
            .contains("could not connect"),
        "{d}"
    );
    assert_eq!(entry["attempts"], 2, "no attempts while suspended: {entry}");
    // The run of failures is dated from its first one, and the metric the "suspended for long"
    // alert reads counts from there.
    let since = d["failing_since"].as_i64().unwrap_or(0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    assert!(since > 0 && since <= now, "{d}");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while w.tern.metric("tern_queue_suspended_longest_seconds") < 1.0 {
        assert!(
            std::time::Instant::now() < deadline,
            "tern_queue_suspended_longest_seconds counts the suspended destination's failing time"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(w.tern.metric("tern_queue_suspended_destinations"), 1.0);
    w.tern.stop().expect("stop");
}

/// The queue id of the entry for `domain`, from `ternctl queue list --json`.
fn queued_id(tern: &Tern, domain: &str) -> Option<String> {
    let out = ok(&ternctl(
        &tern.url(),
        Some(TOKEN),
        &["--json", "queue", "list", "--domain", domain],
    ));
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    v["entries"][0]["id"].as_str().map(str::to_string)
}

#[tokio::test(flavor = "multi_thread")]
async fn operators_list_hold_release_retry_delete_and_bounce() {
    let w = world(TOKEN).await;
    let url = w.tern.url();
    let ctl = |args: &[&str]| ternctl(&url, Some(TOKEN), args);
    submit(&w.tern, "demo@example.test", &["a@down.test"], "ops-one").await;
    let id = queued_id(&w.tern, "down.test").expect("queued");

    assert!(ok(&ctl(&["queue", "hold", &id])).contains("held"));
    let listed = ok(&ctl(&["queue", "list", "--status", "held"]));
    assert!(
        listed.contains(&id) && listed.contains("a@down.test"),
        "{listed}"
    );
    let shown = ok(&ctl(&["queue", "show", &id]));
    assert!(shown.contains("held"), "{shown}");
    assert!(
        shown.contains("Queued        ") && shown.contains(" UTC (") && shown.contains(" ago)"),
        "human times: {shown}"
    );
    assert!(
        shown.contains("LAST_REPLY") && shown.contains("a@down.test"),
        "each recipient with its last reply: {shown}"
    );
    assert!(ok(&ctl(&["queue", "release", &id])).contains("released"));
    assert!(ok(&ctl(&["queue", "retry", "--domain", "down.test"])).contains("due now"));
    let summary = ok(&ctl(&["queue", "summary"]));
    assert!(summary.contains("down.test"), "{summary}");

    // Bounce now: the sender gets a DSN naming the operator's decision.
    assert!(ok(&ctl(&["queue", "bounce", &id])).contains("returned to its sender"));
    let dsn = wait_inbox(
        &w.tern,
        &["a@down.test", "returned to the sender by the postmaster"],
        30,
    )
    .await
    .expect("bounce-now DSN");
    assert!(dsn.contains("Action: failed"), "{dsn}");
    assert!(
        queued_id(&w.tern, "down.test").is_none(),
        "bounced entry removed"
    );

    // Delete: gone without a DSN.
    submit(&w.tern, "demo@example.test", &["b@down.test"], "ops-two").await;
    let id2 = queued_id(&w.tern, "down.test").expect("queued");
    assert!(ok(&ctl(&["queue", "delete", &id2])).contains("deleted"));
    assert!(queued_id(&w.tern, "down.test").is_none());

    // Unknown ids are refused clearly, for every command.
    for cmd in ["show", "hold", "release", "retry", "delete", "bounce"] {
        let e = err(&ctl(&["queue", cmd, "nope123"]));
        assert!(
            e.contains("no queued message with id nope123"),
            "{cmd}: {e}"
        );
    }
    // Deleted entries are gone (asserted above): nothing can bounce them any more.
    assert!(
        inbox(&w.tern)
            .await
            .iter()
            .all(|m| !m.contains("b@down.test")),
        "delete sends no DSN"
    );

    // Listings are paged: a limit, and where to go on from.
    submit(&w.tern, "demo@example.test", &["x@down.test"], "ops-x").await;
    submit(&w.tern, "demo@example.test", &["y@down.test"], "ops-y").await;
    let first = ctl(&["queue", "list", "--domain", "down.test", "--limit", "1"]);
    let shown = ok(&first);
    let hint = String::from_utf8_lossy(&first.stderr).to_string();
    let after = hint
        .split("--after ")
        .nth(1)
        .map(|s| s.trim().trim_end_matches(')').to_string())
        .expect("a hint to go on");
    assert!(
        shown.contains(&after),
        "the hint names the last listed id: {shown}"
    );
    let rest = ok(&ctl(&[
        "queue",
        "list",
        "--domain",
        "down.test",
        "--after",
        &after,
    ]));
    assert!(!rest.contains(&after), "{rest}");
    assert!(
        ["x@down.test", "y@down.test"]
            .iter()
            .all(|r| shown.contains(r) != rest.contains(r)),
        "each entry on exactly one page: {shown} / {rest}"
    );
    w.tern.stop().expect("stop");
}

/// Sets a DKIM key with ternctl and publishes its record in the test DNS.
#[tokio::test(flavor = "multi_thread")]
async fn dropped_and_stalled_sessions_are_deferred_with_the_reason() {
    let remote = Remote::start().await;
    let mut env = remote.queue_env();
    env.push(("TERN_QUEUE__COMMAND_TIMEOUT_SECONDS".into(), "2".into()));
    env.push(("TERN_QUEUE__RETRY_INTERVALS_SECONDS".into(), "3600".into()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (_dir, tern) = Tern::dev(TOKEN, PASSWORD, &env);
    submit(
        &tern,
        "demo@example.test",
        &["drop1@remote.test"],
        "dropped",
    )
    .await;
    submit(
        &tern,
        "demo@example.test",
        &["stall1@remote.test"],
        "stalled",
    )
    .await;
    let mut last = serde_json::Value::Null;
    for _ in 0..100 {
        let q = tern.api(TOKEN, "/queue").expect("queue");
        let entries = q["entries"].as_array().cloned().unwrap_or_default();
        if entries.len() == 2 && entries.iter().all(|e| e["attempts"] == 1) {
            last = serde_json::Value::Array(entries);
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let entries = last.as_array().expect("both attempted once");
    let reply = |rcpt: &str| {
        entries
            .iter()
            .find(|e| e["recipients"][0]["address"] == rcpt)
            .map(|e| {
                assert_eq!(e["recipients"][0]["status"], "deferred", "{e}");
                e["recipients"][0]["reply"]
                    .as_str()
                    .unwrap_or("")
                    .to_string()
            })
            .expect("entry")
    };
    let dropped = reply("drop1@remote.test");
    assert!(
        dropped.starts_with("4.4.2") && dropped.contains("closed the connection"),
        "{dropped}"
    );
    let stalled = reply("stall1@remote.test");
    assert!(
        stalled.starts_with("4.4.2") && stalled.contains("timed out"),
        "{stalled}"
    );
    tern.stop().expect("stop");
}

#[tokio::test(flavor = "multi_thread")]
async fn required_starttls_defers_when_not_offered() {
    let remote = Remote::start().await;
    let mut env = remote.queue_env();
    env.push(("TERN_QUEUE__STARTTLS".into(), "required".into()));
    env.push(("TERN_QUEUE__RETRY_INTERVALS_SECONDS".into(), "3600".into()));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (_dir, tern) = Tern::dev(TOKEN, PASSWORD, &env);
    submit(
        &tern,
        "demo@example.test",
        &["ok-tls@remote.test"],
        "needs tls",
    )
    .await;
    let mut reply = String::new();
    for _ in 0..100 {
        let q = tern.api(TOKEN, "/queue").expect("queue");
        if q["entries"][0]["attempts"] == 1 {
            reply = q["entries"][0]["recipients"][0]["reply"]
                .as_str()
                .unwrap_or("")
                .to_string();
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(reply.starts_with("4.4.1"), "{reply}");
    assert!(
        reply.contains("does not offer STARTTLS, which the policy requires"),
        "{reply}"
    );
    assert!(
        remote.mx1.messages().is_empty(),
        "nothing sent in clear text"
    );
    tern.stop().expect("stop");
}
