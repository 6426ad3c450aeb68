//! Deliveries to one mailbox are filed together (the filer's lanes batch them into one store
//! transaction) without giving up any message's own outcome: 20 sessions racing into an INBOX
//! with room for 10 more messages get exactly 10 acceptances and 10 `452 4.2.2`, and the
//! mailbox holds exactly the 10; 20 racing into a mailbox without a quota are all accepted,
//! with consecutive UIDs.

use std::net::SocketAddr;

use tern_tests::{Tern, imap, ok, smtp, ternctl};

const TOKEN: &str = "filing-admin-token";
const PASSWORD: &str = "filing-password-1";
const SESSIONS: usize = 20;

/// Delivers one message to `to` from each of `SESSIONS` sessions at once, all past RCPT before
/// any sends its body; returns each DATA reply's code.
async fn race(addr: SocketAddr, to: &str) -> Vec<u16> {
    let mut ready = Vec::new();
    for _ in 0..SESSIONS {
        let (mut c, _) = smtp::Client::connect(addr, None).await.expect("connect");
        c.expect("EHLO racer.test", 250).await.expect("ehlo");
        c.envelope("racer@remote.test", to).await.expect("envelope");
        ready.push(c);
    }
    let sends: Vec<_> = ready
        .into_iter()
        .enumerate()
        .map(|(i, mut c)| {
            let m = smtp::message("racer@remote.test", "x", &format!("race {i}"), "body\r\n");
            tokio::spawn(async move {
                c.send_raw(format!("{m}\r\n.\r\n").as_bytes())
                    .await
                    .expect("body");
                c.read().await.expect("reply").code
            })
        })
        .collect();
    let mut codes = Vec::new();
    for s in sends {
        codes.push(s.await.expect("session"));
    }
    codes
}

#[tokio::test(flavor = "multi_thread")]
async fn racing_deliveries_keep_their_own_outcomes() {
    let (_dir, tern) = Tern::dev(TOKEN, PASSWORD, &[]);
    ok(&ternctl(
        &tern.url(),
        Some(TOKEN),
        &["account", "quota", "demo@example.test", "--messages", "10"],
    ));
    ok(&ternctl(
        &tern.url(),
        Some(TOKEN),
        &["account", "add", "ann@example.test", "--password", PASSWORD],
    ));
    let count = |account: &str| tern.mailbox_count(TOKEN, account, "INBOX").expect("count");
    let before = count("demo@example.test");
    let room = 10 - before as usize;

    let codes = race(tern.addr("smtp"), "demo@example.test").await;
    let accepted = codes.iter().filter(|c| **c == 250).count();
    let full = codes.iter().filter(|c| **c == 452).count();
    assert_eq!((accepted, full), (room, SESSIONS - room), "{codes:?}");
    assert_eq!(count("demo@example.test"), 10);

    let codes = race(tern.addr("smtp"), "ann@example.test").await;
    assert!(codes.iter().all(|c| *c == 250), "{codes:?}");
    let mut c = imap::session(&tern, "ann@example.test", PASSWORD).await;
    let status = c
        .cmd("STATUS INBOX (MESSAGES UIDNEXT)")
        .await
        .expect("status");
    assert!(
        status.all().contains("MESSAGES 20 UIDNEXT 21"),
        "20 messages with UIDs 1 to 20: {}",
        status.all()
    );
    assert!(tern.metric("tern_delivery_batch_size_count") >= 1.0);
}
