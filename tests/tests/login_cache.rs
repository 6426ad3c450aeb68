//! The verified-credential cache end to end: a second login with the same password is served
//! from it (metrics say so), a wrong password is still refused, and a password change makes
//! the old password fail at once over IMAP, POP3 and SMTP AUTH.

use serde_json::json;
use tern_tests::{Tern, imap, pop3, smtp};

const TOKEN: &str = "cache-token";
const PASSWORD: &str = "first-password";

fn metric(tern: &Tern, line: &str) -> u64 {
    let text = tern.get("/metrics").expect("metrics").1;
    text.lines()
        .find_map(|l| {
            l.strip_prefix(line)
                .map(|v| v.trim().parse().expect("number"))
        })
        .unwrap_or_else(|| panic!("no {line} in metrics"))
}

async fn imap_login(tern: &Tern, password: &str) -> bool {
    let tls = smtp::tls_config(&tern.certificate()).expect("tls");
    let (mut c, _) = imap::Client::connect(tern.addr("imaps"), Some(&tls))
        .await
        .expect("connect");
    let ok = c
        .login("demo@example.test", password)
        .await
        .expect("login")
        .ok();
    let _ = c.cmd("LOGOUT").await;
    ok
}

#[tokio::test(flavor = "multi_thread")]
async fn cached_logins_end_when_the_password_changes() {
    let (_d, tern) = Tern::dev(TOKEN, PASSWORD, &[]);
    let hits = "tern_login_cache_lookups_total{result=\"hit\"}";
    assert_eq!(metric(&tern, hits), 0, "exported at 0 from start");
    assert!(imap_login(&tern, PASSWORD).await);
    let checks = metric(&tern, "tern_password_checks_total{outcome=\"match\"}");
    assert!(imap_login(&tern, PASSWORD).await);
    assert_eq!(
        metric(&tern, hits),
        1,
        "the second login came from the cache"
    );
    assert_eq!(
        metric(&tern, "tern_password_checks_total{outcome=\"match\"}"),
        checks,
        "without another Argon2id check"
    );
    assert!(
        !imap_login(&tern, "not-the-password").await,
        "a wrong password is refused"
    );

    tern.api_send(
        TOKEN,
        "PUT",
        "/accounts/demo@example.test/password",
        json!({ "password": "second-password" }),
    )
    .expect("change password");
    assert!(
        !imap_login(&tern, PASSWORD).await,
        "the old password fails over IMAP"
    );
    let tls = smtp::tls_config(&tern.certificate()).expect("tls");
    let (mut p, _) = pop3::Client::connect(tern.addr("pop3s"), Some(&tls))
        .await
        .expect("pop3");
    assert!(
        p.login("demo@example.test", PASSWORD)
            .await
            .expect("pass")
            .starts_with("-ERR"),
        "and over POP3"
    );
    let (mut s, _) = smtp::Client::connect_tls(tern.addr("submissions"), tls.clone())
        .await
        .expect("smtp");
    s.expect("EHLO client.test", 250).await.expect("ehlo");
    assert_eq!(
        s.auth_plain("demo@example.test", PASSWORD)
            .await
            .expect("auth")
            .code,
        535,
        "and over SMTP AUTH"
    );
    assert!(
        imap_login(&tern, "second-password").await,
        "the new one works"
    );
    tern.stop().expect("stop");
}
