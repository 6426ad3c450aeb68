//! `ternctl backup` from a running node and `ternctl restore` into a new data directory: the
//! restored node has the same accounts, settings, mailboxes, messages, flags and queue; a
//! damaged chunk or a non-empty target is refused before anything is written.

use std::path::Path;

use tern_tests::{
    Tern, err, imap, ok,
    smtp::{Client, message},
    ternctl,
};

const TOKEN: &str = "backup-token";
const PASSWORD: &str = "backup-password";

fn start(workdir: &Path) -> Tern {
    Tern::start(
        workdir,
        &["--dev"],
        &[
            ("TERN_DEV_ADMIN_TOKEN", TOKEN),
            ("TERN_DEV_PASSWORD", PASSWORD),
            // Restores into a data directory, so the embedded store on every run (restoring
            // into PostgreSQL is tested in postgres_nodes).
            ("TERN_STORE__BACKEND", "embedded"),
            // Nowhere to deliver: queued mail stays queued.
            ("TERN_QUEUE__DNS_SERVER", "127.0.0.1:9"),
        ],
    )
    .expect("tern starts")
}

/// `ternctl restore` (offline: no node to talk to) from a backup into a data directory.
fn restore(backup: &Path, data: &Path) -> std::process::Output {
    ternctl(
        "http://127.0.0.1:9",
        None,
        &[
            "restore",
            "--from",
            backup.to_str().expect("utf8"),
            "--data-dir",
            data.to_str().expect("utf8"),
        ],
    )
}

/// Everything the test compares, as text.
async fn state(tern: &Tern) -> Vec<String> {
    let url = tern.url();
    let ctl = |args: &[&str]| {
        ok(&ternctl(
            &url,
            Some(TOKEN),
            &["--json"].iter().chain(args).copied().collect::<Vec<_>>(),
        ))
    };
    let mut out = vec![
        ctl(&["domain", "list"]),
        ctl(&["account", "list"]),
        ctl(&["account", "show", "user@example.org"]),
        ctl(&["alias", "list"]),
        ctl(&["forward", "show", "user@example.org"]),
    ];
    let queue: serde_json::Value =
        serde_json::from_str(&ctl(&["queue", "list"])).expect("queue json");
    for e in queue["entries"].as_array().expect("entries") {
        out.push(format!(
            "{} {} {} {} {}",
            e["id"], e["sender"], e["status"], e["recipients"], e["size"]
        ));
    }
    let mut c = imap::session(tern, "demo@example.test", PASSWORD).await;
    let list = c.cmd("LIST \"\" \"*\"").await.expect("list");
    out.push(list.all());
    for mailbox in ["INBOX", "Projects"] {
        assert!(
            c.cmd(&format!("EXAMINE {mailbox}"))
                .await
                .expect("examine")
                .ok()
        );
        let r = c
            .cmd("UID FETCH 1:* (FLAGS INTERNALDATE BODY.PEEK[])")
            .await
            .expect("fetch");
        out.push(r.all());
    }
    out
}

#[tokio::test(flavor = "multi_thread")]
async fn a_backup_restores_into_an_identical_node() {
    let original = tempfile::tempdir().expect("tempdir");
    let tern = start(original.path());
    let url = tern.url();
    let ctl = |args: &[&str]| ternctl(&url, Some(TOKEN), args);
    ok(&ctl(&["domain", "add", "example.org"]));
    ok(&ctl(&[
        "account",
        "add",
        "user@example.org",
        "--password",
        "user-password-1",
    ]));
    ok(&ctl(&[
        "account",
        "quota",
        "user@example.org",
        "--bytes",
        "5000000",
    ]));
    ok(&ctl(&[
        "alias",
        "set",
        "team@example.org",
        "user@example.org",
        "demo@example.test",
    ]));
    ok(&ctl(&[
        "forward",
        "set",
        "user@example.org",
        "me@elsewhere.test",
        "--keep-copy",
    ]));
    let (mut s, _) = Client::connect(tern.addr("smtp"), None)
        .await
        .expect("smtp");
    s.expect("EHLO client.test", 250).await.expect("ehlo");
    let big = "z".repeat(998) + "\r\n";
    for n in 0..3 {
        s.expect("MAIL FROM:<someone@remote.test>", 250)
            .await
            .expect("mail");
        s.expect("RCPT TO:<demo@example.test>", 250)
            .await
            .expect("rcpt");
        let body = format!("message {n}\r\n{}", big.repeat(2000 * n));
        let r = s
            .data(&message(
                "someone@remote.test",
                "demo@example.test",
                &format!("m{n}"),
                &body,
            ))
            .await
            .expect("data");
        assert_eq!(r.code, 250);
    }
    let mut c = imap::session(&tern, "demo@example.test", PASSWORD).await;
    assert!(c.cmd("CREATE Projects").await.expect("create").ok());
    assert!(
        c.cmd_literal(
            "APPEND Projects (\\Seen)",
            b"Subject: appended\r\n\r\nkept\r\n"
        )
        .await
        .expect("append")
        .ok()
    );
    assert!(c.cmd("SELECT INBOX").await.expect("select").ok());
    assert!(
        c.cmd("STORE 2 +FLAGS (\\Flagged $Important)")
            .await
            .expect("store")
            .ok()
    );
    let file = original.path().join("queued.eml");
    std::fs::write(
        &file,
        "FROM: <demo@example.test>\r\nRCPT: <far@remote.test>\r\nSubject: queued\r\n\r\nwaits\r\n",
    )
    .expect("file");
    let queued = ok(&ctl(&["queue", "inject", file.to_str().expect("path")]));
    let id = queued.split_whitespace().last().expect("id").to_string();
    ok(&ctl(&["queue", "hold", &id]));

    let before = state(&tern).await;
    let backup = tempfile::tempdir().expect("backup dir");
    let out = ok(&ctl(&[
        "backup",
        "--to",
        backup.path().to_str().expect("utf8"),
    ]));
    assert!(out.contains("backed up") && out.contains("chunks"), "{out}");
    let again = err(&ctl(&[
        "backup",
        "--to",
        backup.path().to_str().expect("utf8"),
    ]));
    assert!(again.contains("already holds a complete backup"), "{again}");
    tern.stop().expect("stop");

    let restored = tempfile::tempdir().expect("tempdir");
    let data = restored.path().join("data");
    let out = ok(&restore(backup.path(), &data));
    assert!(out.contains("restored"), "{out}");
    // Into a store that has data: refused.
    let e = err(&restore(backup.path(), &data));
    assert!(e.contains("already holds data"), "{e}");

    let tern = start(restored.path());
    let after = state(&tern).await;
    assert_eq!(before.len(), after.len());
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(b, a, "restored state differs");
    }
    assert!(
        before.iter().any(|s| s.contains("$Important")),
        "{before:?}"
    );
    tern.stop().expect("stop");

    // A damaged chunk: refused before anything is written.
    let chunk = backup.path().join("chunk-000001.bin");
    let mut bytes = std::fs::read(&chunk).expect("chunk");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&chunk, bytes).expect("damage");
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let target = elsewhere.path().join("data");
    let e = err(&restore(backup.path(), &target));
    assert!(e.contains("checksum"), "{e}");
    assert!(!target.join("store").exists(), "nothing written");
}

/// Killed part way (kill -9 of ternctl), the backup resumes from the same snapshot: the second
/// run says so, and what it restores is complete.
#[tokio::test(flavor = "multi_thread")]
async fn an_interrupted_backup_resumes() {
    let original = tempfile::tempdir().expect("tempdir");
    let tern = start(original.path());
    let url = tern.url();
    ok(&ternctl(
        &url,
        Some(TOKEN),
        &["domain", "add", "example.org"],
    ));
    ok(&ternctl(
        &url,
        Some(TOKEN),
        &[
            "account",
            "add",
            "user@example.org",
            "--password",
            "user-password-1",
        ],
    ));
    let mut c = imap::session(&tern, "demo@example.test", PASSWORD).await;
    assert!(c.cmd("CREATE Projects").await.expect("create").ok());
    let (mut s, _) = Client::connect(tern.addr("smtp"), None)
        .await
        .expect("smtp");
    s.expect("EHLO client.test", 250).await.expect("ehlo");
    // About 40 MiB of distinct bodies: some ten chunks of at most 4 MiB.
    for n in 0..10 {
        s.expect("MAIL FROM:<someone@remote.test>", 250)
            .await
            .expect("mail");
        s.expect("RCPT TO:<demo@example.test>", 250)
            .await
            .expect("rcpt");
        let line = format!("{n:0>998}\r\n");
        let body = line.repeat(4000);
        let r = s
            .data(&message(
                "someone@remote.test",
                "demo@example.test",
                &format!("big{n}"),
                &body,
            ))
            .await
            .expect("data");
        assert_eq!(r.code, 250);
    }
    let before = state(&tern).await;
    let backup = tempfile::tempdir().expect("backup dir");
    let manifest = backup.path().join("manifest.json");
    let mut child = std::process::Command::new(tern_tests::bin("ternctl"))
        .args(["backup", "--to", backup.path().to_str().expect("utf8")])
        .env("TERN_ADMIN_URL", tern.url())
        .env("TERN_ADMIN_TOKEN", TOKEN)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("ternctl");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let chunks = std::fs::read(&manifest)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .filter(|m| m["complete"] == false)
            .and_then(|m| m["chunks"].as_array().map(Vec::len))
            .unwrap_or(0);
        if chunks >= 1 {
            break;
        }
        if let Some(status) = child.try_wait().expect("wait") {
            panic!(
                "ternctl finished ({status}) before it could be interrupted: {}",
                std::fs::read_to_string(&manifest).unwrap_or_default()
            );
        }
        assert!(std::time::Instant::now() < deadline, "no chunk written");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().expect("kill -9");
    child.wait().expect("reap");

    let out = ternctl(
        &tern.url(),
        Some(TOKEN),
        &["backup", "--to", backup.path().to_str().expect("utf8")],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("resuming backup"), "{stderr}");
    assert!(ok(&out).contains("backed up"));
    tern.stop().expect("stop");

    let restored = tempfile::tempdir().expect("tempdir");
    let data = restored.path().join("data");
    ok(&restore(backup.path(), &data));
    let tern = start(restored.path());
    assert_eq!(
        state(&tern).await,
        before,
        "the resumed backup restores everything"
    );
    tern.stop().expect("stop");
}
