//! IMAP sessions as a client meets them: STARTTLS on 143 with LOGINDISABLED before it, 993,
//! LOGIN and AUTHENTICATE PLAIN (SASL-IR, continuation, cancel), login by local part and the
//! ambiguous case, mailbox management (LIST with special-use, CREATE, RENAME, DELETE,
//! SUBSCRIBE/LSUB, STATUS, NAMESPACE, the create permission), and every limit with its code.

use tern_tests::{
    Tern,
    imap::{self, Client},
    ok, smtp, ternctl,
};

const TOKEN: &str = "imap-token";
const PASSWORD: &str = "demo-password";

fn b64(s: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[tokio::test(flavor = "multi_thread")]
async fn starttls_login_and_authenticate() {
    let (_dir, tern) = Tern::dev(
        TOKEN,
        PASSWORD,
        &[("TERN_IMAP__AUTH_FAILURE_DELAY_MS", "10")],
    );
    let tls = smtp::tls_config(&tern.certificate()).expect("tls");

    let (mut c, greeting) = Client::connect(tern.addr("imap"), None).await.expect("143");
    assert!(
        greeting.starts_with("* OK [CAPABILITY IMAP4rev1"),
        "{greeting}"
    );
    assert!(
        greeting.contains("STARTTLS") && greeting.contains("LOGINDISABLED"),
        "{greeting}"
    );
    let r = c.login("demo@example.test", PASSWORD).await.expect("login");
    assert!(r.status.starts_with("NO [PRIVACYREQUIRED]"), "{}", r.all());
    let r = c.cmd("SELECT INBOX").await.expect("select");
    assert!(
        r.status.starts_with("BAD") && r.status.contains("log in first"),
        "{}",
        r.all()
    );
    let mut c = c.starttls(&tls).await.expect("starttls");
    let r = c.cmd("CAPABILITY").await.expect("capability");
    let caps = r.lines("CAPABILITY")[0].to_string();
    assert!(
        caps.contains("AUTH=PLAIN")
            && !caps.contains("LOGINDISABLED")
            && !caps.contains("STARTTLS"),
        "{caps}"
    );
    let r = c.cmd("STARTTLS").await.expect("again");
    assert!(r.status.starts_with("BAD"), "{}", r.all());
    let r = c
        .login("demo@example.test", "wrong-password")
        .await
        .expect("bad login");
    assert!(
        r.status.starts_with("NO [AUTHENTICATIONFAILED]"),
        "{}",
        r.all()
    );
    let r = c
        .login("demo", PASSWORD)
        .await
        .expect("login by local part");
    assert!(r.status.starts_with("OK [CAPABILITY"), "{}", r.all());
    assert!(
        r.status.contains("IDLE") && r.status.contains("QRESYNC"),
        "{}",
        r.all()
    );
    let r = c.cmd("LOGIN demo x").await.expect("twice");
    assert!(r.status.starts_with("BAD"), "{}", r.all());
    let r = c.cmd("LOGOUT").await.expect("logout");
    assert!(r.lines("BYE").len() == 1 && r.ok(), "{}", r.all());

    // 993: AUTHENTICATE PLAIN with an initial response, then with a continuation, then cancelled.
    let (mut c, _) = Client::connect(tern.addr("imaps"), Some(&tls))
        .await
        .expect("993");
    let ir = b64(format!("\0demo@example.test\0{PASSWORD}").as_bytes());
    let r = c
        .cmd(&format!("AUTHENTICATE PLAIN {ir}"))
        .await
        .expect("sasl-ir");
    assert!(r.ok(), "{}", r.all());
    let (mut c, _) = Client::connect(tern.addr("imaps"), Some(&tls))
        .await
        .expect("993");
    c.send(b"a1 AUTHENTICATE PLAIN\r\n").await.expect("send");
    assert_eq!(c.line().await.expect("continuation"), "+ ");
    c.send(format!("{ir}\r\n").as_bytes()).await.expect("send");
    let r = c.until("a1").await.expect("done");
    assert!(r.ok(), "{}", r.all());
    let (mut c, _) = Client::connect(tern.addr("imaps"), Some(&tls))
        .await
        .expect("993");
    c.send(b"a1 AUTHENTICATE PLAIN\r\n").await.expect("send");
    c.line().await.expect("continuation");
    c.send(b"*\r\n").await.expect("cancel");
    let r = c.until("a1").await.expect("cancelled");
    assert!(
        r.status.starts_with("BAD") && r.status.contains("cancelled"),
        "{}",
        r.all()
    );
    let r = c.cmd("AUTHENTICATE CRAM-MD5").await.expect("mechanism");
    assert!(
        r.status.starts_with("NO") && r.status.contains("PLAIN"),
        "{}",
        r.all()
    );

    // Too many failed logins close the session.
    let (mut c, _) = Client::connect(tern.addr("imaps"), Some(&tls))
        .await
        .expect("993");
    for _ in 0..2 {
        let r = c.login("demo", "nope-nope").await.expect("fail");
        assert!(r.status.starts_with("NO [AUTHENTICATIONFAILED]"));
    }
    c.send(b"x LOGIN demo nope-nope\r\n").await.expect("send");
    let mut lines = Vec::new();
    while let Ok(l) = c.line().await {
        lines.push(l);
    }
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("* BYE") && l.contains("failed logins")),
        "{lines:?}"
    );

    // A local part in two domains must be given in full.
    ok(&ternctl(
        &tern.url(),
        Some(TOKEN),
        &["domain", "add", "other.test"],
    ));
    ok(&ternctl(
        &tern.url(),
        Some(TOKEN),
        &[
            "account",
            "add",
            "demo@other.test",
            "--password",
            "other-password",
        ],
    ));
    let (mut c, _) = Client::connect(tern.addr("imaps"), Some(&tls))
        .await
        .expect("993");
    let r = c.login("demo", PASSWORD).await.expect("ambiguous");
    assert!(
        r.status.starts_with("NO [AUTHENTICATIONFAILED]") && r.status.contains("full address"),
        "{}",
        r.all()
    );
    let r = c
        .login("demo@other.test", "other-password")
        .await
        .expect("full");
    assert!(r.ok(), "{}", r.all());
    tern.stop().expect("stop");
}

#[tokio::test(flavor = "multi_thread")]
async fn mailbox_management() {
    let (_dir, tern) = Tern::dev(TOKEN, PASSWORD, &[]);
    let mut c = imap::session(&tern, "demo@example.test", PASSWORD).await;
    let r = c.cmd("LIST \"\" \"*\"").await.expect("list");
    assert!(r.ok());
    for (name, attr) in [
        ("Trash", "\\Trash"),
        ("Sent", "\\Sent"),
        ("Drafts", "\\Drafts"),
        ("Junk", "\\Junk"),
        ("Archive", "\\Archive"),
    ] {
        assert!(
            r.lines("LIST")
                .iter()
                .any(|l| l.ends_with(&format!("\"/\" {name}")) && l.contains(attr)),
            "{name}: {}",
            r.all()
        );
    }
    assert!(
        r.lines("LIST").iter().any(|l| l.ends_with("\"/\" INBOX")),
        "{}",
        r.all()
    );
    let r = c.cmd("LIST \"\" \"\"").await.expect("delimiter");
    assert_eq!(r.lines("LIST"), vec!["LIST (\\Noselect) \"/\" \"\""]);

    assert!(c.cmd("CREATE Projects/2026").await.expect("create").ok());
    let r = c.cmd("LIST \"\" \"Projects*\"").await.expect("list");
    assert!(
        r.lines("LIST")
            .iter()
            .any(|l| l.contains("\\HasChildren") && l.ends_with(" Projects")),
        "{}",
        r.all()
    );
    assert!(
        r.lines("LIST").iter().any(|l| l.ends_with("Projects/2026")),
        "{}",
        r.all()
    );
    let r = c.cmd("LIST \"\" \"%\"").await.expect("list %");
    assert!(
        !r.lines("LIST").iter().any(|l| l.ends_with("Projects/2026")),
        "{}",
        r.all()
    );
    let r = c.cmd("CREATE Projects").await.expect("again");
    assert!(r.status.starts_with("NO [ALREADYEXISTS]"), "{}", r.all());
    assert!(c.cmd("RENAME Projects Work").await.expect("rename").ok());
    let r = c.cmd("LIST Work \"*\"").await.expect("list");
    assert!(
        r.lines("LIST").iter().any(|l| l.ends_with("Work/2026")),
        "{}",
        r.all()
    );
    let r = c.cmd("RENAME INBOX Old").await.expect("inbox");
    assert!(r.status.starts_with("NO [CANNOT]"), "{}", r.all());
    let r = c.cmd("DELETE Trash").await.expect("trash");
    assert!(
        r.status.starts_with("NO [CANNOT]") && r.status.contains("Trash"),
        "{}",
        r.all()
    );
    let r = c.cmd("DELETE Nowhere").await.expect("missing");
    assert!(r.status.starts_with("NO [NONEXISTENT]"), "{}", r.all());
    assert!(c.cmd("DELETE Work/2026").await.expect("delete").ok());
    let r = c.cmd("SELECT Work/2026").await.expect("gone");
    assert!(r.status.starts_with("NO [NONEXISTENT]"), "{}", r.all());

    assert!(c.cmd("UNSUBSCRIBE Junk").await.expect("unsub").ok());
    let r = c.cmd("LSUB \"\" \"*\"").await.expect("lsub");
    assert!(
        !r.lines("LSUB").iter().any(|l| l.ends_with(" Junk"))
            && r.lines("LSUB").iter().any(|l| l.ends_with(" Sent")),
        "{}",
        r.all()
    );
    assert!(c.cmd("SUBSCRIBE Junk").await.expect("sub").ok());

    let r = c
        .cmd("STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY UNSEEN HIGHESTMODSEQ RECENT DELETED)")
        .await
        .expect("status");
    let line = r.lines("STATUS")[0];
    assert!(
        line.contains("MESSAGES 0") && line.contains("UIDNEXT 1") && line.contains("HIGHESTMODSEQ"),
        "{line}"
    );
    let r = c.cmd("NAMESPACE").await.expect("namespace");
    assert_eq!(
        r.lines("NAMESPACE"),
        vec!["NAMESPACE ((\"\" \"/\")) NIL NIL"]
    );
    let r = c.cmd("ID (\"name\" \"test\")").await.expect("id");
    assert!(
        r.lines("ID")[0].contains("\"name\" \"Tern\""),
        "{}",
        r.all()
    );

    // The create permission, off.
    ok(&ternctl(
        &tern.url(),
        Some(TOKEN),
        &[
            "account",
            "permissions",
            "demo@example.test",
            "--create-mailboxes",
            "false",
        ],
    ));
    let r = c.cmd("CREATE Forbidden").await.expect("forbidden");
    assert!(
        r.status.starts_with("NO [NOPERM]") && r.status.contains("may_create_mailboxes"),
        "{}",
        r.all()
    );
    tern.stop().expect("stop");
}

#[tokio::test(flavor = "multi_thread")]
async fn limits_have_their_codes() {
    let (_dir, tern) = Tern::dev(
        TOKEN,
        PASSWORD,
        &[
            ("TERN_IMAP__MAX_APPEND_BYTES", "100000"),
            ("TERN_IMAP__MAX_LINE_BYTES", "2000"),
            ("TERN_IMAP__MAX_ERRORS", "8"),
            ("TERN_IMAP__MAX_CONNECTIONS_PER_IP", "4"),
        ],
    );
    let mut c = imap::session(&tern, "demo@example.test", PASSWORD).await;
    // A synchronising literal over the limit is refused before it is sent.
    let r = c
        .cmd_literal("APPEND INBOX", &vec![b'x'; 100_001])
        .await
        .expect("too big");
    assert!(
        r.status.starts_with("NO [TOOBIG]") && r.status.contains("100000"),
        "{}",
        r.all()
    );
    // A non-synchronising one is read past, and the session goes on.
    let mut big = b"n1 APPEND INBOX {150000+}\r\n".to_vec();
    big.extend(std::iter::repeat_n(b'y', 150_000));
    big.extend_from_slice(b"\r\n");
    c.send(&big).await.expect("send");
    let r = c.until("n1").await.expect("refused");
    assert!(r.status.starts_with("BAD [TOOBIG]"), "{}", r.all());
    assert!(c.cmd("NOOP").await.expect("noop").ok());
    // A long line.
    let r = c
        .cmd(&format!("SELECT {}", "a".repeat(3000)))
        .await
        .expect("long");
    assert!(r.status.starts_with("BAD [TOOBIG]"), "{}", r.all());
    // Sequence numbers past the end, unknown commands.
    assert!(c.cmd("SELECT INBOX").await.expect("select").ok());
    let r = c.cmd("FETCH 5 FLAGS").await.expect("fetch");
    assert!(
        r.status.starts_with("BAD") && r.status.contains("has 0"),
        "{}",
        r.all()
    );
    let r = c.cmd("FROB").await.expect("frob");
    assert!(r.status.starts_with("BAD [CLIENTBUG]"), "{}", r.all());

    // Quota on APPEND and COPY.
    ok(&ternctl(
        &tern.url(),
        Some(TOKEN),
        &["account", "quota", "demo@example.test", "--bytes", "3000"],
    ));
    let msg = format!("Subject: q\r\n\r\n{}\r\n", "z".repeat(1800));
    let r = c
        .cmd_literal("APPEND INBOX", msg.as_bytes())
        .await
        .expect("append");
    assert!(r.ok(), "{}", r.all());
    let r = c
        .cmd_literal("APPEND INBOX", msg.as_bytes())
        .await
        .expect("append");
    assert!(r.status.starts_with("NO [OVERQUOTA]"), "{}", r.all());
    let r = c.cmd("COPY 1 Archive").await.expect("copy");
    assert!(r.status.starts_with("NO [OVERQUOTA]"), "{}", r.all());
    let many: Vec<String> = (0..65).map(|i| format!("k{i}")).collect();
    let r = c
        .cmd(&format!("STORE 1 +FLAGS ({})", many.join(" ")))
        .await
        .expect("keywords");
    assert!(
        r.status.starts_with("NO [LIMIT]") && r.status.contains("64"),
        "{}",
        r.all()
    );
    let r = c
        .cmd(&format!("STORE 1 +FLAGS.SILENT ({})", many[..60].join(" ")))
        .await
        .expect("60");
    assert!(r.ok(), "{}", r.all());
    let r = c
        .cmd(&format!("STORE 1 +FLAGS ({})", many[60..].join(" ")))
        .await
        .expect("over");
    assert!(
        r.status.starts_with("NO [LIMIT]") && r.status.contains("left unchanged"),
        "{}",
        r.all()
    );
    let r = c.cmd("GETQUOTA \"\"").await.expect("getquota");
    assert!(r.lines("QUOTA ")[0].contains("STORAGE 1 2"), "{}", r.all());
    let r = c.cmd("GETQUOTA other").await.expect("other root");
    assert!(r.status.starts_with("NO [NONEXISTENT]"), "{}", r.all());
    let r = c.cmd("SETQUOTA \"\" (STORAGE 9)").await.expect("setquota");
    assert!(r.status.starts_with("NO [NOPERM]"), "{}", r.all());
    assert!(c.cmd("CHECK").await.expect("check").ok());
    let r = c.cmd("GETQUOTAROOT INBOX").await.expect("quota");
    assert!(r.lines("QUOTA ")[0].contains("STORAGE 1 2"), "{}", r.all());

    // Connections per address.
    let tls = smtp::tls_config(&tern.certificate()).expect("tls");
    let mut open = Vec::new();
    for _ in 0..3 {
        open.push(
            Client::connect(tern.addr("imaps"), Some(&tls))
                .await
                .expect("connect"),
        );
    }
    let tcp = tokio::net::TcpStream::connect(tern.addr("imap"))
        .await
        .expect("tcp");
    let mut buf = String::new();
    let mut r = tokio::io::BufReader::new(tcp);
    tokio::io::AsyncBufReadExt::read_line(&mut r, &mut buf)
        .await
        .expect("read");
    assert!(buf.starts_with("* BYE [UNAVAILABLE]"), "{buf}");
    drop(open);

    // Too many bad commands end the session (five so far).
    for _ in 0..2 {
        c.cmd("FROB").await.expect("frob");
    }
    c.send(b"x FROB\r\n").await.expect("send");
    let mut lines = Vec::new();
    while let Ok(l) = c.line().await {
        lines.push(l);
    }
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("* BYE") && l.contains("bad commands")),
        "{lines:?}"
    );
    tern.stop().expect("stop");
}
