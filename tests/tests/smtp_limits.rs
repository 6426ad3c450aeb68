//! SMTP limits end to end: unknown users, quotas, sizes, recipients, line lengths, timers and
//! connections per IP, each refusal with its exact reply code, against a real
//! `tern serve --dev` on 127.0.0.1:0.

use std::time::Duration;

use serde_json::json;
use tern_tests::{
    Tern,
    smtp::{Client, code, ehlo, message},
};

const TOKEN: &str = "smtp-test-token";
const PASSWORD: &str = "demo-password";

fn start(extra: &[(&str, &str)]) -> (tempfile::TempDir, Tern) {
    Tern::dev(TOKEN, PASSWORD, extra)
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_users_quota_and_size_limits() {
    let (_d, tern) = start(&[("TERN_SMTP__MAX_MESSAGE_BYTES", "20000")]);
    tern.api_send(
        TOKEN,
        "PUT",
        "/accounts/demo@example.test/quota",
        json!({ "bytes": 3000 }),
    )
    .expect("quota");
    let mut c = ehlo(tern.addr("smtp")).await;
    assert_eq!(
        code(
            &c.cmd("MAIL FROM:<a@remote.test> SIZE=999999")
                .await
                .expect("mail")
        ),
        "552 5.3.4"
    );
    c.expect("MAIL FROM:<a@remote.test> SIZE=5000", 250)
        .await
        .expect("mail");
    assert_eq!(
        code(&c.cmd("RCPT TO:<ghost@example.test>").await.expect("rcpt")),
        "550 5.1.1"
    );
    assert_eq!(
        code(&c.cmd("RCPT TO:<demo@example.test>").await.expect("rcpt")),
        "452 4.2.2",
        "declared size over quota"
    );
    c.expect("RSET", 250).await.expect("rset");
    c.expect("MAIL FROM:<a@remote.test>", 250)
        .await
        .expect("mail");
    c.expect("RCPT TO:<demo@example.test>", 250)
        .await
        .expect("size unknown at RCPT");
    let big = message(
        "a@remote.test",
        "demo@example.test",
        "big",
        &"x".repeat(4000),
    );
    let r = c.data(&big).await.expect("data");
    assert_eq!(
        code(&r),
        "452 4.2.2",
        "real size over quota at end of data: {}",
        r.text
    );
    c.expect("MAIL FROM:<a@remote.test>", 250)
        .await
        .expect("mail");
    c.expect("RCPT TO:<demo@example.test>", 250)
        .await
        .expect("rcpt");
    assert_eq!(
        c.data(&message(
            "a@remote.test",
            "demo@example.test",
            "fits",
            "small"
        ))
        .await
        .expect("data")
        .code,
        250
    );
    // Over the message size limit: refused as soon as the limit is passed, the rest unread,
    // and the connection closed.
    tern.api_send(TOKEN, "PUT", "/accounts/demo@example.test/quota", json!({}))
        .expect("unlimited");
    c.expect("MAIL FROM:<a@remote.test>", 250)
        .await
        .expect("mail");
    c.expect("RCPT TO:<demo@example.test>", 250)
        .await
        .expect("rcpt");
    let huge = message(
        "a@remote.test",
        "demo@example.test",
        "huge",
        &"y".repeat(30_000),
    );
    assert_eq!(code(&c.data(&huge).await.expect("data")), "552 5.3.4");
    assert!(
        c.closed().await,
        "the connection closes after an oversize body"
    );
    assert_eq!(
        tern.mailbox_count(TOKEN, "demo@example.test", "INBOX")
            .expect("inbox"),
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn full_mailbox_is_permanent_when_configured() {
    let (_d, tern) = start(&[("TERN_SMTP__QUOTA_FAILURE", "permanent")]);
    tern.api_send(
        TOKEN,
        "PUT",
        "/accounts/demo@example.test/quota",
        json!({ "messages": 0 }),
    )
    .expect("quota");
    let mut c = ehlo(tern.addr("smtp")).await;
    c.expect("MAIL FROM:<a@remote.test>", 250)
        .await
        .expect("mail");
    let r = c.cmd("RCPT TO:<demo@example.test>").await.expect("rcpt");
    assert_eq!(code(&r), "552 5.2.2");
    assert!(r.text.contains("quota exceeded"), "{}", r.text);
}

#[tokio::test(flavor = "multi_thread")]
async fn recipient_error_and_line_limits() {
    let (_d, tern) = start(&[
        ("TERN_SMTP__MAX_RECIPIENTS", "2"),
        ("TERN_SMTP__MAX_ERRORS", "6"),
    ]);
    let mut c = ehlo(tern.addr("smtp")).await;
    assert_eq!(code(&c.cmd("DATA").await.expect("data")), "503 5.5.1");
    assert_eq!(
        code(&c.cmd("RCPT TO:<demo@example.test>").await.expect("rcpt")),
        "503 5.5.1"
    );
    c.expect("MAIL FROM:<a@remote.test>", 250)
        .await
        .expect("mail");
    assert_eq!(
        code(&c.cmd("DATA").await.expect("data")),
        "554 5.5.1",
        "no recipients yet"
    );
    c.expect("RCPT TO:<demo@example.test>", 250)
        .await
        .expect("1");
    c.expect("RCPT TO:<demo@example.test>", 250)
        .await
        .expect("2");
    assert_eq!(
        code(&c.cmd("RCPT TO:<demo@example.test>").await.expect("rcpt")),
        "452 4.5.3"
    );
    let long = format!("NOOP {}", "z".repeat(5000));
    assert_eq!(code(&c.cmd(&long).await.expect("long")), "500 5.5.2");
    c.expect("NOOP", 250)
        .await
        .expect("in sync after an overlong line");
    assert_eq!(
        code(&c.cmd("FROBNICATE").await.expect("unknown")),
        "500 5.5.1"
    );
    // Errors so far: DATA, RCPT, DATA, long line, unknown = 5; the sixth closes.
    let r = c.cmd("MAIL FROM:<bad address>").await.expect("bad");
    assert_eq!(r.code, 501, "{}", r.text);
    assert_eq!(code(&c.read().await.expect("421")), "421 4.7.0");
    assert!(c.closed().await);
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_and_session_time_limits_close_with_421() {
    let (_d, tern) = start(&[
        ("TERN_SMTP__IDLE_TIMEOUT_SECONDS", "1"),
        ("TERN_SMTP__MAX_SESSION_SECONDS", "3"),
    ]);
    let mut idle = ehlo(tern.addr("smtp")).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        code(&idle.read().await.expect("timeout reply")),
        "421 4.4.2"
    );
    assert!(idle.closed().await);

    let mut busy = ehlo(tern.addr("smtp")).await;
    let mut last = None;
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(400)).await;
        let r = busy.cmd("NOOP").await.expect("noop");
        if r.code != 250 {
            last = Some(r);
            break;
        }
    }
    let r = last.expect("session limit reached");
    assert_eq!(code(&r), "421 4.4.2");
    assert!(r.text.contains("Session time limit"), "{}", r.text);
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_per_ip_are_limited() {
    let (_d, tern) = start(&[
        ("TERN_SMTP__MAX_CONNECTIONS_PER_IP", "2"),
        ("TERN_SMTP__TRUSTED_NETWORKS", "127.0.0.2/32"),
    ]);
    let _a = ehlo(tern.addr("smtp")).await;
    let _b = ehlo(tern.addr("smtp")).await;
    let (mut third, greeting) = Client::connect(tern.addr("smtp"), None)
        .await
        .expect("connect");
    assert_eq!(code(&greeting), "421 4.7.0");
    assert!(
        greeting
            .text
            .contains("Too many connections from your address")
    );
    assert!(third.closed().await);
    let metrics = tern.get("/metrics").expect("metrics").1;
    assert!(
        metrics.contains("tern_smtp_connections_refused_total{reason=\"per_ip\"} 1"),
        "{metrics}"
    );
    // A relay in smtp.trusted_networks is not held to the per-IP limit.
    let mut relay = Vec::new();
    for _ in 0..3 {
        let socket = tokio::net::TcpSocket::new_v4().expect("socket");
        socket
            .bind("127.0.0.2:0".parse().expect("addr"))
            .expect("bind");
        let stream = socket.connect(tern.addr("smtp")).await.expect("connect");
        let (c, greeting) = Client::over(Box::new(stream), None)
            .await
            .expect("greeting");
        assert_eq!(greeting.code, 220, "{greeting:?}");
        relay.push(c);
    }
}
