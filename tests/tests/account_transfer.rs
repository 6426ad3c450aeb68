//! Migrations: `ternctl account export --maildir` writes Dovecot's Maildir++ layout with
//! flags, keywords and dates; `ternctl account import` reads it back into another account
//! (the two then hold the same messages) and reads an mbox as mutt writes it.

use std::time::UNIX_EPOCH;

use tern_tests::{Tern, err, imap, ok, ternctl};

const TOKEN: &str = "transfer-token";
const PASSWORD: &str = "transfer-password";

async fn mailbox_text(tern: &Tern, user: &str, password: &str, mailbox: &str) -> String {
    let mut c = imap::session(tern, user, password).await;
    assert!(
        c.cmd(&format!("EXAMINE {mailbox}"))
            .await
            .expect("examine")
            .ok()
    );
    let r = c
        .cmd("FETCH 1:* (FLAGS INTERNALDATE BODY.PEEK[])")
        .await
        .expect("fetch");
    assert!(r.ok(), "{}", r.all());
    r.untagged.join("\n")
}

#[tokio::test(flavor = "multi_thread")]
async fn maildir_export_import_and_mbox() {
    let (_d, tern) = Tern::dev(TOKEN, PASSWORD, &[]);
    let url = tern.url();
    let ctl = |args: &[&str]| ternctl(&url, Some(TOKEN), args);
    let mut c = imap::session(&tern, "demo@example.test", PASSWORD).await;
    assert!(c.cmd("CREATE Archive/2024").await.expect("create").ok());
    for (mailbox, flags, subject) in [
        ("INBOX", "(\\Seen \\Flagged $Important)", "one"),
        ("INBOX", "()", "two"),
        ("Archive/2024", "(\\Answered)", "three"),
    ] {
        let body =
            format!("From: a@example.org\r\nSubject: {subject}\r\n\r\nbody of {subject}\r\n");
        let r = c
            .cmd_literal(
                &format!("APPEND {mailbox} {flags} \"01-Mar-2024 10:00:00 +0000\""),
                body.as_bytes(),
            )
            .await
            .expect("append");
        assert!(r.ok(), "{}", r.all());
    }
    assert!(c.cmd("LOGOUT").await.expect("logout").ok());

    let out = tempfile::tempdir().expect("tempdir");
    let dir = out.path().join("Maildir");
    let done = ok(&ctl(&[
        "account",
        "export",
        "demo@example.test",
        "--maildir",
        dir.to_str().expect("utf8"),
    ]));
    assert!(done.contains("exported 3 messages"), "{done}");
    let names: Vec<String> = std::fs::read_dir(dir.join("cur"))
        .expect("cur")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().any(|n| n.ends_with(":2,FSa")), "{names:?}");
    assert!(names.iter().any(|n| n.ends_with(":2,")), "{names:?}");
    assert_eq!(
        std::fs::read_to_string(dir.join("dovecot-keywords")).expect("keywords"),
        "0 $Important\n"
    );
    let archived: Vec<_> = std::fs::read_dir(dir.join(".Archive.2024/cur"))
        .expect("folder")
        .map(|e| e.expect("entry").path())
        .collect();
    assert_eq!(archived.len(), 1);
    assert!(archived[0].to_string_lossy().ends_with(":2,R"));
    let mtime = std::fs::metadata(&archived[0])
        .expect("meta")
        .modified()
        .expect("mtime")
        .duration_since(UNIX_EPOCH)
        .expect("epoch")
        .as_secs();
    assert_eq!(mtime, 1_709_287_200, "the file is dated with INTERNALDATE");

    // Back into another account: the same messages, flags and dates.
    ok(&ctl(&[
        "account",
        "add",
        "copy@example.test",
        "--password",
        "copy-password-1",
    ]));
    let done = ok(&ctl(&[
        "account",
        "import",
        "copy@example.test",
        "--maildir",
        dir.to_str().expect("utf8"),
    ]));
    assert!(done.contains("imported 3 messages"), "{done}");
    for mailbox in ["INBOX", "Archive/2024"] {
        assert_eq!(
            mailbox_text(&tern, "demo@example.test", PASSWORD, mailbox).await,
            mailbox_text(&tern, "copy@example.test", "copy-password-1", mailbox).await,
            "{mailbox} imported as exported"
        );
    }

    // An mbox as mutt writes it.
    let mbox = out.path().join("old.mbox");
    std::fs::write(
        &mbox,
        "From alice@example.org Thu Dec  4 15:48:49 2025\nSubject: m1\nStatus: RO\n\n\
         line\n>From quoted\n\nFrom bob@example.org Fri Dec  5 09:00:00 2025\nSubject: m2\n\nbye\n",
    )
    .expect("mbox");
    let done = ok(&ctl(&[
        "account",
        "import",
        "copy@example.test",
        "--mbox",
        mbox.to_str().expect("utf8"),
        "--mailbox",
        "Old mail",
    ]));
    assert!(done.contains("imported 2 messages"), "{done}");
    let text = mailbox_text(
        &tern,
        "copy@example.test",
        "copy-password-1",
        "\"Old mail\"",
    )
    .await;
    assert!(
        text.contains("\\Seen") && text.contains("04-Dec-2025 15:48:49 +0000"),
        "{text}"
    );
    assert!(
        text.contains("\r\nFrom quoted") || text.contains("\nFrom quoted"),
        "{text}"
    );
    let e = err(&ctl(&[
        "account",
        "import",
        "copy@example.test",
        "--maildir",
        out.path().to_str().expect("utf8"),
    ]));
    assert!(e.contains("is not a Maildir"), "{e}");

    // What the import refuses, with its status.
    let path = "/accounts/copy@example.test/mailboxes/INBOX/messages";
    let post = |body: serde_json::Value| {
        tern.api_send(TOKEN, "POST", path, body)
            .expect_err("refused")
            .to_string()
    };
    let e = post(serde_json::json!({ "raw": "" }));
    assert!(
        e.contains("400") && e.contains("an empty message cannot be imported"),
        "{e}"
    );
    let e = post(serde_json::json!({ "raw": "U3ViamVjdDogeA0KDQp4DQo=", "flags": ["\\Recent"] }));
    assert!(
        e.contains("400") && e.contains("is not a system flag"),
        "{e}"
    );
    ok(&ctl(&[
        "account",
        "quota",
        "copy@example.test",
        "--bytes",
        "10",
    ]));
    let e = post(serde_json::json!({ "raw": "U3ViamVjdDogeA0KDQp4DQo=" }));
    assert!(
        e.contains("507") && e.contains("would go over its quota"),
        "{e}"
    );
    tern.stop().expect("stop");
}
