//! Real SMTP clients against a real server: swaks (plain, STARTTLS with AUTH and pipelining,
//! implicit TLS with AUTH LOGIN) and lettre (plain, STARTTLS, implicit TLS), then a look at
//! what was durably stored: the body intact, with `Return-Path:` and `Received:` on top.

use std::process::Command;

use lettre::{
    AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
    transport::smtp::{
        authentication::Credentials,
        client::{Certificate, Tls, TlsParameters},
    },
};
use tern_tests::{Tern, store::dump_mailbox};

const TOKEN: &str = "clients-token";
const PASSWORD: &str = "demo-password";

fn start() -> (tempfile::TempDir, Tern) {
    Tern::dev(TOKEN, PASSWORD, &[])
}

fn swaks(args: &[&str]) -> String {
    let out = Command::new("swaks").args(args).output();
    let out = match out {
        Ok(o) => o,
        Err(e) => panic!("swaks is needed (apt-get install swaks; .ci/run installs it): {e}"),
    };
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "swaks {args:?} failed:\n{text}");
    text
}

#[test]
fn swaks_plain_starttls_and_implicit_tls() {
    let (dir, tern) = start();
    let smtp = tern.addr("smtp").to_string();
    let submission = tern.addr("submission").to_string();
    let submissions = tern.addr("submissions").to_string();
    let out = swaks(&[
        "--server",
        &smtp,
        "--from",
        "sender@remote.test",
        "--to",
        "demo@example.test",
        "--h-Subject",
        "swaks plain",
        "--body",
        "plain body",
    ]);
    assert!(out.contains("250 2.0.0 Message accepted"), "{out}");
    let out = swaks(&[
        "--server",
        &submission,
        "--tls",
        "--pipeline",
        "--auth",
        "PLAIN",
        "--auth-user",
        "demo@example.test",
        "--auth-password",
        PASSWORD,
        "--from",
        "demo@example.test",
        "--to",
        "demo@example.test",
        "--h-Subject",
        "swaks starttls",
    ]);
    assert!(
        out.contains("235 2.7.0") && out.contains("250 2.0.0 Message accepted"),
        "{out}"
    );
    let out = swaks(&[
        "--server",
        &submissions,
        "--tls-on-connect",
        "--auth",
        "LOGIN",
        "--auth-user",
        "demo",
        "--auth-password",
        PASSWORD,
        "--from",
        "demo@example.test",
        "--to",
        "demo@example.test",
        "--h-Subject",
        "swaks implicit",
    ]);
    assert!(out.contains("250 2.0.0 Message accepted"), "{out}");
    assert_eq!(
        tern.mailbox_count(TOKEN, "demo@example.test", "INBOX")
            .expect("inbox"),
        3
    );
    tern.stop().expect("stop");

    let dump = dump_mailbox(&dir.path().join("data"), "demo@example.test", "INBOX").expect("dump");
    assert_eq!(dump.bodies.len(), 3);
    let first = String::from_utf8_lossy(&dump.bodies[0]);
    assert!(
        first.starts_with("Return-Path: <sender@remote.test>\r\nReceived: from "),
        "{first}"
    );
    assert!(
        first.contains("with ESMTP id ")
            && first.contains("Subject: swaks plain")
            && first.contains("plain body"),
        "{first}"
    );
    let second = String::from_utf8_lossy(&dump.bodies[1]);
    assert!(second.contains("with ESMTPSA (using TLSv1_3"), "{second}");
    assert_eq!(dump.counted_messages, 3);
    assert_eq!(
        dump.counted_bytes,
        dump.bodies.iter().map(|b| b.len() as i64).sum::<i64>()
    );
    assert_eq!(dump.usage_bytes, dump.counted_bytes);
}

#[tokio::test(flavor = "multi_thread")]
async fn lettre_plain_starttls_and_implicit_tls() {
    let (_dir, tern) = start();
    let pem = std::fs::read(tern.certificate()).expect("certificate");
    let tls = || {
        TlsParameters::builder("localhost".into())
            .add_root_certificate(Certificate::from_pem(&pem).expect("pem"))
            .build_rustls()
            .expect("tls parameters")
    };
    let creds = Credentials::new("demo@example.test".into(), PASSWORD.into());
    let email = |subject: &str| {
        Message::builder()
            .from("Demo <demo@example.test>".parse().expect("from"))
            .to("demo@example.test".parse().expect("to"))
            .subject(subject)
            .body(format!("sent by lettre: {subject}\n"))
            .expect("message")
    };
    let plain = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(tern.addr("smtp").port())
        .build();
    let starttls = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(tern.addr("submission").port())
        .tls(Tls::Required(tls()))
        .credentials(creds.clone())
        .build();
    let implicit = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(tern.addr("submissions").port())
        .tls(Tls::Wrapper(tls()))
        .credentials(creds)
        .build();
    for (name, transport) in [
        ("plain", &plain),
        ("starttls", &starttls),
        ("implicit", &implicit),
    ] {
        let response = transport
            .send(email(name))
            .await
            .unwrap_or_else(|e| panic!("lettre over {name}: {e}"));
        assert_eq!(response.code().to_string(), "250", "{name}");
        assert!(
            response.message().any(|l| l.contains("Message accepted")),
            "{name}"
        );
    }
    assert_eq!(
        tern.mailbox_count(TOKEN, "demo@example.test", "INBOX")
            .expect("inbox"),
        3
    );
    // A wrong password is refused with 535.
    let bad = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(tern.addr("submissions").port())
        .tls(Tls::Wrapper(tls()))
        .credentials(Credentials::new(
            "demo@example.test".into(),
            "wrong-password".into(),
        ))
        .build();
    let err = bad.send(email("bad")).await.expect_err("wrong password");
    assert!(err.to_string().contains("535"), "{err}");
}
