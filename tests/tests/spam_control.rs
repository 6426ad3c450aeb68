//! Per-domain and per-account control of the spam score on a running server: thresholds set
//! with `ternctl spam thresholds` decide Junk per recipient and refusal only when every local
//! recipient refuses; moving mail into and out of Junk over IMAP teaches the account's lists
//! and the reported digests (the next copy of a reported campaign scores `REPORTED_SPAM`);
//! content rules added with `ternctl spam rule` score the next message and go when removed;
//! greylisting delays the first try of mail in the grey band and passes the retry.

use std::time::{Duration, Instant};

use tern_tests::{Tern, imap, smtp};

const TOKEN: &str = "spam-control-token";
const PASSWORD: &str = "demo-password";

const RULES: &str = r#"
[[smtp.checks.score.rules]]
name = "PILLS"
header = "Subject"
pattern = "(?i)cheap pills"
points = 7.0
"#;

/// A server with `config` (TOML) and the score on the MX listener.
fn start(dir: &std::path::Path, config: &str) -> Tern {
    let path = dir.join("tern.toml");
    std::fs::write(&path, config).expect("config");
    Tern::start(
        dir,
        &["--dev", "--config", path.to_str().expect("path")],
        &[
            ("TERN_DEV_ADMIN_TOKEN", TOKEN),
            ("TERN_DEV_PASSWORD", PASSWORD),
            ("TERN_SMTP__CHECKS__MX", "ip_lists,score"),
        ],
    )
    .expect("tern starts")
}

fn add_account(tern: &Tern, address: &str) {
    tern.api_send(
        TOKEN,
        "POST",
        "/accounts",
        serde_json::json!({ "address": address, "password": PASSWORD }),
    )
    .expect("account");
}

/// One transaction from `from` to `to`, the DATA reply.
async fn send(tern: &Tern, from: &str, to: &[&str], subject: &str, body: &str) -> smtp::Reply {
    let (mut c, _) = smtp::Client::connect(tern.addr("smtp"), None)
        .await
        .expect("connect");
    c.expect("EHLO client.test", 250).await.expect("ehlo");
    c.expect(&format!("MAIL FROM:<{from}>"), 250)
        .await
        .expect("mail");
    for rcpt in to {
        c.expect(&format!("RCPT TO:<{rcpt}>"), 250)
            .await
            .expect("rcpt");
    }
    let r = c
        .data(&smtp::message(from, to[0], subject, body))
        .await
        .expect("data");
    c.cmd("QUIT").await.expect("quit");
    r
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thresholds_of_domains_and_accounts_decide_per_recipient() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tern = start(dir.path(), RULES);
    tern.api_send(
        TOKEN,
        "POST",
        "/domains",
        serde_json::json!({ "name": "strict.test" }),
    )
    .expect("domain");
    add_account(&tern, "eve@example.test");
    add_account(&tern, "bob@strict.test");
    let url = tern.url();
    let ctl = |args: &[&str]| tern_tests::ternctl(&url, Some(TOKEN), args);
    let thresholds = |args: &[&str]| {
        let mut all = vec!["spam", "thresholds"];
        all.extend_from_slice(args);
        ctl(&all)
    };

    let out = tern_tests::ok(&thresholds(&["demo@example.test", "--junk", "10"]));
    assert_eq!(
        out.trim(),
        "demo@example.test: junk 10.0, reject 15.0 (inherited)"
    );
    let out = tern_tests::ok(&thresholds(&[
        "strict.test",
        "--junk",
        "3",
        "--reject",
        "5",
    ]));
    assert_eq!(out.trim(), "strict.test: junk 3.0, reject 5.0");
    let out = tern_tests::ok(&thresholds(&["bob@strict.test"]));
    assert_eq!(
        out.trim(),
        "bob@strict.test: junk 3.0 (inherited), reject 5.0 (inherited)"
    );
    // Refused by name: an account's junk over its inherited reject, and a non-number.
    let bad = tern_tests::err(&thresholds(&["eve@example.test", "--junk", "20"]));
    assert!(
        bad.contains("spam thresholds: reject (15) must be above junk (20)"),
        "{bad}"
    );
    let bad = tern_tests::err(&thresholds(&["eve@example.test", "--reject", "lots"]));
    assert!(
        bad.contains("--reject \"lots\": expected a number or \"inherit\""),
        "{bad}"
    );

    // PILLS scores 7: demo (junk from 10) keeps it, eve (the configured 6) gets it in Junk.
    let r = send(
        &tern,
        "x@remote.test",
        &["demo@example.test", "eve@example.test"],
        "Cheap pills",
        "hi\r\n",
    )
    .await;
    assert_eq!(r.code, 250, "{}", r.text);
    // bob alone refuses it (reject from 5)…
    let r = send(
        &tern,
        "x@remote.test",
        &["bob@strict.test"],
        "Cheap pills again",
        "hi\r\n",
    )
    .await;
    assert_eq!(r.code, 550, "{}", r.text);
    assert!(
        r.text
            .starts_with("550 5.7.1 message refused as spam (score 7.0, limit 5.0: PILLS(7.0))"),
        "{}",
        r.text
    );
    // …but with eve in the same transaction it is accepted, and bob's copy goes to Junk.
    let r = send(
        &tern,
        "x@remote.test",
        &["bob@strict.test", "eve@example.test"],
        "Cheap pills third",
        "hi\r\n",
    )
    .await;
    assert_eq!(r.code, 250, "{}", r.text);

    let count = |who: &str, mailbox: &str| tern.mailbox_count(TOKEN, who, mailbox).expect("count");
    assert_eq!(
        (
            count("demo@example.test", "INBOX"),
            count("demo@example.test", "Junk")
        ),
        (1, 0)
    );
    assert_eq!(
        (
            count("eve@example.test", "INBOX"),
            count("eve@example.test", "Junk")
        ),
        (0, 2)
    );
    assert_eq!(
        (
            count("bob@strict.test", "INBOX"),
            count("bob@strict.test", "Junk")
        ),
        (0, 1)
    );
    let out = tern_tests::ok(&thresholds(&["demo@example.test", "--junk", "inherit"]));
    assert_eq!(
        out.trim(),
        "demo@example.test: junk 6.0 (inherited), reject 15.0 (inherited)"
    );
    tern.stop().expect("clean stop");
}

const CAMPAIGN: &str = "Dear customer, your parcel could not be delivered because the address \
    was incomplete. Confirm your details within two days at our portal or the parcel returns \
    to the sender. Thank you for choosing our delivery service today.\r\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moves_into_and_out_of_junk_teach_the_lists_and_the_digests() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tern = start(
        dir.path(),
        &format!("[smtp.checks.score]\nreported_threshold = 3\nreported_points = 6.0\n{RULES}"),
    );
    let demo = ["demo@example.test"];
    // Three copies of a campaign (one forging demo's own domain) and a newsletter that the
    // PILLS rule sends to Junk.
    for (n, from) in ["a@bulk.test", "b@bulk.test", "ceo@example.test"]
        .iter()
        .enumerate()
    {
        let body = format!("Order {n}. {CAMPAIGN}");
        let r = send(&tern, from, &demo, &format!("Parcel {n}"), &body).await;
        assert_eq!(r.code, 250, "{}", r.text);
    }
    let r = send(
        &tern,
        "news@shop.test",
        &demo,
        "Cheap pills weekly",
        "news\r\n",
    )
    .await;
    assert_eq!(r.code, 250, "{}", r.text);

    let mut c = imap::session(&tern, "demo@example.test", PASSWORD).await;
    assert!(c.cmd("SELECT INBOX").await.expect("select").ok());
    let r = c.cmd("UID MOVE 1:* Junk").await.expect("move");
    assert!(r.ok(), "{}", r.all());
    assert!(c.cmd("SELECT Junk").await.expect("select").ok());
    let ids = c.search("HEADER Subject \"Cheap pills weekly\"").await;
    assert_eq!(ids.len(), 1);
    let r = c
        .cmd(&format!("MOVE {} INBOX", ids[0]))
        .await
        .expect("move");
    assert!(r.ok(), "{}", r.all());
    tern.wait_metric("tern_spam_learned_total{report=\"spam\"}", 3.0);
    tern.wait_metric("tern_spam_learned_total{report=\"ham\"}", 1.0);

    let url = tern.url();
    let listed = tern_tests::ok(&tern_tests::ternctl(
        &url,
        Some(TOKEN),
        &["spam", "list", "demo@example.test"],
    ));
    assert_eq!(
        listed.trim(),
        "allow: news@shop.test\nblock: a@bulk.test, b@bulk.test",
        "the sender on demo's own domain is not listed"
    );

    // The next copy of the campaign, from a new sender, is junked by the users' reports; the
    // newsletter now reaches the INBOX despite its score.
    let body = format!("Order 99. {CAMPAIGN}");
    let r = send(&tern, "c@elsewhere.test", &demo, "Parcel 99", &body).await;
    assert_eq!(r.code, 250, "{}", r.text);
    let r = send(
        &tern,
        "news@shop.test",
        &demo,
        "Cheap pills again",
        "news\r\n",
    )
    .await;
    assert_eq!(r.code, 250, "{}", r.text);
    assert!(c.cmd("EXAMINE Junk").await.expect("examine").ok());
    let r = c
        .cmd("FETCH 1:* (BODY.PEEK[HEADER.FIELDS (Subject X-Spam-Status)])")
        .await
        .expect("fetch");
    let parcel = r
        .untagged
        .iter()
        .find(|l| l.contains("Subject: Parcel 99"))
        .unwrap_or_else(|| panic!("the new copy is in Junk: {}", r.all()));
    assert!(parcel.contains("REPORTED_SPAM(6.0)"), "{parcel}");
    assert!(c.cmd("EXAMINE INBOX").await.expect("examine").ok());
    assert_eq!(
        c.search("HEADER Subject \"Cheap pills again\"").await.len(),
        1,
        "allowed by the move out of Junk"
    );
    tern.stop().expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_grey_band_is_greylisted_until_a_retry_after_the_delay() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tern = start(
        dir.path(),
        &format!(
            "[smtp.checks.greylist]\nenabled = true\nfrom_score = 5.0\nto_score = 15.0\n\
             delay_seconds = 1\n{RULES}"
        ),
    );
    let demo = ["demo@example.test"];
    // Clean mail is never delayed.
    let r = send(&tern, "a@remote.test", &demo, "hello", "hi\r\n").await;
    assert_eq!(r.code, 250, "{}", r.text);
    // PILLS (7) is in the band: the first try is greylisted…
    let r = send(&tern, "a@remote.test", &demo, "Cheap pills", "hi\r\n").await;
    assert_eq!(r.code, 451, "{}", r.text);
    assert!(
        r.text
            .starts_with("451 4.7.1 greylisted: please try again in "),
        "{}",
        r.text
    );
    // …and a retry after the delay passes (retried until it does, within a deadline).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let r = send(&tern, "a@remote.test", &demo, "Cheap pills", "hi\r\n").await;
        if r.code == 250 {
            break;
        }
        assert_eq!(r.code, 451, "{}", r.text);
        assert!(Instant::now() < deadline, "never passed: {}", r.text);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // From then on the triplet passes at once; another sender starts over.
    let r = send(&tern, "a@remote.test", &demo, "Cheap pills", "hi\r\n").await;
    assert_eq!(r.code, 250, "{}", r.text);
    let r = send(&tern, "b@remote.test", &demo, "Cheap pills", "hi\r\n").await;
    assert_eq!(r.code, 451, "{}", r.text);
    assert_eq!(
        tern.metric("tern_greylist_total{decision=\"retried\"}"),
        1.0
    );
    assert_eq!(tern.metric("tern_greylist_total{decision=\"known\"}"), 1.0);
    assert!(tern.metric("tern_greylist_total{decision=\"deferred\"}") >= 2.0);
    assert_eq!(
        tern.mailbox_count(TOKEN, "demo@example.test", "Junk")
            .expect("count"),
        2,
        "what passed the greylist was still junked by its score"
    );
    tern.stop().expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_set_through_the_api_score_the_next_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tern = start(dir.path(), RULES);
    let url = tern.url();
    let ctl = |args: &[&str]| tern_tests::ternctl(&url, Some(TOKEN), args);
    let demo = ["demo@example.test"];
    tern_tests::ok(&ctl(&[
        "spam",
        "rule",
        "CASINO",
        "--body",
        "--pattern",
        "(?i)online casino",
        "--points",
        "8",
    ]));
    tern_tests::ok(&ctl(&[
        "spam",
        "rule",
        "NEWSLETTER",
        "--header",
        "List-Id",
        "--pattern",
        ".",
        "--points",
        "-1.5",
    ]));
    let listed = tern_tests::ok(&ctl(&["spam", "rules"]));
    for want in [
        "PILLS",
        "config",
        "CASINO",
        "api",
        "body ~ (?i)online casino",
    ] {
        assert!(listed.contains(want), "{want}: {listed}");
    }
    // Refused by name: a bad pattern, two matchers, a rule of the configuration file.
    let bad = tern_tests::err(&ctl(&[
        "spam",
        "rule",
        "BAD",
        "--body",
        "--pattern",
        "(unclosed",
        "--points",
        "1",
    ]));
    assert!(
        bad.contains("spam rule BAD: pattern \"(unclosed\""),
        "{bad}"
    );
    let bad = tern_tests::err(&ctl(&[
        "spam",
        "rule",
        "TWO",
        "--body",
        "--size-over",
        "10",
        "--pattern",
        "x",
        "--points",
        "1",
    ]));
    assert!(
        bad.contains("needs exactly one of header, body, attachment, mime_type and size_over"),
        "{bad}"
    );
    let bad = tern_tests::err(&ctl(&[
        "spam",
        "rule",
        "PILLS",
        "--body",
        "--pattern",
        "x",
        "--points",
        "1",
    ]));
    assert!(bad.contains("defined in the configuration file"), "{bad}");

    let r = send(
        &tern,
        "x@remote.test",
        &demo,
        "Tonight",
        "Play at our online casino now\r\n",
    )
    .await;
    assert_eq!(r.code, 250, "{}", r.text);
    tern_tests::ok(&ctl(&["spam", "rule-remove", "CASINO"]));
    let again = tern_tests::err(&ctl(&["spam", "rule-remove", "CASINO"]));
    assert!(again.contains("spam rule CASINO"), "{again}");
    let r = send(
        &tern,
        "x@remote.test",
        &demo,
        "Tomorrow",
        "Play at our online casino again\r\n",
    )
    .await;
    assert_eq!(r.code, 250, "{}", r.text);
    let mut c = imap::session(&tern, "demo@example.test", PASSWORD).await;
    assert!(c.cmd("EXAMINE Junk").await.expect("examine").ok());
    let r = c
        .cmd("FETCH 1:* (BODY.PEEK[HEADER.FIELDS (Subject X-Spam-Status)])")
        .await
        .expect("fetch");
    assert!(
        r.all().contains("Subject: Tonight") && r.all().contains("CASINO(8.0)"),
        "the rule junked the first: {}",
        r.all()
    );
    assert!(c.cmd("EXAMINE INBOX").await.expect("examine").ok());
    assert_eq!(
        c.search("HEADER Subject Tomorrow").await.len(),
        1,
        "once removed, the rule no longer counts"
    );
    assert_eq!(
        tern.metric("tern_spam_rule_hits_total{rule=\"CASINO\"}"),
        1.0
    );
    tern.stop().expect("clean stop");
}
