//! Failed logins must not tell an attacker which accounts exist: a login naming no account
//! takes as long as a wrong password for a real one (SMTP AUTH and IMAP LOGIN, medians of
//! alternating attempts within a factor of three; before, the unknown one came back in about a
//! millisecond against the hash's tens to hundreds), and a bare local part shared by several
//! accounts is refused without naming them.

use std::time::{Duration, Instant};

use tern_tests::{
    Tern, imap, ok,
    smtp::{Client, tls_config},
    ternctl,
};

const TOKEN: &str = "enum-token";
const PASSWORD: &str = "demo-password";
const ROUNDS: usize = 7;

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn assert_close(what: &str, unknown: Duration, known: Duration) {
    println!("{what}: unknown login median {unknown:?}, wrong password median {known:?}");
    let ratio = unknown.as_secs_f64() / known.as_secs_f64();
    assert!(
        (1.0 / 3.0..3.0).contains(&ratio),
        "{what}: an unknown login ({unknown:?}) and a wrong password ({known:?}) must cost the same"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_logins_cost_what_wrong_passwords_cost() {
    let (_dir, tern) = Tern::dev(
        TOKEN,
        PASSWORD,
        &[
            ("TERN_SMTP__MAX_AUTH_FAILURES", "100"),
            ("TERN_SMTP__MAX_ERRORS", "100"),
            ("TERN_IMAP__MAX_AUTH_FAILURES", "100"),
            ("TERN_IMAP__AUTH_FAILURE_DELAY_MS", "0"),
        ],
    );
    let tls = tls_config(&tern.certificate()).expect("tls");

    let (mut c, _) = Client::connect_tls(tern.addr("submissions"), tls.clone())
        .await
        .expect("465");
    c.expect("EHLO client.test", 250).await.expect("ehlo");
    let (mut unknown, mut known) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        for (login, into) in [
            ("nobody@example.test", &mut unknown),
            ("demo@example.test", &mut known),
        ] {
            let t = Instant::now();
            let r = c.auth_plain(login, "wrong-password").await.expect("auth");
            into.push(t.elapsed());
            assert_eq!(r.code, 535, "{}", r.text);
        }
    }
    assert_close("SMTP AUTH", median(unknown), median(known));

    let (mut i, _) = imap::Client::connect(tern.addr("imaps"), Some(&tls))
        .await
        .expect("993");
    let (mut unknown, mut known) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        for (login, into) in [
            ("nobody@example.test", &mut unknown),
            ("demo@example.test", &mut known),
        ] {
            let t = Instant::now();
            let r = i.login(login, "wrong-password").await.expect("login");
            into.push(t.elapsed());
            assert_eq!(
                r.status,
                "NO [AUTHENTICATIONFAILED] invalid user name or password"
            );
        }
    }
    assert_close("IMAP LOGIN", median(unknown), median(known));

    // A bare local part of two accounts, one of no account: the same answer, no address.
    ok(&ternctl(
        &tern.url(),
        Some(TOKEN),
        &["domain", "add", "other.test"],
    ));
    ok(&ternctl(
        &tern.url(),
        Some(TOKEN),
        &[
            "account",
            "add",
            "demo@other.test",
            "--password",
            "other-password",
        ],
    ));
    let shared = i.login("demo", PASSWORD).await.expect("login");
    let nobody = i.login("nobody", PASSWORD).await.expect("login");
    assert_eq!(
        shared.status,
        "NO [AUTHENTICATIONFAILED] invalid user name or password; log in with the full address"
    );
    assert_eq!(nobody.status, shared.status);
    tern.stop().expect("stop");
}
