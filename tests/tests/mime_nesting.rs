//! Hostile MIME nesting: messages nested 1 100 and 10 000 levels deep (multiparts, and attached
//! messages) over unauthenticated SMTP and IMAP APPEND are refused with `554 5.6.0` and
//! `NO [LIMIT]`, the node keeps serving, and a message at the 100-level limit is accepted and
//! its BODYSTRUCTURE served.

use tern_tests::{
    Tern, imap,
    smtp::{Client, nested_mime},
};

const TOKEN: &str = "mime-token";
const PASSWORD: &str = "demo-password";

#[tokio::test(flavor = "multi_thread")]
async fn deep_nesting_is_refused_and_the_node_survives() {
    let (_dir, tern) = Tern::dev(TOKEN, PASSWORD, &[]);
    let (mut c, _) = Client::connect(tern.addr("smtp"), None)
        .await
        .expect("connect 25");
    c.expect("EHLO attacker.test", 250).await.expect("ehlo");
    for (depth, attached, levels) in [
        (1_100, false, 1_100),
        (10_000, false, 10_000),
        (1_100, true, 2_200),
        (10_000, true, 20_000),
    ] {
        c.expect("MAIL FROM:<deep@remote.test>", 250)
            .await
            .expect("mail");
        c.expect("RCPT TO:<demo@example.test>", 250)
            .await
            .expect("rcpt");
        let r = c.data(&nested_mime(depth, attached)).await.expect("data");
        assert_eq!(
            r.text,
            format!(
                "554 5.6.0 Message refused: MIME parts are nested {levels} levels deep (at most 100)"
            ),
        );
    }
    c.expect("MAIL FROM:<deep@remote.test>", 250)
        .await
        .expect("mail");
    c.expect("RCPT TO:<demo@example.test>", 250)
        .await
        .expect("rcpt");
    let r = c.data(&nested_mime(100, false)).await.expect("data");
    assert_eq!(r.code, 250, "at the limit: {}", r.text);
    c.expect("QUIT", 221).await.expect("quit");

    let mut i = imap::session(&tern, "demo@example.test", PASSWORD).await;
    for (depth, attached, levels) in [(1_100, false, 1_100), (10_000, true, 20_000)] {
        let r = i
            .cmd_literal("APPEND INBOX", nested_mime(depth, attached).as_bytes())
            .await
            .expect("append");
        assert_eq!(
            r.status,
            format!(
                "NO [LIMIT] the message nests MIME parts {levels} levels deep; at most 100 are accepted"
            ),
        );
    }
    let r = i
        .cmd_literal("APPEND INBOX", nested_mime(50, true).as_bytes())
        .await
        .expect("append");
    assert!(r.ok(), "at the limit: {}", r.all());
    assert!(i.cmd("SELECT INBOX").await.expect("select").ok());
    let r = i.cmd("FETCH 1:2 BODYSTRUCTURE").await.expect("fetch");
    assert!(r.ok(), "{}", r.all());
    let structures = r.lines("1 FETCH").len() + r.lines("2 FETCH").len();
    assert_eq!(structures, 2, "{}", r.all());
    let innermost = r
        .untagged
        .iter()
        .filter(|l| l.contains("\"TEXT\" \"PLAIN\""))
        .count();
    assert_eq!(
        innermost,
        2,
        "both structures reach their innermost part: {}",
        r.all()
    );
    assert_eq!(tern.get("/healthz").expect("healthz").0, 200);
    tern.stop().expect("clean stop");
}
