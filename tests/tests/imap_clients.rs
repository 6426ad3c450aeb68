//! IMAP with real clients: Python's imaplib over STARTTLS, over 993, and over 993 with
//! COMPRESS=DEFLATE done by zlib (list, search, fetch, store, append, copy, expunge, IDLE woken
//! by an SMTP delivery), and mbsync (isync) syncing a Maildir both ways: server mail down,
//! local flag changes, deletions and new messages up.

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Command, Stdio},
};

use tern_tests::{Tern, imap, smtp};

const TOKEN: &str = "imap-token";
const PASSWORD: &str = "demo-password";

fn imaplib(tern: &Tern, key: &str, mode: &str) -> serde_json::Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/imaplib_session.py");
    let addr = tern.addr(key);
    let mut child = Command::new("python3")
        .arg(script)
        .args([
            "localhost",
            &addr.port().to_string(),
            mode,
            "demo@example.test",
            PASSWORD,
        ])
        .arg(tern.certificate())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let first = lines.next().expect("a line").expect("utf-8");
    assert_eq!(first, "IDLING", "the script reached IDLE");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(smtp::deliver(
        tern.addr("smtp"),
        "demo@example.test",
        &["during idle"],
    ))
    .expect("deliver during IDLE");
    let json = lines.next().expect("json").expect("utf-8");
    assert!(child.wait().expect("exit").success());
    serde_json::from_str(&json).expect("json")
}

#[test]
fn python_imaplib_over_starttls_and_993() {
    let (_dir, tern) = Tern::dev(TOKEN, PASSWORD, &[]);
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(smtp::deliver(
        tern.addr("smtp"),
        "demo@example.test",
        &["one", "two", "three"],
    ))
    .expect("deliver");
    let out = imaplib(&tern, "imap", "starttls");
    assert_eq!(out["login"], "OK");
    assert_eq!(out["exists"], 3);
    assert_eq!(out["unseen"], 3);
    assert_eq!(out["subjects"], serde_json::json!(["one", "two", "three"]));
    for name in ["INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive"] {
        assert!(
            out["mailboxes"]
                .as_array()
                .expect("list")
                .iter()
                .any(|m| m == name),
            "{out}"
        );
    }
    assert!(
        out["flags_after_store"]
            .as_str()
            .expect("flags")
            .contains("\\Flagged"),
        "{out}"
    );
    assert!(
        out["append"]
            .as_str()
            .expect("append")
            .starts_with("[APPENDUID "),
        "{out}"
    );
    assert!(
        out["copy"].as_str().expect("copy").starts_with("[COPYUID "),
        "{out}"
    );
    assert_eq!(out["expunged"], serde_json::json!(["3"]), "{out}");
    assert_eq!(out["archive"], "Archive (MESSAGES 1)");
    assert!(
        out["idle_continuation"]
            .as_str()
            .expect("idle")
            .starts_with('+'),
        "{out}"
    );
    assert_eq!(out["idle_event"], "* 3 EXISTS", "{out}");
    assert!(
        out["idle_done"].as_str().expect("done").contains("OK"),
        "{out}"
    );

    let out = imaplib(&tern, "imaps", "ssl");
    assert_eq!(out["login"], "OK");
    assert!(
        out["capabilities"]
            .as_array()
            .expect("caps")
            .iter()
            .any(|c| c == "IDLE")
    );
    // Two left after the first run's expunge, plus the one delivered during this IDLE.
    assert_eq!(out["idle_event"], "* 3 EXISTS", "{out}");

    // The same session again under COMPRESS=DEFLATE, compressed by zlib.
    let out = imaplib(&tern, "imaps", "ssl-compress");
    assert_eq!(out["compress"], "OK", "{out}");
    assert!(
        !out["subjects"].as_array().expect("subjects").is_empty(),
        "{out}"
    );
    assert!(
        out["copy"].as_str().expect("copy").starts_with("[COPYUID "),
        "{out}"
    );
    assert_eq!(
        out["expunged"].as_array().expect("expunged").len(),
        1,
        "{out}"
    );
    assert_eq!(out["idle_event"], "* 3 EXISTS", "{out}");
    assert!(
        out["idle_done"].as_str().expect("done").contains("OK"),
        "{out}"
    );
    tern.stop().expect("stop");
}

fn mbsync(config: &Path) {
    let out = Command::new("mbsync")
        .args(["-c", config.to_str().expect("path"), "-a"])
        .output()
        .expect("mbsync is installed (Debian package isync)");
    assert!(
        out.status.success(),
        "mbsync failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn maildir_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for sub in ["cur", "new"] {
        if let Ok(entries) = std::fs::read_dir(dir.join(sub)) {
            files.extend(entries.map(|e| e.expect("entry").path()));
        }
    }
    files.sort();
    files
}

fn subject_of(path: &Path) -> String {
    let text = std::fs::read_to_string(path).expect("message");
    text.lines()
        .find_map(|l| l.strip_prefix("Subject: "))
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn mbsync_two_way() {
    let (dir, tern) = Tern::dev(TOKEN, PASSWORD, &[]);
    smtp::deliver(
        tern.addr("smtp"),
        "demo@example.test",
        &["keep", "read me", "delete me"],
    )
    .await
    .expect("deliver");
    let local = dir.path().join("maildir");
    std::fs::create_dir_all(&local).expect("maildir");
    let config = dir.path().join("mbsyncrc");
    std::fs::write(
        &config,
        format!(
            "IMAPAccount tern\nHost localhost\nPort {port}\nUser demo@example.test\nPass {PASSWORD}\nSSLType IMAPS\nCertificateFile {cert}\n\nIMAPStore remote\nAccount tern\n\nMaildirStore local\nPath {local}/\nInbox {local}/INBOX\nSubFolders Verbatim\n\nChannel all\nFar :remote:\nNear :local:\nPatterns *\nCreate Both\nExpunge Both\nSyncState *\n",
            port = tern.addr("imaps").port(),
            cert = tern.certificate().display(),
            local = local.display(),
        ),
    )
    .expect("config");
    let blocking =
        |config: std::path::PathBuf| tokio::task::spawn_blocking(move || mbsync(&config));
    blocking(config.clone()).await.expect("first sync");
    let inbox = local.join("INBOX");
    let files = maildir_files(&inbox);
    let mut subjects: Vec<String> = files.iter().map(|f| subject_of(f)).collect();
    subjects.sort();
    assert_eq!(subjects, ["delete me", "keep", "read me"]);
    assert!(
        local.join("Trash").exists() && local.join("Archive").exists(),
        "folders synced down"
    );

    // Local changes: mark one read, delete one, file a new message in Archive.
    for f in &files {
        let subject = subject_of(f);
        let name = f.file_name().expect("name").to_string_lossy().to_string();
        let base = name.split(":2,").next().expect("base").to_string();
        if subject == "read me" {
            std::fs::rename(f, inbox.join("cur").join(format!("{base}:2,S"))).expect("mark seen");
        } else if subject == "delete me" {
            std::fs::remove_file(f).expect("delete");
        }
    }
    std::fs::write(
        local.join("Archive/new/1700000000.local.test"),
        "From: demo@example.test\r\nSubject: written offline\r\n\r\nfrom the laptop\r\n",
    )
    .expect("new message");
    blocking(config.clone()).await.expect("second sync");

    let mut c = imap::session(&tern, "demo@example.test", PASSWORD).await;
    let r = c.cmd("SELECT INBOX").await.expect("select");
    assert!(
        r.untagged.iter().any(|l| l == "2 EXISTS"),
        "deletion went up: {}",
        r.all()
    );
    let r = c.cmd("SEARCH SEEN").await.expect("seen");
    let r2 = c.cmd("SEARCH SUBJECT \"read me\"").await.expect("subject");
    assert_eq!(r.lines("SEARCH"), r2.lines("SEARCH"), "the flag went up");
    let r = c
        .cmd("SEARCH SUBJECT \"delete me\"")
        .await
        .expect("deleted");
    assert_eq!(r.lines("SEARCH"), vec!["SEARCH"]);
    let r = c.cmd("STATUS Archive (MESSAGES)").await.expect("archive");
    assert_eq!(
        r.lines("STATUS"),
        vec!["STATUS Archive (MESSAGES 1)"],
        "new message went up"
    );

    // A server-side flag comes down.
    let r = c.cmd("SEARCH SUBJECT keep").await.expect("keep");
    let n = r.lines("SEARCH")[0]
        .trim_start_matches("SEARCH ")
        .to_string();
    assert!(
        c.cmd(&format!("STORE {n} +FLAGS (\\Flagged)"))
            .await
            .expect("flag")
            .ok()
    );
    blocking(config.clone()).await.expect("third sync");
    let flagged = maildir_files(&inbox)
        .into_iter()
        .find(|f| subject_of(f) == "keep")
        .expect("keep is there");
    let name = flagged
        .file_name()
        .expect("name")
        .to_string_lossy()
        .to_string();
    let info = name
        .split_once(":2,")
        .map(|(_, f)| f.to_string())
        .unwrap_or_default();
    assert!(
        info.contains('F'),
        "the \\Flagged flag came down as F: {name}"
    );
    tern.stop().expect("stop");
}
