//! Deleted mail is reclaimed continuously, not a thousand bodies per ten minutes: a node takes
//! 1 500 messages (each body different), the client expunges them all over IMAP, and the
//! reclaimer removes every body — `tern_store_reclaimed_blobs_total` counts them and
//! `tern_store_reclaim_backlog` drains to 0 — while the node keeps serving.

use std::time::{Duration, Instant};

use tern_tests::{Tern, imap, smtp};

const TOKEN: &str = "reclaim-admin-token";
const PASSWORD: &str = "reclaim-password-1";
const MESSAGES: usize = 1500;
const SESSIONS: usize = 5;

#[tokio::test(flavor = "multi_thread")]
async fn expunged_mail_is_reclaimed_and_the_backlog_drains() {
    let (_dir, tern) = Tern::dev(TOKEN, PASSWORD, &[]);
    for key in [
        "tern_store_reclaim_backlog",
        "tern_store_reclaimed_blobs_total",
        "tern_store_reclaimed_bytes_total",
    ] {
        assert_eq!(tern.metric(key), 0.0, "{key} at 0 from start");
    }
    let addr = tern.addr("smtp");
    let feeders: Vec<_> = (0..SESSIONS)
        .map(|s| {
            tokio::spawn(async move {
                let subjects: Vec<String> = (0..MESSAGES / SESSIONS)
                    .map(|i| format!("reclaim {s}-{i}"))
                    .collect();
                let subjects: Vec<&str> = subjects.iter().map(String::as_str).collect();
                smtp::deliver(addr, "demo@example.test", &subjects).await
            })
        })
        .collect();
    for f in feeders {
        f.await.expect("feeder").expect("delivered");
    }
    let held = tern
        .mailbox_count(TOKEN, "demo@example.test", "INBOX")
        .expect("count");
    assert!(held >= MESSAGES as i64, "{held} in INBOX");

    let mut c = imap::session(&tern, "demo@example.test", PASSWORD).await;
    assert!(c.cmd("SELECT INBOX").await.expect("select").ok());
    assert!(
        c.cmd("STORE 1:* +FLAGS.SILENT (\\Deleted)")
            .await
            .expect("store")
            .ok()
    );
    assert!(c.cmd("EXPUNGE").await.expect("expunge").ok());
    let expunged = Instant::now();

    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let reclaimed = tern.metric("tern_store_reclaimed_blobs_total");
        let backlog = tern.metric("tern_store_reclaim_backlog");
        if reclaimed >= held as f64 && backlog == 0.0 {
            println!(
                "reclaimed {reclaimed} bodies in {} ms after the expunge, backlog {backlog}",
                expunged.elapsed().as_millis()
            );
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not reclaimed in time: {reclaimed} of {held}, backlog {backlog}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(tern.metric("tern_store_reclaimed_bytes_total") > 0.0);
    assert_eq!(tern.metric("tern_store_reclaim_failures_total"), 0.0);
    // Still serving: a new message arrives and is kept.
    smtp::deliver(addr, "demo@example.test", &["after the reclaim"])
        .await
        .expect("delivered");
    assert_eq!(
        tern.mailbox_count(TOKEN, "demo@example.test", "INBOX")
            .expect("count"),
        1
    );
}
