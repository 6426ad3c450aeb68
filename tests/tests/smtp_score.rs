//! The spam score (`"score"` last in `smtp.checks.mx`) on a running server, with mail
//! authentication against a DNS zone the test serves: content rules (a header pattern, a body
//! pattern, an attachment extension) add to the authentication results' points; at `junk` the
//! message is filed into Junk, at `reject` refused with `550 5.7.1` listing the score and why;
//! every message says its score in `X-Spam-Score`/`X-Spam-Status`; mail whose From domain is
//! authenticated by an aligned DKIM signature is never junked by one rule alone; the third
//! near-identical message of a campaign is marked as bulk; bad score settings fail
//! `check-config` by name.

use tern_tests::{Tern, check_config, dkim, dns, imap, smtp};

const TOKEN: &str = "score-token";
const PASSWORD: &str = "demo-password";

const CONFIG: &str = r#"
[smtp.checks]
mx = ["ip_lists", "auth", "score"]

[smtp.checks.score]
junk = 6.0
reject = 15.0
similar_threshold = 3

[[smtp.checks.score.rules]]
name = "PILLS"
header = "Subject"
pattern = "(?i)cheap pills"
points = 5.0

[[smtp.checks.score.rules]]
name = "LOTTERY"
body = true
pattern = "(?i)you have won"
points = 4.0

[[smtp.checks.score.rules]]
name = "EXE"
attachment = ["exe", "scr"]
points = 12.0
"#;

fn message(from: &str, subject: &str, body: &str) -> String {
    smtp::message(from, "demo@example.test", subject, body)
}

fn with_exe(from: &str, subject: &str) -> String {
    format!(
        "From: <{from}>\r\nTo: <demo@example.test>\r\nSubject: {subject}\r\n\
         Message-ID: <{subject}@test>\r\nMIME-Version: 1.0\r\n\
         Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n\
         the invoice\r\n--b\r\nContent-Type: application/octet-stream\r\n\
         Content-Disposition: attachment; filename=\"invoice.exe\"\r\n\
         Content-Transfer-Encoding: base64\r\n\r\nTVqQAAMAAAAEAAAA\r\n--b--\r\n"
    )
}

async fn send(tern: &Tern, from: &str, message: &str) -> smtp::Reply {
    smtp::send_one(
        tern.addr("smtp"),
        "client.test",
        from,
        "demo@example.test",
        message,
    )
    .await
    .expect("transaction")
}

/// `X-Spam-Status` of the message with `subject` in `mailbox` (`None`: not there).
async fn status(c: &mut imap::Client, mailbox: &str, subject: &str) -> Option<String> {
    assert!(
        c.cmd(&format!("EXAMINE {mailbox}"))
            .await
            .expect("examine")
            .ok()
    );
    let r = c
        .cmd("FETCH 1:* (BODY.PEEK[HEADER.FIELDS (Subject X-Spam-Status)])")
        .await
        .expect("fetch");
    r.untagged
        .iter()
        .find(|l| l.contains(&format!("Subject: {subject}\r\n")))
        .map(|l| {
            let at = l.find("X-Spam-Status:").expect("X-Spam-Status");
            l[at..].split("\r\n\r\n").next().unwrap_or("").to_string()
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_and_authentication_add_up_to_junk_or_refusal() {
    let zone = dns::serve("test.", &[]).await.expect("dns");
    let (key, record) = dkim::ed25519_key();
    for (name, text) in [
        ("sender.test", "v=spf1 ip4:127.0.0.1 -all"),
        ("_dmarc.sender.test", "v=DMARC1; p=reject"),
        ("ed._domainkey.sender.test", record.as_str()),
        ("soft.test", "v=spf1 ~all"),
        ("_dmarc.soft.test", "v=DMARC1; p=none"),
    ] {
        zone.add_txt(name, text).await;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("tern.toml");
    std::fs::write(&config, CONFIG).expect("config");
    let server = zone.addr.to_string();
    let tern = Tern::start(
        dir.path(),
        &["--dev", "--config", config.to_str().expect("path")],
        &[
            ("TERN_DEV_ADMIN_TOKEN", TOKEN),
            ("TERN_DEV_PASSWORD", PASSWORD),
            ("TERN_QUEUE__DNS_SERVER", server.as_str()),
            // The harness turns the checks off; this test's file says which.
            ("TERN_SMTP__CHECKS__MX", "ip_lists,auth,score"),
        ],
    )
    .expect("tern starts");
    let signed = |m: &str| dkim::sign(dkim::ed25519(&key), m, "sender.test", "ed");

    // Authenticated and clean: DKIM aligned counts in its favour.
    let r = send(
        &tern,
        "a@sender.test",
        &signed(&message("a@sender.test", "ham", "hi\r\n")),
    )
    .await;
    assert_eq!(r.code, 250, "{}", r.text);
    // Soft SPF (1) and a failing DMARC (3) with the PILLS subject (5): 9, junk.
    let r = send(
        &tern,
        "x@soft.test",
        &message("x@soft.test", "Cheap pills", "hi\r\n"),
    )
    .await;
    assert_eq!(r.code, 250, "{}", r.text);
    // Everything at once: 1 + 3 + 5 + 4 + 12 = 25, refused.
    let spam = with_exe("x@soft.test", "Cheap pills").replace("the invoice", "You have WON");
    let r = send(&tern, "x@soft.test", &spam).await;
    assert_eq!(
        r.text,
        "550 5.7.1 message refused as spam (score 25.0, limit 15.0: SPF_SOFTFAIL(1.0),\
         DMARC_FAIL(3.0),PILLS(5.0),LOTTERY(4.0),EXE(12.0))"
    );
    // The EXE rule alone (12) on mail its From domain signed: held under junk.
    let r = send(
        &tern,
        "a@sender.test",
        &signed(&with_exe("a@sender.test", "invoice")),
    )
    .await;
    assert_eq!(r.code, 250, "{}", r.text);
    // A campaign from a domain without SPF or DMARC: the third near-identical message is bulk.
    let campaign = "Dear customer, your parcel could not be delivered because the address was \
                    incomplete. Confirm your details within two days at our portal or it returns \
                    to the sender.";
    for (i, name) in ["Ann", "Bob", "Cy"].iter().enumerate() {
        let body = format!("Hello {name}, order {i}77.\r\n{campaign}\r\n");
        let r = send(
            &tern,
            "x@nospf.test",
            &message("x@nospf.test", &format!("parcel{i}"), &body),
        )
        .await;
        assert_eq!(r.code, 250, "{}", r.text);
    }

    let mut c = imap::session(&tern, "demo@example.test", PASSWORD).await;
    let ham = status(&mut c, "INBOX", "ham").await.expect("ham in INBOX");
    assert!(
        ham.starts_with("X-Spam-Status: No, score=-1.0 required=6.0"),
        "{ham}"
    );
    assert!(ham.contains("tests=DKIM_ALIGNED(-1.0)"), "{ham}");
    let junk = status(&mut c, "Junk", "Cheap pills")
        .await
        .expect("pills in Junk");
    assert!(
        junk.starts_with("X-Spam-Status: Yes, score=9.0 required=6.0")
            && junk.contains("SPF_SOFTFAIL(1.0),DMARC_FAIL(3.0),PILLS(5.0)"),
        "{junk}"
    );
    let invoice = status(&mut c, "INBOX", "invoice")
        .await
        .expect("invoice in INBOX");
    assert!(
        invoice.starts_with("X-Spam-Status: No, score=4.9")
            && invoice.contains("DKIM_ALIGNED(-1.0),EXE(5.9)"),
        "one rule is held under junk for authenticated mail: {invoice}"
    );
    let first = status(&mut c, "INBOX", "parcel0").await.expect("parcel0");
    let third = status(&mut c, "INBOX", "parcel2").await.expect("parcel2");
    assert!(!first.contains("BULK_SIMILAR"), "{first}");
    assert!(third.contains("BULK_SIMILAR(3.0)"), "{third}");
    let verdicts = |v: &str| tern.metric(&format!("tern_spam_verdicts_total{{verdict=\"{v}\"}}"));
    assert_eq!(
        (verdicts("ham"), verdicts("junk"), verdicts("reject")),
        (5.0, 1.0, 1.0)
    );
    assert_eq!(
        tern.metric("tern_spam_rule_hits_total{rule=\"PILLS\"}"),
        2.0
    );
    tern.stop().expect("clean stop");
}

#[test]
fn bad_score_settings_are_refused_by_name() {
    for (section, want) in [
        (
            "[smtp.checks]\nmx = [\"score\", \"auth\"]\n",
            "smtp.checks.mx: \"score\" must come last",
        ),
        (
            "[smtp.checks.score]\njunk = 10.0\nreject = 5.0\n",
            "smtp.checks.score: junk must be above 0 and reject above junk",
        ),
        (
            "[[smtp.checks.score.rules]]\nname = \"X\"\nbody = true\npattern = \"(\"\npoints = 1.0\n",
            "smtp.checks.score.rules[0] (\"X\"): pattern \"(\"",
        ),
        (
            "[[smtp.checks.score.rules]]\nname = \"Y\"\nsize_over = 10\n",
            "smtp.checks.score.rules[0] (\"Y\"): needs points",
        ),
    ] {
        let out = check_config(&format!(
            "[server]\nhostname = \"mx.example.org\"\n[tls]\nallow_self_signed = true\n{section}"
        ));
        assert!(!out.status.success(), "{section}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_recipients_own_lists_have_the_last_word() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("tern.toml");
    std::fs::write(
        &config,
        "[[smtp.checks.score.rules]]\nname = \"PILLS\"\nheader = \"Subject\"\n\
         pattern = \"(?i)cheap pills\"\npoints = 7.0\n",
    )
    .expect("config");
    let tern = Tern::start(
        dir.path(),
        &["--dev", "--config", config.to_str().expect("path")],
        &[
            ("TERN_DEV_ADMIN_TOKEN", TOKEN),
            ("TERN_DEV_PASSWORD", PASSWORD),
            ("TERN_SMTP__CHECKS__MX", "ip_lists,score"),
        ],
    )
    .expect("tern starts");
    tern.api_send(
        TOKEN,
        "POST",
        "/accounts",
        serde_json::json!({ "address": "eve@example.test", "password": PASSWORD }),
    )
    .expect("second account");
    let url = tern.url();
    let ctl = |args: &[&str]| tern_tests::ternctl(&url, Some(TOKEN), args);
    tern_tests::ok(&ctl(&[
        "spam",
        "allow",
        "demo@example.test",
        "@Friend.test",
    ]));
    tern_tests::ok(&ctl(&[
        "spam",
        "block",
        "demo@example.test",
        "pest@remote.test",
    ]));
    let listed = tern_tests::ok(&ctl(&["spam", "list", "demo@example.test"]));
    assert_eq!(
        listed.trim(),
        "allow: @friend.test\nblock: pest@remote.test"
    );
    let bad = tern_tests::err(&ctl(&["spam", "block", "demo@example.test", "nonsense"]));
    assert!(
        bad.contains("expected a sender (user@domain) or a domain (@domain)"),
        "{bad}"
    );

    // Spam by its score, from a domain demo allows: demo's INBOX, eve's Junk.
    let (mut c, _) = smtp::Client::connect(tern.addr("smtp"), None)
        .await
        .expect("connect");
    c.expect("EHLO client.test", 250).await.expect("ehlo");
    c.expect("MAIL FROM:<x@friend.test>", 250)
        .await
        .expect("mail");
    for to in ["demo@example.test", "eve@example.test"] {
        c.expect(&format!("RCPT TO:<{to}>"), 250)
            .await
            .expect("rcpt");
    }
    let r = c
        .data(&smtp::message(
            "x@friend.test",
            "demo@example.test",
            "Cheap pills",
            "hi\r\n",
        ))
        .await
        .expect("data");
    assert_eq!(r.code, 250, "{}", r.text);
    c.cmd("QUIT").await.expect("quit");
    // Clean mail from a sender demo blocks: Junk.
    let r = send(
        &tern,
        "pest@remote.test",
        &message("pest@remote.test", "clean", "hi\r\n"),
    )
    .await;
    assert_eq!(r.code, 250, "{}", r.text);

    let count = |who: &str, mailbox: &str| tern.mailbox_count(TOKEN, who, mailbox).expect("count");
    assert_eq!(
        count("demo@example.test", "INBOX"),
        1,
        "allowed despite its score"
    );
    assert_eq!(
        count("demo@example.test", "Junk"),
        1,
        "blocked despite being clean"
    );
    assert_eq!(count("eve@example.test", "INBOX"), 0);
    assert_eq!(
        count("eve@example.test", "Junk"),
        1,
        "eve's lists are empty"
    );
    let mut c = imap::session(&tern, "demo@example.test", PASSWORD).await;
    assert!(c.cmd("EXAMINE Junk").await.expect("examine").ok());
    let r = c.cmd("FETCH 1 (FLAGS)").await.expect("fetch");
    assert!(r.all().contains("$Junk"), "{}", r.all());

    tern_tests::ok(&ctl(&[
        "spam",
        "remove",
        "demo@example.test",
        "pest@remote.test",
    ]));
    let again = tern_tests::err(&ctl(&[
        "spam",
        "remove",
        "demo@example.test",
        "pest@remote.test",
    ]));
    assert!(
        again.contains("is on neither spam list of demo@example.test"),
        "{again}"
    );
    tern.stop().expect("clean stop");
}
