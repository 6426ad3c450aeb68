//! The IMAP refusals not covered with the commands they belong to: extension misuse (QRESYNC,
//! VANISHED), BINARY of an unknown transfer encoding, empty APPEND, IDLE ended wrongly, SASL
//! errors, writes to an EXAMINEd mailbox, unsupported LIST options and commands, missing
//! mailboxes, the mailbox limit, the node connection limit, autologout and shutdown.

use std::time::Duration;

use tern_tests::{
    Tern,
    imap::{self, Client},
    smtp,
};

const TOKEN: &str = "imap-token";
const PASSWORD: &str = "demo-password";

fn b64(s: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

const UUENCODED: &str = "Subject: old style\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nsee attachment\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 a\r\nend\r\n--b--\r\n";

#[tokio::test(flavor = "multi_thread")]
async fn remaining_refusals_have_their_codes() {
    let (_dir, tern) = Tern::dev(TOKEN, PASSWORD, &[("TERN_IMAP__MAX_MAILBOXES", "8")]);
    let mut c = imap::session(&tern, "demo@example.test", PASSWORD).await;
    let expect = |r: &imap::Reply, start: &str, text: &str| {
        assert!(
            r.status.starts_with(start) && r.status.contains(text),
            "want {start} … {text}: {}",
            r.all()
        );
    };

    let r = c
        .cmd("SELECT INBOX (QRESYNC (1 1))")
        .await
        .expect("qresync");
    expect(&r, "BAD", "QRESYNC parameter without ENABLE QRESYNC");
    let r = c
        .cmd_literal("APPEND INBOX", UUENCODED.as_bytes())
        .await
        .expect("append");
    assert!(r.ok(), "{}", r.all());
    let r = c.cmd_literal("APPEND INBOX", b"").await.expect("empty");
    expect(&r, "NO [CANNOT]", "an empty message cannot be appended");
    let r = c
        .cmd_literal("APPEND INBOX (\\Recent)", b"Subject: x\r\n\r\ny\r\n")
        .await
        .expect("recent");
    expect(&r, "BAD", "keywords can be set");
    assert!(c.cmd("SELECT INBOX").await.expect("select").ok());
    let r = c
        .cmd("UID FETCH 1:* FLAGS (CHANGEDSINCE 1 VANISHED)")
        .await
        .expect("vanished");
    expect(
        &r,
        "BAD",
        "VANISHED needs UID FETCH, CHANGEDSINCE and ENABLE QRESYNC",
    );
    let r = c.cmd("FETCH 1 BINARY.PEEK[2]").await.expect("binary");
    expect(&r, "NO [UNKNOWN-CTE]", "Content-Transfer-Encoding");

    c.send(b"i1 IDLE\r\n").await.expect("idle");
    assert!(c.line().await.expect("continuation").starts_with('+'));
    c.send(b"x NOOP\r\n").await.expect("not done");
    let r = c.until("i1").await.expect("idle refused");
    expect(&r, "BAD", "expected DONE to end IDLE");
    assert!(c.cmd("NOOP").await.expect("noop after").ok());

    let r = c.cmd("EXAMINE INBOX").await.expect("examine");
    assert!(r.ok());
    let r = c.cmd("MOVE 1 Archive").await.expect("move");
    expect(&r, "NO [READ-ONLY]", "EXAMINE");
    let r = c.cmd("EXPUNGE").await.expect("expunge");
    expect(&r, "NO [READ-ONLY]", "EXAMINE");

    let r = c
        .cmd("LIST \"\" \"*\" RETURN (STATUS (COLOUR))")
        .await
        .expect("list-status");
    expect(&r, "BAD", "unsupported STATUS item");
    let r = c.cmd("LIST (FOO) \"\" \"*\"").await.expect("selection");
    expect(&r, "BAD [CANNOT]", "unsupported LIST selection option FOO");
    let r = c.cmd("THREAD FOLDERS UTF-8 ALL").await.expect("thread");
    expect(&r, "BAD", "unknown threading algorithm FOLDERS");
    let r = c.cmd("STATUS Nowhere (MESSAGES)").await.expect("status");
    expect(&r, "NO [NONEXISTENT]", "no mailbox named Nowhere");
    let r = c.cmd("GETQUOTAROOT Nowhere").await.expect("quotaroot");
    expect(&r, "NO [NONEXISTENT]", "no mailbox named Nowhere");
    let r = c.cmd("SUBSCRIBE Nowhere").await.expect("subscribe");
    expect(&r, "NO [NONEXISTENT]", "Nowhere does not exist");
    assert!(c.cmd("CREATE One").await.expect("7th").ok());
    assert!(c.cmd("CREATE Two").await.expect("8th").ok());
    let r = c.cmd("CREATE Three").await.expect("9th");
    expect(&r, "NO [LIMIT]", "at most 8 mailboxes (imap.max_mailboxes)");

    // SASL: a different authorization identity, a malformed PLAIN message, bad base64.
    let tls = smtp::tls_config(&tern.certificate()).expect("tls");
    let (mut c, _) = Client::connect(tern.addr("imaps"), Some(&tls))
        .await
        .expect("993");
    let other = b64(format!("someone@example.test\0demo@example.test\0{PASSWORD}").as_bytes());
    let r = c
        .cmd(&format!("AUTHENTICATE PLAIN {other}"))
        .await
        .expect("authzid");
    expect(
        &r,
        "NO [AUTHENTICATIONFAILED]",
        "authorization identity differs",
    );
    let r = c
        .cmd(&format!("AUTHENTICATE PLAIN {}", b64(b"no separators")))
        .await
        .expect("plain");
    expect(&r, "BAD", "malformed PLAIN response");
    c.send(b"a9 AUTHENTICATE PLAIN\r\n").await.expect("send");
    c.line().await.expect("continuation");
    c.send(b"!!!\r\n").await.expect("garbage");
    let r = c.until("a9").await.expect("base64");
    expect(&r, "BAD", "not valid base64");
    tern.stop().expect("stop");
}

/// The next line is the autologout's BYE.
async fn logged_out(c: &mut Client) {
    let bye = c.line_within(Duration::from_secs(10)).await.expect("read");
    assert!(
        bye.as_deref()
            .is_some_and(|l| l.starts_with("* BYE") && l.contains("autologout")),
        "{bye:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn node_limit_autologout_and_shutdown_say_bye() {
    let (_dir, tern) = Tern::dev(
        TOKEN,
        PASSWORD,
        &[
            ("TERN_IMAP__MAX_CONNECTIONS", "2"),
            ("TERN_IMAP__IDLE_TIMEOUT_SECONDS", "2"),
        ],
    );
    let tls = smtp::tls_config(&tern.certificate()).expect("tls");
    let (mut idle, _) = Client::connect(tern.addr("imaps"), Some(&tls))
        .await
        .expect("first");
    let (filler, _) = Client::connect(tern.addr("imaps"), Some(&tls))
        .await
        .expect("second");
    let tcp = tokio::net::TcpStream::connect(tern.addr("imap"))
        .await
        .expect("third");
    let mut line = String::new();
    let mut r = tokio::io::BufReader::new(tcp);
    tokio::io::AsyncBufReadExt::read_line(&mut r, &mut line)
        .await
        .expect("read");
    assert!(
        line.starts_with("* BYE [UNAVAILABLE] too many connections"),
        "{line}"
    );

    drop(filler);
    // A silent session is logged out after the idle timeout.
    logged_out(&mut idle).await;
    // So is a client left in IDLE (RFC 2177: clients re-issue IDLE within the timeout).
    let mut idling = imap::session(&tern, "demo@example.test", PASSWORD).await;
    assert!(idling.cmd("SELECT INBOX").await.expect("select").ok());
    idling.send(b"i IDLE\r\n").await.expect("idle");
    assert!(idling.line().await.expect("continuation").starts_with('+'));
    logged_out(&mut idling).await;
    drop(idling);

    // Shutdown tells an open session before closing it.
    let (mut waiting, _) = Client::connect(tern.addr("imaps"), Some(&tls))
        .await
        .expect("again");
    assert!(
        waiting
            .login("demo@example.test", PASSWORD)
            .await
            .expect("login")
            .ok()
    );
    let stopping = tokio::task::spawn_blocking(move || tern.stop());
    let mut seen = Vec::new();
    while let Ok(Some(l)) = waiting.line_within(Duration::from_secs(10)).await {
        seen.push(l);
    }
    assert!(
        seen.iter()
            .any(|l| l.starts_with("* BYE [UNAVAILABLE]") && l.contains("shutting down")),
        "{seen:?}"
    );
    stopping.await.expect("join").expect("stop");
}
