//! The bare `postmaster` (RFC 5321 §4.5.1) over SMTP: accepted in any case and delivered to
//! postmaster@ the primary domain or to `server.postmaster`, and refused with a warning for the
//! operator when that address does not exist.

use std::time::Duration;

use serde_json::json;
use tern_tests::{
    Tern,
    smtp::{Client, message},
};

const TOKEN: &str = "postmaster-token";
const PASSWORD: &str = "demo-password";

fn start(extra: &[(&str, &str)]) -> (tempfile::TempDir, Tern) {
    Tern::dev(TOKEN, PASSWORD, extra)
}

async fn ehlo(addr: std::net::SocketAddr) -> Client {
    let (mut c, greeting) = Client::connect(addr, None).await.expect("connect");
    assert_eq!(greeting.code, 220);
    c.expect("EHLO client.test", 250).await.expect("ehlo");
    c
}

#[tokio::test(flavor = "multi_thread")]
async fn the_bare_postmaster_is_accepted_and_delivered() {
    // Dev: postmaster@example.test is an alias of the demo account.
    let (_d, tern) = start(&[]);
    let mut c = ehlo(tern.addr("smtp")).await;
    c.expect("MAIL FROM:<someone@remote.test>", 250)
        .await
        .expect("mail");
    c.expect("RCPT TO:<PostMaster>", 250)
        .await
        .expect("bare postmaster");
    let r = c
        .data(&message(
            "someone@remote.test",
            "postmaster",
            "pm",
            "hello postmaster",
        ))
        .await
        .expect("data");
    assert_eq!(r.code, 250, "{}", r.text);
    assert_eq!(
        tern.mailbox_count(TOKEN, "demo@example.test", "INBOX")
            .expect("inbox"),
        1
    );
    drop(tern);

    // server.postmaster names another account.
    let (_d, tern) = start(&[("TERN_SERVER__POSTMASTER", "hostmaster@example.test")]);
    tern.api_send(
        TOKEN,
        "POST",
        "/accounts",
        json!({ "address": "hostmaster@example.test", "password": "hostmaster-pw" }),
    )
    .expect("account");
    let mut c = ehlo(tern.addr("smtp")).await;
    c.expect("MAIL FROM:<someone@remote.test>", 250)
        .await
        .expect("mail");
    c.expect("RCPT TO:<postmaster>", 250)
        .await
        .expect("bare postmaster");
    let r = c
        .data(&message("someone@remote.test", "postmaster", "pm", "hello"))
        .await
        .expect("data");
    assert_eq!(r.code, 250, "{}", r.text);
    assert_eq!(
        tern.mailbox_count(TOKEN, "hostmaster@example.test", "INBOX")
            .expect("inbox"),
        1
    );
    assert_eq!(
        tern.mailbox_count(TOKEN, "demo@example.test", "INBOX")
            .expect("inbox"),
        0
    );
    drop(tern);

    // A postmaster address nobody created: refused, and the operator is told.
    let (_d, tern) = start(&[("TERN_SERVER__POSTMASTER", "nobody@example.test")]);
    let mut c = ehlo(tern.addr("smtp")).await;
    c.expect("MAIL FROM:<someone@remote.test>", 250)
        .await
        .expect("mail");
    let r = c.cmd("RCPT TO:<postmaster>").await.expect("rcpt");
    assert!(r.text.starts_with("550 5.1.1"), "{}", r.text);
    tern.wait_for_log(
        "set server.postmaster or create it",
        Duration::from_secs(10),
    )
    .expect("a warning for the operator");
}
