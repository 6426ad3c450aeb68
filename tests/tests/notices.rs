//! Postmaster notices: a node whose certificate ends tomorrow mails the postmaster once about
//! it (auto-generated, from MAILER-DAEMON, with what to do), not again at later evaluations
//! within the interval, and `ternctl notices` lists the condition as active.

use std::time::{Duration, Instant};

use serde_json::Value;
use tern_tests::{Tern, certs, imap, ok, smtp, ternctl};

const TOKEN: &str = "notices-admin-token";
const PASSWORD: &str = "notices-password-1";

/// Waits up to `secs` for `check`, polling every 200 ms.
async fn until(secs: u64, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check() {
        assert!(Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_certificate_ending_tomorrow_is_mailed_to_the_postmaster_once() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let (cert, key) = certs::self_signed(tmp.path(), "localhost", 1);
    let (cert_s, key_s) = (cert.display().to_string(), key.display().to_string());
    // Notices are off in the dev profile; on here, evaluated every second, at most hourly.
    let (_dir, tern) = Tern::dev(
        TOKEN,
        PASSWORD,
        &[
            ("TERN_TLS__CERTIFICATE", cert_s.as_str()),
            ("TERN_TLS__PRIVATE_KEY", key_s.as_str()),
            ("TERN_SERVER__NOTICE_INTERVAL_SECONDS", "3600"),
            ("TERN_SERVER__NOTICE_CHECK_SECONDS", "1"),
        ],
    );
    // Mail to postmaster reaches the demo account in the dev profile.
    let inbox = || {
        tern.mailbox_count(TOKEN, "demo@example.test", "INBOX")
            .expect("mailbox")
    };
    until(30, "a notice in the postmaster's inbox", || inbox() >= 1).await;
    let evaluated = tern.metric("tern_notices_evaluations_total");
    until(30, "three more evaluations", || {
        tern.metric("tern_notices_evaluations_total") >= evaluated + 3.0
    })
    .await;
    assert_eq!(
        inbox(),
        1,
        "one notice within the interval, however often it is seen"
    );
    assert_eq!(tern.metric("tern_notices_active"), 1.0);

    let tls = smtp::tls_config(&cert).expect("tls config");
    let (mut c, _) = imap::Client::connect(tern.addr("imaps"), Some(&tls))
        .await
        .expect("connect 993");
    assert!(
        c.login("demo@example.test", PASSWORD)
            .await
            .expect("login")
            .ok()
    );
    assert!(c.cmd("SELECT INBOX").await.expect("select").ok());
    let fetched = c
        .cmd("FETCH 1 (BODY[HEADER.FIELDS (FROM SUBJECT AUTO-SUBMITTED)] BODY[TEXT])")
        .await
        .expect("fetch");
    let text = fetched.all();
    assert!(
        text.contains("Subject: [Tern] warning: tls.expiry"),
        "{text}"
    );
    assert!(text.contains("Auto-Submitted: auto-generated"), "{text}");
    assert!(text.contains("MAILER-DAEMON@localhost"), "{text}");
    assert!(text.contains("What to do: renew it now"), "{text}");
    let _ = c.cmd("LOGOUT").await;

    let listed = ok(&ternctl(&tern.url(), Some(TOKEN), &["--json", "notices"]));
    let notices: Value = serde_json::from_str(&listed).expect("json");
    let notices = notices.as_array().expect("array");
    assert_eq!(notices.len(), 1, "{notices:?}");
    let n = &notices[0];
    assert_eq!(n["check"], "tls.expiry");
    assert_eq!(n["severity"], "warning");
    assert_eq!(n["state"], "active");
    assert_eq!(n["sent"], 1);
    assert!(
        n["id"]
            .as_str()
            .is_some_and(|id| id.starts_with("node-1/tls.expiry/")),
        "{n}"
    );
    let table = ok(&ternctl(&tern.url(), Some(TOKEN), &["notices"]));
    assert!(
        table.contains("tls.expiry") && table.contains("active"),
        "{table}"
    );
}
