//! Anti-virus (`"antivirus"` in `smtp.checks`) with a real clamd started by the test on a unix
//! socket with a signature database the test writes: malware in the body or in a base64
//! attachment is refused at the end of data with `554 5.7.1` naming the signature, on the MX
//! and on submission; clean mail is delivered; a clamd that cannot be reached answers
//! `451 4.7.1` (or lets mail through with `on_failure = "accept"`); a message over `max_bytes`
//! is not scanned. Every scan is counted by result.

use base64::{Engine as _, engine::general_purpose::STANDARD};
use tern_tests::{
    Tern,
    clamd::{Clamd, SIGNATURE_NAME, SIGNATURE_TEXT},
    smtp::{self, Client},
};

const TOKEN: &str = "av-token";
const PASSWORD: &str = "demo-password";

fn message(subject: &str, body: &str) -> String {
    smtp::message("x@remote.test", "demo@example.test", subject, body)
}

fn with_attachment(subject: &str, content: &[u8]) -> String {
    format!(
        "From: <x@remote.test>\r\nTo: <demo@example.test>\r\nSubject: {subject}\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n\
         --b1\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n\
         --b1\r\nContent-Type: application/octet-stream; name=x.bin\r\n\
         Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--b1--\r\n",
        STANDARD.encode(content)
    )
}

/// Sends `message` to demo over the MX listener; the final reply.
async fn send(tern: &Tern, message: &str) -> smtp::Reply {
    smtp::send_one(
        tern.addr("smtp"),
        "client.test",
        "x@remote.test",
        "demo@example.test",
        message,
    )
    .await
    .expect("transaction")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_clamd_refuses_malware_and_passes_clean_mail() {
    let clamd = Clamd::start().expect("clamd");
    let socket = clamd.socket.display().to_string();
    let (_dir, tern) = Tern::dev(
        TOKEN,
        PASSWORD,
        &[
            ("TERN_SMTP__CHECKS__MX", "ip_lists,antivirus"),
            ("TERN_SMTP__CHECKS__SUBMISSION", "ip_lists,antivirus"),
            ("TERN_SMTP__CHECKS__ANTIVIRUS__CLAMD", socket.as_str()),
        ],
    );
    let scans = |result: &str| {
        tern.metric(&format!(
            "tern_antivirus_scans_total{{result=\"{result}\"}}"
        ))
    };
    assert_eq!(scans("found"), 0.0, "exported at 0 from start");
    let refused = format!("554 5.7.1 message refused: it contains malware ({SIGNATURE_NAME})");
    assert_eq!(
        send(&tern, &message("clean", "nothing here\r\n"))
            .await
            .code,
        250
    );
    let r = send(
        &tern,
        &message("inline", &format!("x {SIGNATURE_TEXT} y\r\n")),
    )
    .await;
    assert_eq!(r.text, refused);
    let payload = format!("header bytes {SIGNATURE_TEXT} trailer");
    let r = send(&tern, &with_attachment("attached", payload.as_bytes())).await;
    assert_eq!(r.text, refused, "clamd decodes the MIME parts");
    // Submission too: a compromised account sends malware like anyone.
    let tls = smtp::tls_config(&tern.certificate()).expect("tls");
    let (mut c, _) = Client::connect_tls(tern.addr("submissions"), tls)
        .await
        .expect("connect");
    c.expect("EHLO client.test", 250).await.expect("ehlo");
    assert_eq!(
        c.auth_plain("demo@example.test", PASSWORD)
            .await
            .expect("auth")
            .code,
        235
    );
    c.expect("MAIL FROM:<demo@example.test>", 250)
        .await
        .expect("mail");
    c.expect("RCPT TO:<someone@remote.test>", 250)
        .await
        .expect("rcpt");
    let r = c
        .data(&format!(
            "From: <demo@example.test>\r\nSubject: out\r\n\r\n{SIGNATURE_TEXT}\r\n"
        ))
        .await
        .expect("data");
    assert_eq!(r.text, refused);
    assert_eq!(scans("clean"), 1.0);
    assert_eq!(scans("found"), 3.0);
    // Only the clean message reached the mailbox.
    let mut imap = tern_tests::imap::session(&tern, "demo@example.test", PASSWORD).await;
    let r = imap.cmd("STATUS INBOX (MESSAGES)").await.expect("status");
    assert!(r.all().contains("MESSAGES 1)"), "{}", r.all());
    tern.stop().expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_clamd_tempfails_or_accepts_as_configured() {
    // Nothing listens on port 1.
    let (_dir, tern) = Tern::dev(
        TOKEN,
        PASSWORD,
        &[
            ("TERN_SMTP__CHECKS__MX", "ip_lists,antivirus"),
            ("TERN_SMTP__CHECKS__ANTIVIRUS__CLAMD", "127.0.0.1:1"),
            ("TERN_SMTP__CHECKS__ANTIVIRUS__MAX_BYTES", "400"),
        ],
    );
    let r = send(&tern, &message("small", "short\r\n")).await;
    assert_eq!(
        r.text,
        "451 4.7.1 message not accepted for now: the virus scanner is unavailable; try again later"
    );
    // Over max_bytes: not scanned, so clamd being away does not matter.
    let big = message("big", &"a line of text that is long enough\r\n".repeat(20));
    assert_eq!(send(&tern, &big).await.code, 250);
    let scans = |result: &str| {
        tern.metric(&format!(
            "tern_antivirus_scans_total{{result=\"{result}\"}}"
        ))
    };
    assert_eq!((scans("error"), scans("skipped")), (1.0, 1.0));
    tern.stop().expect("clean stop");

    let (_dir, tern) = Tern::dev(
        TOKEN,
        PASSWORD,
        &[
            ("TERN_SMTP__CHECKS__MX", "ip_lists,antivirus"),
            ("TERN_SMTP__CHECKS__ANTIVIRUS__CLAMD", "127.0.0.1:1"),
            ("TERN_SMTP__CHECKS__ANTIVIRUS__ON_FAILURE", "accept"),
        ],
    );
    assert_eq!(send(&tern, &message("small", "short\r\n")).await.code, 250);
    tern.stop().expect("clean stop");
}
