//! POP3 with real clients: Python's poplib over STLS and 995 (keep and delete), and fetchmail
//! in keep mode (a second run downloads nothing: UIDL is stable) and delete mode. Mail goes in
//! over SMTP, so this is the path a hosting customer takes.

use std::{path::Path, process::Command};

use tern_tests::{
    Tern,
    smtp::{self, message},
};

const TOKEN: &str = "pop3-token";
const PASSWORD: &str = "demo-password";

fn start() -> (tempfile::TempDir, Tern) {
    Tern::dev(TOKEN, PASSWORD, &[])
}

async fn deliver(tern: &Tern, subjects: &[&str]) {
    let (mut c, _) = smtp::Client::connect(tern.addr("smtp"), None)
        .await
        .expect("smtp");
    c.expect("EHLO feeder.test", 250).await.expect("ehlo");
    for s in subjects {
        c.expect("MAIL FROM:<feeder@remote.test>", 250)
            .await
            .expect("mail");
        c.expect("RCPT TO:<demo@example.test>", 250)
            .await
            .expect("rcpt");
        let r = c
            .data(&message(
                "feeder@remote.test",
                "demo@example.test",
                s,
                &format!(".leading dot line\r\nbody of {s}"),
            ))
            .await
            .expect("data");
        assert_eq!(r.code, 250);
    }
}

fn poplib(tern: &Tern, key: &str, mode: &str, action: &str) -> serde_json::Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/poplib_fetch.py");
    let addr = tern.addr(key);
    let out = Command::new("python3")
        .arg(script)
        .args([
            "127.0.0.1",
            &addr.port().to_string(),
            mode,
            "demo@example.test",
            PASSWORD,
        ])
        .arg(tern.certificate())
        .arg(action)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "poplib failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("json")
}

#[tokio::test(flavor = "multi_thread")]
async fn python_poplib_over_stls_and_995() {
    let (_d, tern) = start();
    deliver(&tern, &["first", "second"]).await;
    let keep = poplib(&tern, "pop3", "stls", "keep");
    assert_eq!(keep["count"], 2);
    assert_eq!(keep["subjects"], serde_json::json!(["first", "second"]));
    let caps: Vec<String> = serde_json::from_value(keep["capa"].clone()).expect("capa");
    // Asked after login, so USER/SASL/STLS are rightly absent.
    for c in ["UIDL", "TOP", "RESP-CODES", "PIPELINING"] {
        assert!(caps.contains(&c.to_string()), "CAPA lacks {c}: {caps:?}");
    }
    let again = poplib(&tern, "pop3s", "ssl", "keep");
    assert_eq!(
        again["uidl"], keep["uidl"],
        "UIDL is stable across sessions"
    );
    let deleted = poplib(&tern, "pop3s", "ssl", "delete");
    assert_eq!(deleted["count"], 2);
    assert_eq!(
        tern.mailbox_count(TOKEN, "demo@example.test", "INBOX")
            .expect("inbox"),
        0,
        "POP3 deletions reach the shared store"
    );
    deliver(&tern, &["third"]).await;
    let after = poplib(&tern, "pop3", "stls", "keep");
    assert_eq!(after["subjects"], serde_json::json!(["third"]));
    let metrics = tern.get("/metrics").expect("metrics").1;
    assert!(metrics.contains("tern_pop3_deleted_total 2"), "{metrics}");
    assert!(metrics.contains("tern_pop3_sent_bytes_total"));
}

fn fetchmail(dir: &Path, tern: &Tern, key: &str, tls: &str, keep: bool) -> (String, usize) {
    let mbox = dir.join(format!("mbox-{key}-{keep}"));
    let rc = dir.join(format!("fetchmailrc-{key}-{keep}"));
    let port = tern.addr(key).port();
    let keep_opt = if keep { "keep" } else { "nokeep" };
    std::fs::write(
        &rc,
        format!(
            "set no bouncemail\npoll 127.0.0.1 with proto POP3 port {port} uidl\n  user 'demo@example.test' there with password '{PASSWORD}' is root here\n  options {keep_opt} {tls} sslcertck sslcertfile '{}' sslcommonname localhost\n  mda \"cat >> {}\"\n",
            tern.certificate().display(),
            mbox.display()
        ),
    )
    .expect("rc");
    let mut perms = std::fs::metadata(&rc).expect("rc").permissions();
    std::os::unix::fs::PermissionsExt::set_mode(&mut perms, 0o600);
    std::fs::set_permissions(&rc, perms).expect("chmod");
    let out = Command::new("fetchmail")
        .args(["--nodetach", "--nosyslog", "-v", "-f"])
        .arg(&rc)
        .arg("--idfile")
        .arg(dir.join(format!("fetchids-{key}")))
        .env("HOME", dir)
        .output();
    let out = match out {
        Ok(o) => o,
        Err(e) => {
            panic!("fetchmail is needed (apt-get install fetchmail; .ci/run installs it): {e}")
        }
    };
    let log =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    // Exit 0: mail fetched; 1: no mail. Anything else is a failure.
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "fetchmail failed ({:?}):\n{log}",
        out.status.code()
    );
    let text = std::fs::read_to_string(&mbox).unwrap_or_default();
    (log, text.matches("Subject: ").count())
}

#[tokio::test(flavor = "multi_thread")]
async fn fetchmail_keep_and_delete_modes() {
    let (dir, tern) = start();
    deliver(&tern, &["f1", "f2", "f3"]).await;
    let (log, fetched) = fetchmail(dir.path(), &tern, "pop3s", "ssl", true);
    assert_eq!(fetched, 3, "{log}");
    let (log, fetched) = fetchmail(dir.path(), &tern, "pop3s", "ssl", true);
    assert_eq!(
        fetched, 3,
        "keep mode with UIDL downloads nothing new:\n{log}"
    );
    assert_eq!(
        tern.mailbox_count(TOKEN, "demo@example.test", "INBOX")
            .expect("inbox"),
        3
    );
    let (log, fetched) = fetchmail(dir.path(), &tern, "pop3", "sslproto tls1.2+", false);
    assert_eq!(fetched, 3, "STLS, delete mode:\n{log}");
    assert_eq!(
        tern.mailbox_count(TOKEN, "demo@example.test", "INBOX")
            .expect("inbox"),
        0
    );
}
