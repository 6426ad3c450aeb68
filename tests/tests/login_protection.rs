//! Protection of logins against password guessing (`[security]`) on a running server: failures
//! from one address past `ip_ban_after` ban it on IMAP, SMTP AUTH and POP3 alike — the right
//! password included — with `* BYE`, `421 4.7.0` and `-ERR [AUTH]` saying why and for how long;
//! `ternctl security bans` lists the ban and `ternctl security lift` ends it. Failures for one
//! account past `account_ban_after` ban the account for addresses that never logged in to it,
//! while the address its owner logged in from keeps working.

use std::{net::IpAddr, sync::Arc};

use tern_tests::{Tern, err, imap, ok, pop3, smtp, ternctl};

const TOKEN: &str = "security-token";
const PASSWORD: &str = "demo-password";
const USER: &str = "demo@example.test";

fn start(extra: &[(&str, &str)]) -> (tempfile::TempDir, Tern) {
    let mut env = vec![("TERN_SECURITY__LOGIN_DELAY_STEP_MS", "20")];
    env.extend_from_slice(extra);
    Tern::dev(TOKEN, PASSWORD, &env)
}

fn tls(tern: &Tern) -> Arc<rustls::ClientConfig> {
    smtp::tls_config(&tern.certificate()).expect("tls config")
}

/// One IMAP LOGIN from `from` on a new connection: the tagged answer, or the `* BYE` line.
async fn imap_login(tern: &Tern, from: &str, password: &str) -> String {
    let from: IpAddr = from.parse().expect("ip");
    let (mut c, _) = imap::Client::connect_from(tern.addr("imaps"), Some(from), Some(&tls(tern)))
        .await
        .expect("connect");
    c.send(format!("a1 LOGIN \"{USER}\" \"{password}\"\r\n").as_bytes())
        .await
        .expect("send");
    loop {
        let line = c.line().await.expect("answer");
        if line.starts_with("a1 ") || line.starts_with("* BYE") {
            return line;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_that_fails_too_often_is_banned_everywhere_until_lifted() {
    let (_dir, tern) = start(&[
        ("TERN_SECURITY__IP_BAN_AFTER", "4"),
        ("TERN_SECURITY__LOGIN_DELAY_AFTER", "2"),
    ]);
    let metric = |m: &str| tern.metric(m);
    assert_eq!(
        metric("tern_login_bans_total{kind=\"ip\"}"),
        0.0,
        "at 0 from start"
    );
    for _ in 0..4 {
        let a = imap_login(&tern, "127.0.0.1", "wrong-password").await;
        assert!(a.starts_with("a1 NO [AUTHENTICATIONFAILED]"), "{a}");
    }
    let want = "too many failed logins from 127.0.0.1; try again in 15 minutes";
    assert_eq!(
        imap_login(&tern, "127.0.0.1", PASSWORD).await,
        format!("* BYE {want}"),
        "the right password is not even checked"
    );
    // SMTP AUTH on the submission port.
    let (mut c, _) = smtp::Client::connect_tls(tern.addr("submissions"), tls(&tern))
        .await
        .expect("connect");
    c.expect("EHLO client.test", 250).await.expect("ehlo");
    let r = c.auth_plain(USER, PASSWORD).await.expect("auth");
    assert_eq!(r.text, format!("421 4.7.0 {want}"));
    assert!(c.closed().await, "the session ends");
    // POP3.
    let (mut p, _) = pop3::Client::connect(tern.addr("pop3s"), Some(&tls(&tern)))
        .await
        .expect("connect");
    assert_eq!(
        p.login(USER, PASSWORD).await.expect("login"),
        format!("-ERR [AUTH] {want}")
    );
    assert!(p.closed().await, "the session ends");
    assert_eq!(metric("tern_login_bans_total{kind=\"ip\"}"), 1.0);
    assert_eq!(metric("tern_login_banned_total{kind=\"ip\"}"), 3.0);
    assert_eq!(
        metric("tern_login_delayed_total"),
        2.0,
        "the third and fourth failures waited"
    );
    assert_eq!(metric("tern_smtp_auth_total{result=\"banned\"}"), 1.0);

    // Listed, lifted, and the failures before it no longer count.
    let url = tern.url();
    let listed = ok(&ternctl(&url, Some(TOKEN), &["security", "bans"]));
    assert!(
        listed.contains("127.0.0.1") && listed.contains("4 failed logins within 900 s"),
        "{listed}"
    );
    let json: serde_json::Value = serde_json::from_str(&ok(&ternctl(
        &url,
        Some(TOKEN),
        &["--json", "security", "bans"],
    )))
    .expect("json");
    assert_eq!(json[0]["kind"], "ip");
    assert_eq!(json[0]["subject"], "127.0.0.1");
    ok(&ternctl(
        &url,
        Some(TOKEN),
        &["security", "lift", "ip", "127.0.0.1"],
    ));
    let again = err(&ternctl(
        &url,
        Some(TOKEN),
        &["security", "lift", "ip", "127.0.0.1"],
    ));
    assert!(again.contains("no ip ban of 127.0.0.1 in force"), "{again}");
    let bad = err(&ternctl(
        &url,
        Some(TOKEN),
        &["security", "lift", "host", "x"],
    ));
    assert!(bad.contains("expected \"ip\" or \"account\""), "{bad}");
    assert!(
        imap_login(&tern, "127.0.0.1", PASSWORD)
            .await
            .starts_with("a1 OK"),
        "lifted"
    );
    let a = imap_login(&tern, "127.0.0.1", "wrong-password").await;
    assert!(a.starts_with("a1 NO"), "counting starts again: {a}");
    tern.stop().expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_ban_spares_the_addresses_its_owner_uses() {
    let (_dir, tern) = start(&[
        ("TERN_SECURITY__IP_BAN_AFTER", "100"),
        ("TERN_SECURITY__ACCOUNT_BAN_AFTER", "3"),
    ]);
    // The owner logs in from 127.0.0.2.
    assert!(
        imap_login(&tern, "127.0.0.2", PASSWORD)
            .await
            .starts_with("a1 OK")
    );
    // Someone guesses from 127.0.0.3.
    for _ in 0..3 {
        let a = imap_login(&tern, "127.0.0.3", "guess").await;
        assert!(a.starts_with("a1 NO"), "{a}");
    }
    let bye = imap_login(&tern, "127.0.0.3", PASSWORD).await;
    assert_eq!(
        bye,
        "* BYE logins to demo@example.test are blocked after too many failed attempts; try \
         again in 15 minutes, or from an address it logged in from before"
    );
    assert!(
        imap_login(&tern, "127.0.0.4", PASSWORD)
            .await
            .starts_with("* BYE logins to demo@example.test are blocked"),
        "a new address is banned too"
    );
    assert!(
        imap_login(&tern, "127.0.0.2", PASSWORD)
            .await
            .starts_with("a1 OK"),
        "the owner's address still logs in"
    );
    assert_eq!(tern.metric("tern_login_bans_total{kind=\"account\"}"), 1.0);
    assert_eq!(tern.metric("tern_login_bans_total{kind=\"ip\"}"), 0.0);
    let listed = ok(&ternctl(&tern.url(), Some(TOKEN), &["security", "bans"]));
    assert!(
        listed.contains("account") && listed.contains(USER),
        "{listed}"
    );
    tern.stop().expect("clean stop");
}
