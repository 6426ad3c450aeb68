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
    // Other conditions of the machine running the test (a data filesystem under 10 % free)
    // may add notices of their own: count only the certificate's, through `ternctl notices`
    // and the postmaster's mailbox (mail to postmaster reaches the demo account in dev).
    let tls_sent = || -> Option<u64> {
        let listed = ok(&ternctl(&tern.url(), Some(TOKEN), &["--json", "notices"]));
        let notices: Value = serde_json::from_str(&listed).expect("json");
        notices
            .as_array()
            .expect("array")
            .iter()
            .find(|n| n["check"] == "tls.expiry")
            .and_then(|n| n["sent"].as_u64())
    };
    until(30, "a certificate notice sent", || tls_sent() == Some(1)).await;
    let evaluated = tern.metric("tern_notices_evaluations_total");
    until(30, "three more evaluations", || {
        tern.metric("tern_notices_evaluations_total") >= evaluated + 3.0
    })
    .await;
    assert_eq!(
        tls_sent(),
        Some(1),
        "one notice within the interval, however often it is seen"
    );

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
    let found = c
        .cmd("SEARCH SUBJECT \"warning: tls.expiry\"")
        .await
        .expect("search");
    let hits: Vec<String> = found
        .lines("SEARCH")
        .iter()
        .flat_map(|l| l.split_whitespace().skip(1).map(str::to_string))
        .collect();
    assert_eq!(
        hits.len(),
        1,
        "one certificate notice mailed: {}",
        found.all()
    );
    let fetched = c
        .cmd(&format!(
            "FETCH {} (BODY[HEADER.FIELDS (FROM SUBJECT AUTO-SUBMITTED)] BODY[TEXT])",
            hits[0]
        ))
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
    let active = notices.iter().filter(|n| n["state"] == "active").count();
    assert_eq!(tern.metric("tern_notices_active"), active as f64);
    let n = notices
        .iter()
        .find(|n| n["check"] == "tls.expiry")
        .expect("the certificate notice");
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
