//! A node whose data filesystem fills up (a small tmpfs). Below the headroom floor new mail is
//! refused with `452 4.3.1` and `NO [OVERQUOTA]` while reading goes on and the node stays
//! ready; when the disk fills behind the store's back and a write fails, senders get a 4xx,
//! `/readyz` turns 503 with the reason, and once space is back the node takes mail again with
//! every acknowledged message kept.

use std::time::{Duration, Instant};

use tern_tests::{
    Tern, imap,
    smtp::{Client, message},
    tmpfs::Tmpfs,
};

const TOKEN: &str = "disk-token";
const PASSWORD: &str = "demo-password";

fn start(fs: &Tmpfs, env: &[(&str, &str)]) -> Tern {
    let mut all = vec![
        ("TERN_DEV_ADMIN_TOKEN", TOKEN),
        ("TERN_DEV_PASSWORD", PASSWORD),
        // The data directory's floor and failed writes are the embedded store's, on every run.
        ("TERN_STORE__BACKEND", "embedded"),
    ];
    all.extend_from_slice(env);
    Tern::start(fs.path(), &["--dev"], &all).expect("tern starts")
}

/// Sends one message; returns the final reply code and text.
async fn send(c: &mut Client, id: &str, body: &str) -> (u16, String) {
    let r = c.cmd("MAIL FROM:<sender@remote.test>").await.expect("mail");
    if r.code != 250 {
        return (r.code, r.text);
    }
    c.expect("RCPT TO:<demo@example.test>", 250)
        .await
        .expect("rcpt");
    let r = c
        .data(&message(
            "sender@remote.test",
            "demo@example.test",
            id,
            body,
        ))
        .await
        .expect("data");
    (r.code, r.text)
}

fn metric(tern: &Tern, line_start: &str) -> Option<String> {
    let page = tern.get("/metrics").expect("metrics").1;
    page.lines()
        .find(|l| l.starts_with(line_start))
        .map(str::to_string)
}

async fn wait_ready(tern: &Tern, status: u16) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (code, body) = tern.get("/readyz").expect("readyz");
        if code == status {
            return body;
        }
        assert!(Instant::now() < deadline, "/readyz stayed {code}: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn below_the_floor_new_mail_is_refused_and_reading_goes_on() {
    let Some(fs) = Tmpfs::mount(64) else { return };
    let tern = start(
        &fs,
        &[
            ("TERN_STORE__MIN_FREE_BYTES", "16777216"),
            ("TERN_STORE__MIN_FREE_PERCENT", "50"),
            ("TERN_STORE__RESERVE_BYTES", "4194304"),
        ],
    );
    let (mut c, _) = Client::connect(tern.addr("smtp"), None)
        .await
        .expect("connect");
    c.expect("EHLO sender.test", 250).await.expect("ehlo");
    let sent = send(&mut c, "before", "kept\r\n").await;
    assert_eq!(sent.0, 250, "{}", sent.1);
    assert!(
        metric(
            &tern,
            "tern_store_filesystem_bytes{backend=\"embedded\",kind=\"free\"}"
        )
        .is_some()
    );

    let filler = fs.fill(12 << 20);
    let r = c.cmd("MAIL FROM:<sender@remote.test>").await.expect("mail");
    assert_eq!(r.text, "452 4.3.1 Insufficient system storage");
    let mut i = imap::session(&tern, "demo@example.test", PASSWORD).await;
    let r = i
        .cmd_literal("APPEND INBOX", b"Subject: draft\r\n\r\nx\r\n")
        .await
        .expect("append");
    assert_eq!(r.status, "NO [OVERQUOTA] Not enough disk space");
    assert_eq!(
        i.message_ids("INBOX").await.expect("read"),
        vec!["<before@test>"],
        "reading goes on"
    );
    assert_eq!(tern.get("/readyz").expect("readyz").0, 200, "still ready");
    assert_eq!(
        metric(&tern, "tern_storage_refusals_total{protocol=\"smtp\"}").as_deref(),
        Some("tern_storage_refusals_total{protocol=\"smtp\"} 1")
    );
    assert_eq!(
        metric(&tern, "tern_storage_refusals_total{protocol=\"imap\"}").as_deref(),
        Some("tern_storage_refusals_total{protocol=\"imap\"} 1")
    );

    std::fs::remove_file(filler).expect("free space");
    assert_eq!(send(&mut c, "after", "taken again\r\n").await.0, 250);
    tern.stop().expect("clean stop");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_write_makes_the_node_unready_until_space_is_back() {
    let Some(fs) = Tmpfs::mount(64) else { return };
    // No floor and no reserve: mail keeps coming until a write fails for real.
    let mut tern = start(
        &fs,
        &[
            ("TERN_STORE__MIN_FREE_PERCENT", "0"),
            ("TERN_STORE__RESERVE_BYTES", "0"),
        ],
    );
    // What a full disk makes fjall and the node say, and only that.
    for expected in [
        "persist failed",
        "Flush error",
        "crashed",
        "message not stored",
        "the store stopped taking writes",
        "LZ4 decompression failed",
    ] {
        tern.expect_error(expected);
    }
    let (mut c, _) = Client::connect(tern.addr("smtp"), None)
        .await
        .expect("connect");
    c.expect("EHLO sender.test", 250).await.expect("ehlo");
    // Room for a few messages of 1 MiB, less than the 16 MiB memtable that must be written
    // out: the journal takes them, the flush finds the disk full.
    let filler = fs.fill(20 << 20);
    let mut acked = Vec::new();
    let refusal = loop {
        let id = format!("m{}", acked.len());
        let body: String = (0..16 * 1024)
            .map(|_| {
                format!(
                    "{:016x}{:016x}{:016x}{:012x}\r\n",
                    rand::random::<u64>(),
                    rand::random::<u64>(),
                    rand::random::<u64>(),
                    rand::random::<u64>() >> 16
                )
            })
            .collect();
        let (code, text) = send(&mut c, &id, &body).await;
        if code != 250 {
            break text;
        }
        acked.push(format!("<{id}@test>"));
        assert!(acked.len() < 40, "the disk never filled");
    };
    assert!(refusal.starts_with("45"), "a temporary refusal: {refusal}");
    let body = wait_ready(&tern, 503).await;
    assert!(body.starts_with("store unavailable: "), "{body}");
    assert!(body.contains("a write failed"), "{body}");
    assert_eq!(
        metric(&tern, "tern_store_healthy{backend=\"embedded\"}").as_deref(),
        Some("tern_store_healthy{backend=\"embedded\"} 0")
    );

    std::fs::remove_file(filler).expect("free space");
    wait_ready(&tern, 200).await;
    assert_eq!(send(&mut c, "after", "taken again\r\n").await.0, 250);
    acked.push("<after@test>".into());
    let mut i = imap::session(&tern, "demo@example.test", PASSWORD).await;
    let ids = i.message_ids("INBOX").await.expect("read");
    assert_eq!(ids, acked, "every acknowledged message, once");
    tern.stop().expect("clean stop");
}
