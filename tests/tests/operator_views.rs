//! What an operator sees and changes with `ternctl`: an account's forward, the aliases that
//! reach it, its usage and permissions (send-as-any among them, with its effect on MAIL FROM),
//! and the POP3 maildrop locks, listed and broken.

use std::time::Duration;

use tern_tests::{Tern, ok, outbound::submission, pop3, smtp, ternctl};

const TOKEN: &str = "views-token";
const PASSWORD: &str = "views-password";

#[tokio::test(flavor = "multi_thread")]
async fn account_views_permissions_and_pop3_locks() {
    let (_d, tern) = Tern::dev(TOKEN, PASSWORD, &[("TERN_POP3__LOCK_LEASE_SECONDS", "4")]);
    let url = tern.url();
    let ctl = |args: &[&str]| ternctl(&url, Some(TOKEN), args);
    ok(&ctl(&[
        "alias",
        "set",
        "team@example.test",
        "demo@example.test",
    ]));
    ok(&ctl(&[
        "forward",
        "set",
        "demo@example.test",
        "me@elsewhere.test",
        "--keep-copy",
    ]));
    ok(&ctl(&[
        "account",
        "quota",
        "demo@example.test",
        "--bytes",
        "1048576",
    ]));
    let shown = ok(&ctl(&["account", "show", "demo@example.test"]));
    for line in [
        "Address        demo@example.test",
        "of 1.0 MiB",
        "may create mailboxes, sends as its own addresses only",
        "Forward        me@elsewhere.test (a copy is kept)",
        "postmaster@example.test",
        "team@example.test",
    ] {
        assert!(shown.contains(line), "no {line:?} in\n{shown}");
    }

    // Send-as-any: refused before, accepted after.
    let mut c = submission(tern.addr("submission"), &tern.certificate(), PASSWORD).await;
    assert_eq!(
        c.cmd("MAIL FROM:<ceo@other.test>")
            .await
            .expect("mail")
            .code,
        553
    );
    let set = ok(&ctl(&[
        "account",
        "permissions",
        "demo@example.test",
        "--send-as-any",
        "true",
    ]));
    assert!(set.contains("true"), "{set}");
    let mut c = submission(tern.addr("submission"), &tern.certificate(), PASSWORD).await;
    assert_eq!(
        c.cmd("MAIL FROM:<ceo@other.test>")
            .await
            .expect("mail")
            .code,
        250
    );
    assert!(
        ok(&ctl(&["account", "show", "demo@example.test"])).contains("may send as any address")
    );
    assert!(
        tern_tests::err(&ctl(&["account", "permissions", "demo@example.test"]))
            .contains("--send-as-any")
    );

    // A POP3 session holds the maildrop lock: listed, then broken by the operator.
    let tls = smtp::tls_config(&tern.certificate()).expect("tls");
    let (mut first, _) = pop3::Client::connect(tern.addr("pop3s"), Some(&tls))
        .await
        .expect("pop3");
    assert!(
        first
            .login("demo@example.test", PASSWORD)
            .await
            .expect("login")
            .starts_with("+OK")
    );
    let locks = ok(&ctl(&["pop3", "locks"]));
    assert!(
        locks.contains("demo@example.test") && locks.contains("UTC (in "),
        "{locks}"
    );
    assert!(ok(&ctl(&["pop3", "unlock", "demo@example.test"])).contains("broken"));
    let (mut second, _) = pop3::Client::connect(tern.addr("pop3s"), Some(&tls))
        .await
        .expect("pop3");
    assert!(
        second
            .login("demo@example.test", PASSWORD)
            .await
            .expect("login")
            .starts_with("+OK"),
        "the maildrop is free at once"
    );
    // The first session finds its lock gone at its next renewal and ends.
    let ended = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            match first.line().await {
                Ok(l) if l.starts_with("-ERR") => return true,
                Ok(_) => continue,
                Err(_) => return true,
            }
        }
    })
    .await
    .unwrap_or(false);
    assert!(ended, "the session whose lock was broken ended");
    assert!(tern_tests::err(&ctl(&["pop3", "unlock", "nobody@example.test"])).contains("HTTP 404"));
    tern.stop().expect("stop");
}
