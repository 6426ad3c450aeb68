//! Messages over IMAP: APPEND (flags, date, APPENDUID), SELECT/EXAMINE responses, FETCH of
//! every item (ENVELOPE, BODYSTRUCTURE, sections, partials, BINARY, RFC822.*), the implicit
//! \Seen, STORE forms, SEARCH criteria, COPY/MOVE with COPYUID, EXPUNGE, UID EXPUNGE, CLOSE,
//! UNSELECT, and read-only refusals.

use tern_tests::imap;

const TOKEN: &str = "imap-token";
const PASSWORD: &str = "demo-password";

const MULTIPART: &str = "From: Ann Example <ann@remote.test>\r\nTo: demo@example.test\r\nCc: Carl <carl@remote.test>\r\nSubject: Quarterly report\r\nMessage-ID: <q1@remote.test>\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\nX-Project: apollo\r\nContent-Type: multipart/mixed; boundary=zz\r\n\r\n--zz\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nsee the attached numbers\r\n--zz\r\nContent-Type: application/octet-stream; name=data.bin\r\nContent-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename=data.bin\r\n\r\naGVsbG8gd29ybGQ=\r\n--zz--\r\n";

fn plain(subject: &str, body: &str) -> String {
    format!(
        "From: bob@remote.test\r\nTo: demo@example.test\r\nSubject: {subject}\r\nDate: Tue, 24 Nov 2026 09:00:00 +0000\r\n\r\n{body}\r\n"
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn append_select_fetch_store_search() {
    let (_dir, tern) = tern_tests::Tern::dev(TOKEN, PASSWORD, &[]);
    let mut c = imap::session(&tern, "demo@example.test", PASSWORD).await;
    let r = c
        .cmd_literal(
            "APPEND INBOX (\\Flagged $Important) \"23-Nov-2026 10:00:00 +0000\"",
            MULTIPART.as_bytes(),
        )
        .await
        .expect("append");
    assert!(r.status.starts_with("OK [APPENDUID "), "{}", r.all());
    assert!(r.status.contains(" 1]"), "{}", r.all());
    for (i, s) in ["lunch on friday", "invoice 42"].iter().enumerate() {
        let r = c
            .cmd_literal(
                "APPEND INBOX",
                plain(s, &format!("message number {i}")).as_bytes(),
            )
            .await
            .expect("append");
        assert!(r.ok(), "{}", r.all());
    }
    let r = c
        .cmd_literal("APPEND Nowhere", b"Subject: x\r\n\r\ny\r\n")
        .await
        .expect("missing");
    assert!(r.status.starts_with("NO [TRYCREATE]"), "{}", r.all());

    let r = c.cmd("SELECT INBOX").await.expect("select");
    assert!(r.status.starts_with("OK [READ-WRITE]"), "{}", r.all());
    for want in [
        "FLAGS (",
        "OK [PERMANENTFLAGS (",
        "3 EXISTS",
        // Appended before anyone selected the mailbox: recent to this first session.
        "3 RECENT",
        "OK [UNSEEN 1]",
        "OK [UIDVALIDITY ",
        "OK [UIDNEXT 4]",
        "OK [HIGHESTMODSEQ ",
    ] {
        assert!(
            r.untagged.iter().any(|l| l.starts_with(want)),
            "{want}: {}",
            r.all()
        );
    }

    let r = c
        .cmd("FETCH 1 (FLAGS INTERNALDATE RFC822.SIZE ENVELOPE UID)")
        .await
        .expect("fetch");
    let f = r.lines("1 FETCH")[0];
    assert!(f.contains("FLAGS (\\Recent \\Flagged $Important)"), "{f}");
    assert!(
        f.contains("INTERNALDATE \"23-Nov-2026 10:00:00 +0000\""),
        "{f}"
    );
    assert!(
        f.contains(&format!("RFC822.SIZE {}", MULTIPART.len())),
        "{f}"
    );
    assert!(f.contains("ENVELOPE (\"Mon, 23 Nov 2026 10:00:00 +0000\" \"Quarterly report\" ((\"Ann Example\" NIL \"ann\" \"remote.test\"))"), "{f}");
    assert!(
        f.contains("((\"Carl\" NIL \"carl\" \"remote.test\"))")
            && f.contains("\"<q1@remote.test>\""),
        "{f}"
    );
    let r = c.cmd("FETCH 1 BODYSTRUCTURE").await.expect("bodystructure");
    let f = r.lines("1 FETCH")[0];
    assert!(
        f.contains("(\"TEXT\" \"PLAIN\" (\"CHARSET\" \"utf-8\")"),
        "{f}"
    );
    assert!(
        f.contains("\"APPLICATION\" \"OCTET-STREAM\" (\"NAME\" \"data.bin\") NIL NIL \"BASE64\""),
        "{f}"
    );
    assert!(
        f.contains("\"MIXED\" (\"BOUNDARY\" \"zz\")")
            && f.contains("(\"ATTACHMENT\" (\"FILENAME\" \"data.bin\"))"),
        "{f}"
    );
    let r = c.cmd("FETCH 1 (BODY.PEEK[1] BODY.PEEK[HEADER.FIELDS (SUBJECT X-PROJECT)] BODY.PEEK[]<0.6> BINARY.PEEK[2] BINARY.SIZE[2])").await.expect("sections");
    let f = r.lines("1 FETCH")[0];
    assert!(f.contains("BODY[1] {24}see the attached numbers"), "{f}");
    assert!(f.contains("BODY[HEADER.FIELDS (SUBJECT X-PROJECT)] {48}Subject: Quarterly report\r\nX-Project: apollo\r\n\r\n"), "{f}");
    assert!(f.contains("BODY[]<0> {6}From: "), "{f}");
    assert!(
        f.contains("BINARY[2] {11}hello world") && f.contains("BINARY.SIZE[2] 11"),
        "{f}"
    );
    assert!(!f.contains("\\Seen"), "PEEK must not set \\Seen: {f}");
    let r = c.cmd("FETCH 2 (BODY[TEXT])").await.expect("body");
    let f = r.lines("2 FETCH")[0];
    assert!(
        f.contains("BODY[TEXT] {18}message number 0\r\n") && f.contains("FLAGS (\\Recent \\Seen)"),
        "{f}"
    );
    let r = c.cmd("FETCH 2:3 (RFC822.HEADER)").await.expect("header");
    assert_eq!(
        r.lines("").iter().filter(|l| l.contains("FETCH")).count(),
        2,
        "{}",
        r.all()
    );
    let r = c.cmd("FETCH 1:* FAST").await.expect("fast");
    assert_eq!(
        r.lines("")
            .iter()
            .filter(|l| l.contains("FETCH (FLAGS"))
            .count(),
        3,
        "{}",
        r.all()
    );

    let r = c
        .cmd("STORE 3 +FLAGS (\\Answered foo)")
        .await
        .expect("store");
    assert!(
        r.lines("3 FETCH")[0].contains("FLAGS (\\Recent \\Answered foo)"),
        "{}",
        r.all()
    );
    let r = c.cmd("STORE 3 -FLAGS.SILENT (foo)").await.expect("silent");
    assert!(r.untagged.is_empty() && r.ok(), "{}", r.all());
    let r = c
        .cmd("UID STORE 3 FLAGS (\\Draft)")
        .await
        .expect("uid store");
    assert!(
        r.lines("3 FETCH")[0].contains("FLAGS (\\Recent \\Draft)")
            && r.lines("3 FETCH")[0].contains("UID 3"),
        "{}",
        r.all()
    );
    let r = c.cmd("STORE 1 +FLAGS (\\Recent)").await.expect("recent");
    assert!(r.status.starts_with("BAD"), "{}", r.all());

    for (criteria, want) in [
        ("SUBJECT report", "SEARCH 1"),
        ("FROM bob", "SEARCH 2 3"),
        ("CC carl", "SEARCH 1"),
        ("UNSEEN", "SEARCH 1 3"),
        ("SEEN", "SEARCH 2"),
        ("FLAGGED", "SEARCH 1"),
        ("KEYWORD $Important", "SEARCH 1"),
        ("DRAFT", "SEARCH 3"),
        ("LARGER 400", "SEARCH 1"),
        ("HEADER X-Project apollo", "SEARCH 1"),
        ("BODY \"number 1\"", "SEARCH 3"),
        ("TEXT invoice", "SEARCH 3"),
        ("OR SUBJECT lunch SUBJECT invoice", "SEARCH 2 3"),
        ("NOT FROM bob", "SEARCH 1"),
        ("SENTBEFORE 24-Nov-2026", "SEARCH 1"),
        ("SENTON 24-Nov-2026", "SEARCH 2 3"),
        ("BEFORE 24-Nov-2026", "SEARCH 1"),
        ("2:3 UNDRAFT", "SEARCH 2"),
        ("UID 1,3", "SEARCH 1 3"),
        ("ALL", "SEARCH 1 2 3"),
        // All three are recent to this session, the first to select the mailbox.
        ("NEW", "SEARCH 1 3"),
        ("RECENT", "SEARCH 1 2 3"),
        ("OLD", "SEARCH"),
    ] {
        let r = c.cmd(&format!("SEARCH {criteria}")).await.expect("search");
        assert_eq!(r.lines("SEARCH"), vec![want], "{criteria}: {}", r.all());
    }
    let r = c
        .cmd("SEARCH RETURN (MIN MAX COUNT ALL) FROM bob")
        .await
        .expect("esearch");
    assert!(
        r.lines("ESEARCH")[0].ends_with(") MIN 2 MAX 3 COUNT 2 ALL 2:3"),
        "{}",
        r.all()
    );
    let r = c
        .cmd("UID SEARCH RETURN () NOT FROM bob")
        .await
        .expect("esearch all");
    assert!(
        r.lines("ESEARCH")[0].ends_with(") UID ALL 1"),
        "{}",
        r.all()
    );
    let r = c
        .cmd("SEARCH RETURN (COUNT) SUBJECT nothing-like-this")
        .await
        .expect("esearch none");
    assert!(r.lines("ESEARCH")[0].ends_with(") COUNT 0"), "{}", r.all());
    let r = c.cmd("SEARCH RETURN (SAVE) ALL").await.expect("save");
    assert!(
        r.status.starts_with("BAD") && r.status.contains("SAVE"),
        "{}",
        r.all()
    );
    for (command, want) in [
        ("SORT (SUBJECT) UTF-8 ALL", "SORT 3 2 1"),
        ("SORT (REVERSE SIZE) UTF-8 ALL", "SORT 1 2 3"),
        ("SORT (FROM) US-ASCII ALL", "SORT 1 2 3"),
        ("SORT (DATE) UTF-8 ALL", "SORT 1 2 3"),
        ("SORT (REVERSE ARRIVAL) UTF-8 ALL", "SORT 2 3 1"),
        ("SORT (DISPLAYFROM) UTF-8 ALL", "SORT 1 2 3"),
        ("UID SORT (SUBJECT) UTF-8 FROM bob", "SORT 3 2"),
    ] {
        let r = c.cmd(command).await.expect("sort");
        assert_eq!(r.lines("SORT"), vec![want], "{command}: {}", r.all());
    }
    let r = c.cmd("UID SEARCH FROM bob").await.expect("uid search");
    assert_eq!(r.lines("SEARCH"), vec!["SEARCH 2 3"]);
    let r = c.cmd("SEARCH CHARSET KOI8-R ALL").await.expect("charset");
    assert!(r.status.starts_with("NO [BADCHARSET"), "{}", r.all());
    tern.stop().expect("stop");
}

#[tokio::test(flavor = "multi_thread")]
async fn multiappend_and_list_extended() {
    let (_dir, tern) = tern_tests::Tern::dev(TOKEN, PASSWORD, &[]);
    let mut c = imap::session(&tern, "demo@example.test", PASSWORD).await;
    let (a, b) = (plain("first of two", "a"), plain("second of two", "b"));
    let mut cmd = format!("m1 APPEND Drafts (\\Draft) {{{}+}}\r\n", a.len()).into_bytes();
    cmd.extend_from_slice(a.as_bytes());
    cmd.extend_from_slice(format!(" (\\Seen) {{{}+}}\r\n", b.len()).as_bytes());
    cmd.extend_from_slice(b.as_bytes());
    cmd.extend_from_slice(b"\r\n");
    c.send(&cmd).await.expect("send");
    let r = c.until("m1").await.expect("multiappend");
    assert!(
        r.status.starts_with("OK [APPENDUID ") && r.status.contains(" 1:2]"),
        "{}",
        r.all()
    );
    let r = c
        .cmd("STATUS Drafts (MESSAGES UNSEEN)")
        .await
        .expect("status");
    assert_eq!(
        r.lines("STATUS"),
        vec!["STATUS Drafts (MESSAGES 2 UNSEEN 1)"]
    );

    assert!(c.cmd("UNSUBSCRIBE Junk").await.expect("unsub").ok());
    let r = c
        .cmd("LIST (SUBSCRIBED) \"\" \"*\" RETURN (CHILDREN STATUS (MESSAGES UNSEEN))")
        .await
        .expect("list-extended");
    assert!(r.ok(), "{}", r.all());
    assert!(
        !r.lines("LIST").iter().any(|l| l.ends_with(" Junk")),
        "{}",
        r.all()
    );
    assert!(
        r.lines("STATUS")
            .contains(&"STATUS Drafts (MESSAGES 2 UNSEEN 1)"),
        "{}",
        r.all()
    );
    let r = c
        .cmd("LIST (SPECIAL-USE) \"\" \"*\"")
        .await
        .expect("special-use");
    assert_eq!(r.lines("LIST").len(), 5, "{}", r.all());
    let r = c.cmd("LIST \"\" (INBOX Sent)").await.expect("patterns");
    assert_eq!(r.lines("LIST").len(), 2, "{}", r.all());
    let r = c.cmd("CAPABILITY").await.expect("caps");
    for cap in ["LIST-EXTENDED", "LIST-STATUS", "ESEARCH", "MULTIAPPEND"] {
        assert!(r.lines("CAPABILITY")[0].contains(cap), "{cap}");
    }
    tern.stop().expect("stop");
}

#[tokio::test(flavor = "multi_thread")]
async fn copy_move_expunge_close() {
    let (_dir, tern) = tern_tests::Tern::dev(TOKEN, PASSWORD, &[]);
    let mut c = imap::session(&tern, "demo@example.test", PASSWORD).await;
    for i in 1..=5 {
        let r = c
            .cmd_literal("APPEND INBOX", plain(&format!("m{i}"), "x").as_bytes())
            .await
            .expect("append");
        assert!(r.ok());
    }
    assert!(c.cmd("SELECT INBOX").await.expect("select").ok());
    let r = c.cmd("COPY 1:2 Archive").await.expect("copy");
    assert!(
        r.status.starts_with("OK [COPYUID ") && r.status.contains(" 1:2 1:2]"),
        "{}",
        r.all()
    );
    let r = c.cmd("UID MOVE 3 Trash").await.expect("move");
    assert!(r.lines("OK [COPYUID ")[0].contains(" 3 1]"), "{}", r.all());
    assert_eq!(r.lines("3 EXPUNGE"), vec!["3 EXPUNGE"], "{}", r.all());
    let r = c.cmd("MOVE 1 Nowhere").await.expect("move missing");
    assert!(r.status.starts_with("NO [TRYCREATE]"), "{}", r.all());
    // Now INBOX holds UIDs 1 2 4 5.
    assert!(
        c.cmd("STORE 1:2 +FLAGS.SILENT (\\Deleted)")
            .await
            .expect("delete")
            .ok()
    );
    let r = c.cmd("UID EXPUNGE 2").await.expect("uid expunge");
    assert_eq!(r.lines("2 EXPUNGE"), vec!["2 EXPUNGE"], "{}", r.all());
    let r = c.cmd("EXPUNGE").await.expect("expunge");
    assert_eq!(r.lines("1 EXPUNGE"), vec!["1 EXPUNGE"], "{}", r.all());
    let r = c.cmd("UID FETCH 1:* UID").await.expect("left");
    assert_eq!(
        r.untagged,
        vec!["1 FETCH (UID 4)", "2 FETCH (UID 5)"],
        "{}",
        r.all()
    );
    assert!(
        c.cmd("STORE 1 +FLAGS.SILENT (\\Deleted)")
            .await
            .expect("mark")
            .ok()
    );
    assert!(c.cmd("CLOSE").await.expect("close").ok());
    let r = c.cmd("FETCH 1 FLAGS").await.expect("closed");
    assert!(
        r.status.starts_with("BAD") && r.status.contains("select"),
        "{}",
        r.all()
    );
    let r = c.cmd("STATUS INBOX (MESSAGES)").await.expect("status");
    assert_eq!(r.lines("STATUS"), vec!["STATUS INBOX (MESSAGES 1)"]);
    let r = c.cmd("STATUS Archive (MESSAGES)").await.expect("status");
    assert_eq!(r.lines("STATUS"), vec!["STATUS Archive (MESSAGES 2)"]);

    let r = c.cmd("EXAMINE Archive").await.expect("examine");
    assert!(r.status.starts_with("OK [READ-ONLY]"), "{}", r.all());
    let r = c.cmd("STORE 1 +FLAGS (\\Seen)").await.expect("store ro");
    assert!(r.status.starts_with("NO [READ-ONLY]"), "{}", r.all());
    let r = c.cmd("FETCH 1 BODY[]").await.expect("fetch ro");
    assert!(!r.lines("1 FETCH")[0].contains("\\Seen"), "{}", r.all());
    assert!(c.cmd("UNSELECT").await.expect("unselect").ok());
    let r = c.cmd("SELECT Trash").await.expect("select trash");
    assert!(r.untagged.iter().any(|l| l == "1 EXISTS"), "{}", r.all());
    tern.stop().expect("stop");
}
