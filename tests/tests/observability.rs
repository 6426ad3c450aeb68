//! What an SRE reads: metric families present at 0 from start, IMAP commands counted once, the
//! "message accepted" line naming recipients and size, the log filter changed at runtime, and
//! a per-session protocol trace that never shows a password.

use std::time::Duration;

use tern_tests::{
    Tern, err, imap, ok,
    smtp::{self, Client, message},
    ternctl,
};

const TOKEN: &str = "obs-token";
const PASSWORD: &str = "obs-password-1";

fn metric<T: std::str::FromStr>(text: &str, series: &str) -> Option<T> {
    text.lines()
        .find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok()))
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_logs_and_traces() {
    let (_d, tern) = Tern::dev(TOKEN, PASSWORD, &[]);
    let metrics = tern.get("/metrics").expect("metrics").1;
    for series in [
        "tern_pop3_sessions_total{listener=\"pop3s\"}",
        "tern_pop3_commands_total{command=\"RETR\",result=\"ok\"}",
        "tern_imap_sessions_total{listener=\"imaps\"}",
        "tern_imap_commands_total{command=\"SELECT\",result=\"ok\"}",
        "tern_smtp_messages_total{outcome=\"accepted\"}",
        "tern_smtp_auth_total{result=\"failed\"}",
        "tern_queue_entries{shard=\"63\",status=\"deferred\"}",
        "tern_queue_recipients_total{reason=\"block_list\",result=\"failed\"}",
        "tern_queue_dsn_total{kind=\"failure\"}",
        "tern_login_cache_lookups_total{result=\"hit\"}",
        "tern_sessions_kicked_total{protocol=\"imap\"}",
        "tern_queue_connections_open",
    ] {
        assert_eq!(
            metric(&metrics, series),
            Some(0),
            "{series} at 0 from start"
        );
    }
    // What the alert rules compare against: readiness, shards, session limits, the data
    // filesystem and the certificate's end (the dev certificate is valid for a year).
    for (series, expected) in [
        ("tern_node_ready", 1),
        ("tern_queue_shards", 64),
        ("tern_queue_suspended_longest_seconds", 0),
    ] {
        assert_eq!(metric::<u64>(&metrics, series), Some(expected), "{series}");
    }
    for series in [
        "tern_sessions_limit{protocol=\"smtp\"}",
        "tern_sessions_limit{protocol=\"imap\"}",
        "tern_sessions_limit{protocol=\"pop3\"}",
        "tern_data_filesystem_bytes{kind=\"size\"}",
        "tern_data_filesystem_inodes{kind=\"free\"}",
    ] {
        assert!(
            metric::<u64>(&metrics, series).is_some_and(|v| v > 0),
            "{series}"
        );
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs();
    let expiry = metric::<u64>(
        &metrics,
        "tern_tls_certificate_expiry_seconds{certificate=\"mail\"}",
    )
    .expect("certificate expiry");
    assert!(
        (now + 300 * 86400..now + 400 * 86400).contains(&expiry),
        "the dev certificate ends in about a year: {expiry}"
    );
    let clock = metric::<f64>(&metrics, "tern_node_time_seconds").expect("node time");
    assert!(
        (clock - now as f64).abs() < 60.0,
        "{clock} is the node's clock"
    );
    assert!(
        tern.log().iter().all(|l| !l.contains('\u{1b}')),
        "no colours in a piped log"
    );

    // One SELECT is one command, whatever untagged responses it sends.
    let mut c = imap::session(&tern, "demo@example.test", PASSWORD).await;
    assert!(c.cmd("SELECT INBOX").await.expect("select").ok());
    let metrics = tern.get("/metrics").expect("metrics").1;
    assert_eq!(
        metric(
            &metrics,
            "tern_imap_commands_total{command=\"SELECT\",result=\"ok\"}"
        ),
        Some(1)
    );
    assert!(c.cmd("LOGOUT").await.expect("logout").ok());

    let (mut s, _) = Client::connect(tern.addr("smtp"), None)
        .await
        .expect("smtp");
    s.expect("EHLO client.test", 250).await.expect("ehlo");
    s.expect("MAIL FROM:<someone@remote.test>", 250)
        .await
        .expect("mail");
    s.expect("RCPT TO:<demo@example.test>", 250)
        .await
        .expect("rcpt");
    s.expect("RCPT TO:<postmaster@example.test>", 250)
        .await
        .expect("rcpt");
    let r = s
        .data(&message(
            "someone@remote.test",
            "demo@example.test",
            "obs",
            "hello",
        ))
        .await
        .expect("data");
    assert_eq!(r.code, 250);
    let line = tern
        .wait_for_log("message accepted", Duration::from_secs(10))
        .expect("accepted line");
    assert!(
        line.contains("recipients=demo@example.test,postmaster@example.test")
            && line.contains("size="),
        "{line}"
    );

    // The log filter, at runtime.
    let url = tern.url();
    assert!(ok(&ternctl(&url, Some(TOKEN), &["log", "level"])).contains("info"));
    assert!(
        ok(&ternctl(
            &url,
            Some(TOKEN),
            &["log", "level", "info,smtp=debug"]
        ))
        .contains("tern::smtp=debug")
    );
    assert!(err(&ternctl(&url, Some(TOKEN), &["log", "level", "loud"])).contains("log.level"));

    // The trace of one client address: commands and replies, never the password.
    ok(&ternctl(
        &url,
        Some(TOKEN),
        &["log", "trace", "--ip", "127.0.0.1"],
    ));
    assert!(ok(&ternctl(&url, Some(TOKEN), &["log", "trace"])).contains("127.0.0.1"));
    let tls = smtp::tls_config(&tern.certificate()).expect("tls");
    let (mut s, _) = Client::connect_tls(tern.addr("submissions"), tls)
        .await
        .expect("submissions");
    s.expect("EHLO traced.test", 250).await.expect("ehlo");
    assert_eq!(
        s.auth_plain("demo@example.test", PASSWORD)
            .await
            .expect("auth")
            .code,
        235
    );
    let _ = s.cmd("QUIT").await;
    let mut c = imap::session(&tern, "demo@example.test", PASSWORD).await;
    assert!(c.cmd("EXAMINE INBOX").await.expect("examine").ok());
    assert!(c.cmd("LOGOUT").await.expect("logout").ok());
    tern.wait_for_log("C: EHLO traced.test", Duration::from_secs(10))
        .expect("SMTP command traced");
    tern.wait_for_log("S: 235", Duration::from_secs(10))
        .expect("SMTP reply traced");
    tern.wait_for_log("C: AUTH PLAIN <redacted>", Duration::from_secs(10))
        .expect("AUTH redacted");
    tern.wait_for_log(
        "LOGIN \"demo@example.test\" <redacted>",
        Duration::from_secs(10),
    )
    .expect("IMAP LOGIN redacted");
    tern.wait_for_log("EXAMINE INBOX", Duration::from_secs(10))
        .expect("IMAP command traced");
    let auth_b64 = base64_plain("demo@example.test", PASSWORD);
    for l in tern.log() {
        assert!(
            !l.contains(PASSWORD) && !l.contains(&auth_b64),
            "secret in the log: {l}"
        );
    }

    // Off: a later session is not traced. The log is one ordered stream, so once the
    // session's end is logged any trace line of it would be there already.
    ok(&ternctl(&url, Some(TOKEN), &["log", "trace", "--off"]));
    let ended = tern
        .log()
        .iter()
        .filter(|l| l.contains("SMTP session ended"))
        .count();
    let (mut s, _) = Client::connect(tern.addr("smtp"), None)
        .await
        .expect("smtp");
    s.expect("EHLO untraced.test", 250).await.expect("ehlo");
    let _ = s.cmd("QUIT").await;
    drop(s);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while tern
        .log()
        .iter()
        .filter(|l| l.contains("SMTP session ended"))
        .count()
        == ended
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the session did not end"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        tern.log().iter().all(|l| !l.contains("untraced.test")),
        "traced after --off"
    );
    tern.stop().expect("stop");
}

fn base64_plain(user: &str, password: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"))
}
