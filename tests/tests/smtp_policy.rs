//! SMTP policy end to end: relay control (the open-relay and evasion set: percent hack, source
//! routes, bang paths, quoted local parts, IP literals, a spoofed local sender), submission (TLS, AUTH, owned senders), AUTH failures,
//! PIPELINING and BDAT, SMTPUTF8 and command edge cases, each refusal with its exact reply code,
//! against a real `tern serve --dev` on 127.0.0.1:0 (the limits are in `smtp_limits.rs`).

use serde_json::json;
use tern_tests::{
    Tern,
    smtp::{Client, code, ehlo, message, tls_config},
};

const TOKEN: &str = "smtp-test-token";
const PASSWORD: &str = "demo-password";

fn start(extra: &[(&str, &str)]) -> (tempfile::TempDir, Tern) {
    Tern::dev(TOKEN, PASSWORD, extra)
}

#[tokio::test(flavor = "multi_thread")]
async fn unauthenticated_clients_cannot_relay() {
    let (_d, tern) = start(&[]);
    let mut c = ehlo(tern.addr("smtp")).await;
    c.expect("MAIL FROM:<someone@remote.test>", 250)
        .await
        .expect("mail");
    for (rcpt, want) in [
        ("<x@remote.test>", "554 5.7.1"),
        // Source route: the final host is remote, so it is relaying.
        ("<@example.test:x@remote.test>", "554 5.7.1"),
        ("<@example.test,@other.test:x@remote.test>", "554 5.7.1"),
        // Percent hack, bang path, quoted @: local addresses nobody owns, never relayed.
        ("<x%remote.test@example.test>", "550 5.1.1"),
        ("<remote.test!x@example.test>", "550 5.1.1"),
        ("<\"x@remote.test\"@example.test>", "550 5.1.1"),
        ("<nobody@example.test>", "550 5.1.1"),
    ] {
        let r = c.cmd(&format!("RCPT TO:{rcpt}")).await.expect("rcpt");
        assert_eq!(code(&r), want, "RCPT TO:{rcpt} -> {}", r.text);
    }
    let r = c.cmd("RCPT TO:<x@remote.test>").await.expect("rcpt");
    assert!(
        r.text.contains("Relay access denied")
            && r.text
                .contains("authenticate (AUTH) on the submission port 587"),
        "{}",
        r.text
    );
    c.expect("RCPT TO:<demo@example.test>", 250)
        .await
        .expect("local rcpt");
    assert_eq!(
        c.data(&message(
            "someone@remote.test",
            "demo@example.test",
            "relaytest",
            "hi"
        ))
        .await
        .expect("data")
        .code,
        250
    );
    assert_eq!(
        tern.api(TOKEN, "/queue").expect("queue")["entries"],
        json!([]),
        "nothing was queued for relay"
    );
    // A sender claiming a local address from outside relays no better; address literals and
    // a trailing dot are not taken as mail domains at all (refused as syntax); another case
    // is still the remote domain.
    let mut c = ehlo(tern.addr("smtp")).await;
    c.expect("MAIL FROM:<demo@example.test>", 250)
        .await
        .expect("mail");
    for (rcpt, want) in [
        ("<x@remote.test>", "554 5.7.1"),
        ("<x@[192.0.2.1]>", "501 5.1.3"),
        ("<x@[127.0.0.1]>", "501 5.1.3"),
        ("<x@[IPv6:2001:db8::1]>", "501 5.1.3"),
        ("<x@remote.test.>", "501 5.1.3"),
        ("<x@REMOTE.test>", "554 5.7.1"),
        ("<x%remote.test@EXAMPLE.TEST>", "550 5.1.1"),
    ] {
        let r = c.cmd(&format!("RCPT TO:{rcpt}")).await.expect("rcpt");
        assert_eq!(code(&r), want, "RCPT TO:{rcpt} -> {}", r.text);
    }
    c.expect("QUIT", 221).await.expect("quit");
    let metrics = tern.get("/metrics").expect("metrics").1;
    for line in [
        "tern_smtp_messages_total{outcome=\"relay_denied\"} 6",
        "tern_smtp_messages_total{outcome=\"unknown_user\"} 5",
        "tern_smtp_messages_total{outcome=\"accepted\"} 1",
    ] {
        assert!(metrics.contains(line), "/metrics lacks {line}");
    }
    assert_eq!(
        tern.mailbox_count(TOKEN, "demo@example.test", "INBOX")
            .expect("inbox"),
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn submission_needs_tls_then_auth_and_owned_senders() {
    let (_d, tern) = start(&[]);
    tern.api_send(
        TOKEN,
        "PUT",
        "/aliases/team@example.test",
        json!({ "targets": ["demo@example.test"] }),
    )
    .expect("alias");
    let tls = tls_config(&tern.certificate()).expect("tls config");
    let (mut c, _) = Client::connect(tern.addr("submission"), Some(tls))
        .await
        .expect("connect");
    let caps = c.expect("EHLO client.test", 250).await.expect("ehlo");
    assert!(
        caps.text.contains("STARTTLS") && !caps.text.contains("AUTH"),
        "{}",
        caps.text
    );
    let r = c
        .auth_plain("demo@example.test", PASSWORD)
        .await
        .expect("auth");
    assert_eq!(code(&r), "538 5.7.11");
    assert!(
        r.text.contains("use STARTTLS first, or port 465"),
        "{}",
        r.text
    );
    assert_eq!(
        code(&c.cmd("MAIL FROM:<demo@example.test>").await.expect("mail")),
        "530 5.7.0"
    );
    let mut c = c.starttls().await.expect("starttls");
    let caps = c.expect("EHLO client.test", 250).await.expect("ehlo");
    assert!(
        caps.text.contains("AUTH PLAIN LOGIN") && !caps.text.contains("STARTTLS"),
        "{}",
        caps.text
    );
    assert_eq!(
        code(
            &c.auth_plain("demo@example.test", "wrong-password")
                .await
                .expect("auth")
        ),
        "535 5.7.8"
    );
    assert_eq!(
        c.auth_plain("demo", PASSWORD).await.expect("auth").code,
        235,
        "login by unique local part"
    );
    let r = c.cmd("MAIL FROM:<ceo@example.test>").await.expect("mail");
    assert_eq!(code(&r), "553 5.7.1");
    assert!(r.text.contains("sender not owned by authenticated user"));
    c.expect("MAIL FROM:<team@example.test>", 250)
        .await
        .expect("an alias of the user is allowed");
    c.expect(
        "RCPT TO:<friend@remote.test> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;friend@remote.test",
        250,
    )
    .await
    .expect("authenticated relay");
    assert_eq!(
        c.data(&message(
            "team@example.test",
            "friend@remote.test",
            "out",
            "hello"
        ))
        .await
        .expect("data")
        .code,
        250
    );
    let queue = tern.api(TOKEN, "/queue").expect("queue");
    let entry = &queue["entries"][0];
    assert_eq!(entry["domain"], "remote.test");
    assert_eq!(entry["sender"], "team@example.test");
    assert_eq!(entry["recipients"][0]["address"], "friend@remote.test");
    assert_eq!(entry["recipients"][0]["orcpt"], "rfc822;friend@remote.test");
    assert_eq!(
        entry["recipients"][0]["notify"],
        json!(["SUCCESS", "FAILURE"])
    );
    assert_eq!(
        tern.mailbox_count(TOKEN, "demo@example.test", "INBOX")
            .expect("inbox"),
        0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn repeated_auth_failures_close_the_session() {
    let (_d, tern) = start(&[]);
    let tls = tls_config(&tern.certificate()).expect("tls config");
    let (mut c, _) = Client::connect_tls(tern.addr("submissions"), tls)
        .await
        .expect("implicit tls");
    c.expect("EHLO client.test", 250).await.expect("ehlo");
    assert_eq!(
        code(&c.auth_plain("demo", "bad-1").await.expect("auth")),
        "535 5.7.8"
    );
    assert_eq!(
        code(&c.auth_plain("demo", "bad-2").await.expect("auth")),
        "535 5.7.8"
    );
    assert_eq!(
        code(&c.auth_plain("demo", "bad-3").await.expect("auth")),
        "421 4.7.0"
    );
    assert!(
        c.closed().await,
        "connection closed after too many failures"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn pipelining_and_bdat() {
    let (_d, tern) = start(&[("TERN_SMTP__MAX_MESSAGE_BYTES", "1000")]);
    let mut c = ehlo(tern.addr("smtp")).await;
    // Everything in one write; replies come back in order.
    c.send_raw(b"MAIL FROM:<a@remote.test>\r\nRCPT TO:<demo@example.test>\r\nRCPT TO:<ghost@example.test>\r\nDATA\r\n").await.expect("send");
    let codes: Vec<u16> = [
        c.read().await,
        c.read().await,
        c.read().await,
        c.read().await,
    ]
    .into_iter()
    .map(|r| r.expect("reply").code)
    .collect();
    assert_eq!(codes, vec![250, 250, 550, 354]);
    c.send_raw(b"Subject: piped\r\n\r\nbody\r\n.\r\n")
        .await
        .expect("body");
    assert_eq!(c.read().await.expect("queued").code, 250);

    // BDAT in two chunks, pipelined with the envelope.
    let chunk1 = "Subject: chunked\r\n\r\n";
    let chunk2 = "in two parts\r\n";
    let wire = format!(
        "MAIL FROM:<a@remote.test>\r\nRCPT TO:<demo@example.test>\r\nBDAT {}\r\n{chunk1}BDAT {} LAST\r\n{chunk2}",
        chunk1.len(),
        chunk2.len()
    );
    c.send_raw(wire.as_bytes()).await.expect("send");
    let replies: Vec<String> = [
        c.read().await,
        c.read().await,
        c.read().await,
        c.read().await,
    ]
    .into_iter()
    .map(|r| r.expect("reply").text)
    .collect();
    assert!(
        replies[2].starts_with("250 2.0.0 20 octets received"),
        "{replies:?}"
    );
    assert!(replies[3].contains("Message accepted"), "{replies:?}");

    // BDAT without a transaction: the chunk is read and refused, the session stays in sync.
    c.send_raw(b"BDAT 5 LAST\r\nhello").await.expect("send");
    assert_eq!(code(&c.read().await.expect("bdat")), "503 5.5.1");
    c.expect("NOOP", 250).await.expect("in sync");
    // BDAT past the size limit: refused unread, and the connection closed.
    c.expect("MAIL FROM:<a@remote.test>", 250)
        .await
        .expect("mail");
    c.expect("RCPT TO:<demo@example.test>", 250)
        .await
        .expect("rcpt");
    let mut big = b"BDAT 1500 LAST\r\n".to_vec();
    big.extend(std::iter::repeat_n(b'q', 1500));
    c.send_raw(&big).await.expect("send");
    assert_eq!(code(&c.read().await.expect("bdat")), "552 5.3.4");
    assert!(c.closed().await, "the connection closes");
    assert_eq!(
        tern.mailbox_count(TOKEN, "demo@example.test", "INBOX")
            .expect("inbox"),
        2
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn utf8_addresses_need_smtputf8() {
    let (_d, tern) = start(&[]);
    let mut c = ehlo(tern.addr("smtp")).await;
    assert_eq!(
        code(&c.cmd("MAIL FROM:<jörg@remote.test>").await.expect("mail")),
        "553 5.6.7"
    );
    c.expect("MAIL FROM:<jörg@remote.test> SMTPUTF8 BODY=8BITMIME", 250)
        .await
        .expect("declared");
    assert_eq!(
        code(&c.cmd("RCPT TO:<josé@example.test>").await.expect("rcpt")),
        "550 5.1.1"
    );
    c.expect("RCPT TO:<demo@example.test>", 250)
        .await
        .expect("rcpt");
    let r = c.data("Subject: caf\u{e9}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nd\u{e9}j\u{e0} vu\r\n").await.expect("data");
    assert_eq!(r.code, 250, "{}", r.text);
}

#[tokio::test(flavor = "multi_thread")]
async fn auth_and_command_edge_replies() {
    let (_d, tern) = start(&[("TERN_SMTP__MAX_CONNECTIONS", "2")]);
    let tls = tls_config(&tern.certificate()).expect("tls config");
    let (mut c, _) = Client::connect_tls(tern.addr("submissions"), tls.clone())
        .await
        .expect("implicit tls");
    assert_eq!(code(&c.cmd("EHLO").await.expect("ehlo")), "501 5.5.4");
    c.expect("EHLO client.test", 250).await.expect("ehlo");
    assert_eq!(
        code(&c.cmd("STARTTLS").await.expect("starttls")),
        "503 5.5.1",
        "TLS already active"
    );
    assert_eq!(
        code(&c.cmd("AUTH CRAM-MD5").await.expect("auth")),
        "504 5.5.4"
    );
    assert_eq!(c.cmd("AUTH PLAIN").await.expect("auth").code, 334);
    assert_eq!(code(&c.cmd("*").await.expect("cancel")), "501 5.7.0");
    assert_eq!(c.cmd("AUTH LOGIN").await.expect("auth").code, 334);
    assert_eq!(
        code(&c.cmd("not base64 !!").await.expect("malformed")),
        "501 5.5.2"
    );
    assert_eq!(
        c.auth_plain("demo", PASSWORD).await.expect("auth").code,
        235
    );
    assert_eq!(
        code(&c.auth_plain("demo", PASSWORD).await.expect("again")),
        "503 5.5.1"
    );
    assert_eq!(code(&c.cmd("EXPN staff").await.expect("expn")), "502 5.5.1");
    assert_eq!(
        code(
            &c.cmd("MAIL FROM:<demo@example.test> FROBNICATE=1")
                .await
                .expect("param")
        ),
        "555 5.5.4"
    );
    c.expect("MAIL FROM:<demo@example.test>", 250)
        .await
        .expect("mail");
    c.expect("RCPT TO:<demo@example.test>", 250)
        .await
        .expect("rcpt");
    c.send_raw(b"BDAT 4\r\nabcd").await.expect("bdat");
    assert_eq!(c.read().await.expect("chunk").code, 250);
    assert_eq!(
        code(&c.cmd("DATA").await.expect("data")),
        "503 5.5.1",
        "DATA cannot follow BDAT"
    );
    // Node-wide limit of 2: this session and one more; the third is refused.
    let (_second, g) = Client::connect(tern.addr("smtp"), None)
        .await
        .expect("second");
    assert_eq!(g.code, 220);
    let (_third, g) = Client::connect(tern.addr("smtp"), None)
        .await
        .expect("third");
    assert_eq!(code(&g), "421 4.3.2");
    assert!(g.text.contains("Too many connections"), "{}", g.text);
}
