//! The IMAP extensions an IMAP compliance suite expects, each tested from its RFC: THREAD
//! (RFC 5256), ESORT (RFC 5267; CONTEXT=SEARCH/SORT are in `imap_context.rs`), STATUS=SIZE
//! (RFC 8438), CREATE-SPECIAL-USE (RFC 6154), BINARY (RFC 3516), COMPRESS=DEFLATE (RFC 4978),
//! UTF8=ACCEPT (RFC 6855), CATENATE (RFC 4469) and the IMAP4rev2 switch (RFC 9051).

use tern_tests::imap::{self, append, message};

const TOKEN: &str = "extensions-token";
const PASSWORD: &str = "demo-password";

const DATE: &str = "Tue, 24 Nov 2026 09:00:00 +0000";

/// CREATE-SPECIAL-USE (RFC 6154 §3): a role given at creation, `[USEATTR]` for one that
/// cannot be given, and then nothing is created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_gives_a_special_use() {
    let (_dir, tern) = tern_tests::Tern::dev(TOKEN, PASSWORD, &[]);
    let mut c = imap::session(&tern, "demo@example.test", PASSWORD).await;
    let r = c.cmd("CAPABILITY").await.expect("capability");
    assert!(r.all().contains("CREATE-SPECIAL-USE"), "{}", r.all());
    let r = c
        .cmd("CREATE \"Old Sent\" (USE (\\Sent))")
        .await
        .expect("create");
    assert!(r.ok(), "{}", r.all());
    let r = c.cmd("LIST \"\" \"Old Sent\"").await.expect("list");
    assert_eq!(
        r.lines("LIST"),
        ["LIST (\\HasNoChildren \\Sent) \"/\" \"Old Sent\""],
        "{}",
        r.all()
    );
    for (command, why) in [
        (
            "CREATE Stars (USE (\\Flagged))",
            "\\Flagged is not a special use offered here",
        ),
        ("CREATE Both (USE (\\Sent \\Junk))", "one special use"),
    ] {
        let r = c.cmd(command).await.expect("create");
        assert!(
            r.status.starts_with("NO [USEATTR]") && r.status.contains(why),
            "{command}: {}",
            r.all()
        );
    }
    let r = c.cmd("LIST \"\" *").await.expect("list");
    assert!(
        !r.all().contains("Stars") && !r.all().contains("Both"),
        "nothing was created: {}",
        r.all()
    );
    tern.stop().expect("clean stop");
}

/// THREAD=REFERENCES and THREAD=ORDEREDSUBJECT (RFC 5256).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn threads_by_references_and_by_subject() {
    let (_dir, tern) = tern_tests::Tern::dev(TOKEN, PASSWORD, &[]);
    let mut c = imap::session(&tern, "demo@example.test", PASSWORD).await;
    let r = c.cmd("CAPABILITY").await.expect("capability");
    for cap in ["THREAD=ORDEREDSUBJECT", "THREAD=REFERENCES"] {
        assert!(r.all().contains(cap), "{cap}: {}", r.all());
    }
    // (minute, subject, Message-ID, the reply headers)
    for (minute, subject, id, reply) in [
        (1, "plan", "a", ""),
        (2, "Re: plan", "b", "In-Reply-To: <a@x.test>\r\n"),
        (0, "lunch", "c", ""),
        (3, "Re: plan", "d", "References: <a@x.test> <b@x.test>\r\n"),
        (4, "Re: lunch", "e", ""),
    ] {
        let raw = format!(
            "From: bob@remote.test\r\nSubject: {subject}\r\nMessage-ID: <{id}@x.test>\r\n{reply}Date: Tue, 24 Nov 2026 09:0{minute}:00 +0000\r\n\r\nbody\r\n"
        );
        append(&mut c, "", &raw).await;
    }
    assert!(c.cmd("SELECT INBOX").await.expect("select").ok());
    for (command, want) in [
        // The reply without references joins "lunch" by its subject; threads by date.
        ("THREAD REFERENCES UTF-8 ALL", "THREAD (3 5)(1 2 4)"),
        ("THREAD ORDEREDSUBJECT UTF-8 ALL", "THREAD (3 5)(1 (2)(4))"),
        ("UID THREAD REFERENCES UTF-8 SUBJECT plan", "THREAD (1 2 4)"),
        ("THREAD REFERENCES UTF-8 SUBJECT nothing", "THREAD"),
    ] {
        let r = c.cmd(command).await.expect("thread");
        assert!(r.ok(), "{command}: {}", r.all());
        assert_eq!(r.lines("THREAD"), [want], "{command}: {}", r.all());
    }
    tern.stop().expect("clean stop");
}

/// STATUS=SIZE (RFC 8438), in STATUS and in LIST-STATUS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_reports_the_size() {
    let (_dir, tern) = tern_tests::Tern::dev(TOKEN, PASSWORD, &[]);
    let mut c = imap::session(&tern, "demo@example.test", PASSWORD).await;
    let (one, two) = (message(DATE, "one"), message(DATE, "second"));
    append(&mut c, "", &one).await;
    append(&mut c, "", &two).await;
    let size = one.len() + two.len();
    let r = c.cmd("STATUS INBOX (MESSAGES SIZE)").await.expect("status");
    assert_eq!(
        r.lines("STATUS"),
        [format!("STATUS INBOX (MESSAGES 2 SIZE {size})").as_str()],
        "{}",
        r.all()
    );
    let r = c
        .cmd("LIST \"\" INBOX RETURN (STATUS (SIZE))")
        .await
        .expect("list-status");
    assert_eq!(
        r.lines("STATUS"),
        [format!("STATUS INBOX (SIZE {size})").as_str()],
        "{}",
        r.all()
    );
    let r = c.cmd("CAPABILITY").await.expect("capability");
    assert!(r.all().contains("STATUS=SIZE"), "{}", r.all());
    tern.stop().expect("clean stop");
}

/// BINARY (RFC 3516): APPEND takes a literal8; BINARY decodes the transfer encoding and
/// answers with a literal8 when the content holds NUL; BINARY.SIZE is the decoded size.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_content() {
    let (_dir, tern) = tern_tests::Tern::dev(TOKEN, PASSWORD, &[]);
    let mut c = imap::session(&tern, "demo@example.test", PASSWORD).await;
    let r = c.cmd("CAPABILITY").await.expect("capability");
    assert!(r.all().contains(" BINARY"), "{}", r.all());
    let mut raw = format!(
        "From: bob@remote.test\r\nSubject: binary\r\nDate: {DATE}\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\ncaf=C3=A9 =  \r\nau lait   \r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\n"
    )
    .into_bytes();
    raw.extend_from_slice(b"a\0b\0c");
    raw.extend_from_slice(b"\r\n--b--\r\n");
    let r = c
        .cmd_literal8("APPEND INBOX", &raw)
        .await
        .expect("append literal8");
    assert!(r.ok(), "{}", r.all());
    assert!(c.cmd("SELECT INBOX").await.expect("select").ok());
    let r = c
        .cmd("FETCH 1 (BINARY.PEEK[1] BINARY.SIZE[1] BINARY.PEEK[2] BINARY.SIZE[2])")
        .await
        .expect("fetch");
    let f = r.lines("1 FETCH").concat();
    // The soft break joined the lines; the transport's trailing spaces are gone.
    assert!(f.contains("BINARY[1] {13}café au lait "), "{f:?}");
    assert!(f.contains("BINARY.SIZE[1] 13"), "{f:?}");
    assert!(f.contains("BINARY[2] ~{5}a\0b\0c"), "{f:?}");
    assert!(f.contains("BINARY.SIZE[2] 5"), "{f:?}");
    // A partial fetch is answered with its origin (RFC 3516 §4.2).
    let r = c
        .cmd("FETCH 1 (BINARY.PEEK[2]<1.3> BINARY.PEEK[1]<6.2>)")
        .await
        .expect("fetch");
    let f = r.lines("1 FETCH").concat();
    assert!(f.contains("BINARY[2]<1> ~{3}\0b\0"), "{f:?}");
    assert!(f.contains("BINARY[1]<6> {2}au"), "{f:?}");
    tern.stop().expect("clean stop");
}

/// ESORT (RFC 5267 §3): SORT RETURN answers with ESEARCH in sort order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sort_returns_esearch_in_sort_order() {
    let (_dir, tern) = tern_tests::Tern::dev(TOKEN, PASSWORD, &[]);
    let mut c = imap::session(&tern, "demo@example.test", PASSWORD).await;
    for subject in ["c", "a", "b", "d"] {
        append(&mut c, "", &message(DATE, subject)).await;
    }
    assert!(c.cmd("SELECT INBOX").await.expect("select").ok());
    let r = c.cmd("CAPABILITY").await.expect("capability");
    assert!(r.all().contains("ESORT"), "{}", r.all());
    for (command, want) in [
        (
            "SORT RETURN (MIN MAX COUNT ALL) (SUBJECT) UTF-8 ALL",
            " MIN 2 MAX 4 COUNT 4 ALL 2:3,1,4",
        ),
        (
            "UID SORT RETURN () (REVERSE SUBJECT) UTF-8 ALL",
            " UID ALL 4,1,3,2",
        ),
        (
            "SORT RETURN (COUNT) (SUBJECT) UTF-8 SUBJECT zzz",
            " COUNT 0",
        ),
    ] {
        let r = c.cmd(command).await.expect("sort");
        let line = r.lines("ESEARCH").concat();
        assert!(
            r.ok() && line.starts_with("ESEARCH (TAG \"") && line.ends_with(want),
            "{command}: {}",
            r.all()
        );
    }
    tern.stop().expect("clean stop");
}

/// COMPRESS=DEFLATE (RFC 4978): offered after login, then every command and response of the
/// session compressed, an IDLE wake-up included; a second COMPRESS is `[COMPRESSIONACTIVE]`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compress_deflate_carries_the_whole_session() {
    let (_dir, tern) = tern_tests::Tern::dev(TOKEN, PASSWORD, &[]);
    let tls = tern_tests::smtp::tls_config(&tern.certificate()).expect("tls");
    let (mut c, greeting) = imap::Client::connect(tern.addr("imaps"), Some(&tls))
        .await
        .expect("connect");
    assert!(!greeting.contains("COMPRESS"), "{greeting}");
    let r = c.cmd("COMPRESS DEFLATE").await.expect("compress");
    assert!(r.status.starts_with("BAD"), "not before login: {}", r.all());
    assert!(
        c.login("demo@example.test", PASSWORD)
            .await
            .expect("login")
            .ok()
    );
    let r = c.cmd("CAPABILITY").await.expect("capability");
    assert!(r.all().contains(" COMPRESS=DEFLATE"), "{}", r.all());
    let bodies: Vec<String> = (0..3)
        .map(|i| message(DATE, &format!("compressed {i}")).repeat(20))
        .collect();
    for body in &bodies {
        append(&mut c, "", body).await;
    }

    let received = c.compress().await.expect("compress");
    let r = c.cmd("SELECT INBOX").await.expect("select");
    assert!(r.ok() && r.all().contains("3 EXISTS"), "{}", r.all());
    let r = c.cmd("FETCH 1:* BODY.PEEK[]").await.expect("fetch");
    assert!(r.ok(), "{}", r.all());
    for (body, line) in bodies.iter().zip(&r.untagged) {
        assert!(line.contains(body.as_str()), "{line:.200}");
    }
    let plain: usize = bodies.iter().map(String::len).sum();
    let wire = received.load(std::sync::atomic::Ordering::Relaxed) as usize;
    assert!(wire < plain / 2, "{wire} compressed bytes for {plain}");

    let r = c.cmd("COMPRESS DEFLATE").await.expect("again");
    assert!(
        r.status.starts_with("NO [COMPRESSIONACTIVE]"),
        "{}",
        r.all()
    );
    let r = c.cmd("CAPABILITY").await.expect("capability");
    assert!(!r.all().contains("COMPRESS"), "{}", r.all());

    // A wake-up is flushed through the compressor at once.
    c.send(b"i1 IDLE\r\n").await.expect("idle");
    assert!(c.line().await.expect("continuation").starts_with('+'));
    tern_tests::smtp::deliver(tern.addr("smtp"), "demo@example.test", &["during idle"])
        .await
        .expect("deliver");
    assert_eq!(c.line().await.expect("exists"), "* 4 EXISTS");
    c.send(b"DONE\r\n").await.expect("done");
    assert!(c.until("i1").await.expect("idle done").ok());
    let r = c.cmd("LOGOUT").await.expect("logout");
    assert!(r.ok() && r.all().contains("BYE"), "{}", r.all());
    // The session's output before and after DEFLATE is counted when it ends.
    let plain = "tern_imap_compress_output_bytes_total{stage=\"plain\"}";
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while tern.metric(plain) == 0.0 {
        assert!(
            std::time::Instant::now() < deadline,
            "compressed output counted"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let compressed = tern.metric("tern_imap_compress_output_bytes_total{stage=\"compressed\"}");
    assert!(
        tern.metric(plain) > 2.0 * compressed && compressed > 0.0,
        "{} plain, {compressed} compressed",
        tern.metric(plain)
    );
    assert_eq!(tern.metric("tern_imap_compress_sessions_total"), 1.0);

    // A client that sends its next command compressed right behind COMPRESS.
    let mut c = imap::session(&tern, "demo@example.test", PASSWORD).await;
    let r = c
        .compress_pipelined(b"p2 SELECT INBOX\r\n")
        .await
        .expect("compress");
    assert!(r.ok(), "{}", r.all());
    let r = tokio::time::timeout(std::time::Duration::from_secs(30), c.until("p2"))
        .await
        .expect("the pipelined command is answered")
        .expect("select");
    assert!(r.ok() && r.all().contains("4 EXISTS"), "{}", r.all());
    tern.stop().expect("clean stop");

    // Turned off, it is not offered and says so.
    let (_dir, tern) =
        tern_tests::Tern::dev(TOKEN, PASSWORD, &[("TERN_IMAP__COMPRESS_LEVEL", "0")]);
    let mut c = imap::session(&tern, "demo@example.test", PASSWORD).await;
    let r = c.cmd("CAPABILITY").await.expect("capability");
    assert!(!r.all().contains("COMPRESS"), "{}", r.all());
    let r = c.cmd("COMPRESS DEFLATE").await.expect("compress");
    assert!(
        r.status.starts_with("BAD [CANNOT]") && r.status.contains("COMPRESS=DEFLATE"),
        "{}",
        r.all()
    );
    tern.stop().expect("clean stop");
}

/// UTF8=ACCEPT (RFC 6855) and modified UTF-7 (RFC 3501 §5.1.3): one stored name, seen in
/// modified UTF-7 by a session that did not enable UTF8=ACCEPT and in UTF-8 by one that did;
/// the UTF8 APPEND data item only after ENABLE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mailbox_names_in_utf8_and_modified_utf7() {
    let (_dir, tern) = tern_tests::Tern::dev(TOKEN, PASSWORD, &[]);
    let mut rev1 = imap::session(&tern, "demo@example.test", PASSWORD).await;
    let r = rev1.cmd("CAPABILITY").await.expect("capability");
    assert!(r.all().contains(" UTF8=ACCEPT"), "{}", r.all());
    let ok = |r: &imap::Reply| assert!(r.ok(), "{}", r.all());
    ok(&rev1.cmd("CREATE Entw&APw-rfe").await.expect("create"));
    // Not the canonical modified UTF-7 of anything: refused, not guessed at.
    let r = rev1.cmd("CREATE \"Tom & Jerry\"").await.expect("create");
    assert!(
        r.status.starts_with("NO [CANNOT]") && r.status.contains("modified UTF-7"),
        "{}",
        r.all()
    );
    // 8-bit from a session that did not enable UTF8=ACCEPT.
    let r = rev1
        .cmd("CREATE \"Brouillons d'été\"")
        .await
        .expect("create");
    assert!(
        r.status.starts_with("BAD [CANNOT]") && r.status.contains("ENABLE UTF8=ACCEPT"),
        "{}",
        r.all()
    );

    let mut utf8 = imap::session(&tern, "demo@example.test", PASSWORD).await;
    let r = utf8.cmd("ENABLE UTF8=ACCEPT").await.expect("enable");
    assert_eq!(r.lines("ENABLED"), ["ENABLED UTF8=ACCEPT"], "{}", r.all());
    let r = utf8.cmd("LIST \"\" \"Entw*\"").await.expect("list");
    assert_eq!(
        r.lines("LIST"),
        ["LIST (\\HasNoChildren) \"/\" \"Entwürfe\""],
        "{}",
        r.all()
    );
    ok(&utf8.cmd("CREATE \"Tom & Jerry\"").await.expect("create"));
    ok(&utf8.cmd("CREATE \"Entwürfe/été\"").await.expect("create"));
    append(&mut utf8, "", &message(DATE, "filed")).await;
    // A message with 8-bit headers, as RFC 6855 §4's UTF8 data item.
    let raw = message(DATE, "résumé");
    let utf8_append =
        |tag: &str| format!("{tag} APPEND INBOX UTF8 (~{{{}+}}\r\n{raw})\r\n", raw.len());
    rev1.send(utf8_append("u1").as_bytes()).await.expect("send");
    let r = rev1.until("u1").await.expect("append");
    assert!(
        r.status.starts_with("BAD [CANNOT]") && r.status.contains("ENABLE UTF8=ACCEPT"),
        "{}",
        r.all()
    );
    utf8.send(utf8_append("u2").as_bytes()).await.expect("send");
    ok(&utf8.until("u2").await.expect("append"));
    ok(&utf8.cmd("SELECT INBOX").await.expect("select"));
    assert_eq!(utf8.search("SUBJECT \"résumé\"").await, [2]);
    ok(&utf8.cmd("COPY 1 \"Entwürfe/été\"").await.expect("copy"));
    let r = utf8
        .cmd("STATUS \"Entwürfe/été\" (MESSAGES)")
        .await
        .expect("status");
    assert_eq!(
        r.lines("STATUS"),
        ["STATUS \"Entwürfe/été\" (MESSAGES 1)"],
        "{}",
        r.all()
    );

    // The same names, in modified UTF-7, to the other session.
    let r = rev1.cmd("LIST \"\" *").await.expect("list");
    for line in [
        "LIST (\\HasChildren) \"/\" Entw&APw-rfe",
        "LIST (\\HasNoChildren) \"/\" Entw&APw-rfe/&AOk-t&AOk-",
        "LIST (\\HasNoChildren) \"/\" \"Tom &- Jerry\"",
    ] {
        assert!(r.lines("LIST").contains(&line), "{line}: {}", r.all());
    }
    let r = rev1
        .cmd("SELECT Entw&APw-rfe/&AOk-t&AOk-")
        .await
        .expect("select");
    assert!(r.ok() && r.all().contains("1 EXISTS"), "{}", r.all());
    ok(&rev1
        .cmd("RENAME \"Tom &- Jerry\" Tom&APw-")
        .await
        .expect("rename"));
    let r = utf8.cmd("LIST \"\" \"Tom*\"").await.expect("list");
    assert_eq!(
        r.lines("LIST"),
        ["LIST (\\HasNoChildren) \"/\" \"Tomü\""],
        "{}",
        r.all()
    );
    tern.stop().expect("clean stop");
}

/// `ENABLE IMAP4rev2` (RFC 9051): no `\\Recent` (and none taken from IMAP4rev1 sessions),
/// ESEARCH answers to every SEARCH, UTF-8 mailbox names, STATUS DELETED and SIZE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enable_imap4rev2_switches_the_session() {
    let (_dir, tern) = tern_tests::Tern::dev(TOKEN, PASSWORD, &[]);
    let ok = |r: &imap::Reply| assert!(r.ok(), "{}", r.all());
    let mut rev2 = imap::session(&tern, "demo@example.test", PASSWORD).await;
    let r = rev2.cmd("CAPABILITY").await.expect("capability");
    assert!(
        r.all().contains("IMAP4rev1 IMAP4rev2"),
        "both versions are offered: {}",
        r.all()
    );
    let r = rev2.cmd("ENABLE IMAP4rev2").await.expect("enable");
    assert_eq!(r.lines("ENABLED"), ["ENABLED IMAP4rev2"], "{}", r.all());
    append(&mut rev2, "(\\Deleted)", &message(DATE, "old")).await;
    let r = rev2.cmd("SELECT INBOX").await.expect("select");
    assert!(r.ok() && r.all().contains("1 EXISTS"), "{}", r.all());
    assert!(
        !r.all().contains("RECENT"),
        "no RECENT in IMAP4rev2: {}",
        r.all()
    );

    // Mail arriving while the IMAP4rev2 session is selected stays recent for IMAP4rev1 ones.
    tern_tests::smtp::deliver(tern.addr("smtp"), "demo@example.test", &["new"])
        .await
        .expect("deliver");
    let r = rev2.cmd("NOOP").await.expect("noop");
    assert!(
        r.all().contains("2 EXISTS") && !r.all().contains("RECENT"),
        "{}",
        r.all()
    );
    let r = rev2.cmd("FETCH 1:* (FLAGS)").await.expect("fetch");
    assert!(r.ok() && !r.all().contains("\\Recent"), "{}", r.all());
    // Neither the one it appended nor the one delivered was taken by the IMAP4rev2 session.
    let mut rev1 = imap::session(&tern, "demo@example.test", PASSWORD).await;
    let r = rev1.cmd("SELECT INBOX").await.expect("select");
    assert!(r.lines("").contains(&"2 RECENT"), "{}", r.all());

    // SEARCH answers with ESEARCH, UID SEARCH with UID, no match with the tag alone.
    let r = rev2.cmd("SEARCH ALL").await.expect("search");
    let tag = r.untagged[0].split('"').nth(1).expect("tag").to_string();
    assert_eq!(
        r.untagged,
        [format!("ESEARCH (TAG \"{tag}\") ALL 1:2")],
        "{}",
        r.all()
    );
    let r = rev2.cmd("UID SEARCH UNDELETED").await.expect("search");
    assert!(
        r.untagged.len() == 1 && r.untagged[0].ends_with(") UID ALL 2"),
        "{}",
        r.all()
    );
    let r = rev2.cmd("SEARCH SUBJECT nowhere").await.expect("search");
    assert!(
        r.untagged.len() == 1
            && r.untagged[0].starts_with("ESEARCH (TAG ")
            && r.untagged[0].ends_with("\")"),
        "{}",
        r.all()
    );
    // The IMAP4rev1 session keeps the old answer.
    let r = rev1.cmd("SEARCH ALL").await.expect("search");
    assert_eq!(r.lines("SEARCH"), ["SEARCH 1 2"], "{}", r.all());

    let r = rev2
        .cmd("STATUS INBOX (MESSAGES DELETED)")
        .await
        .expect("status");
    assert_eq!(
        r.lines("STATUS"),
        ["STATUS INBOX (MESSAGES 2 DELETED 1)"],
        "{}",
        r.all()
    );
    ok(&rev2.cmd("CREATE \"Entwürfe\"").await.expect("create utf-8"));
    let r = rev1.cmd("LIST \"\" Entw*").await.expect("list");
    assert!(r.all().contains("Entw&APw-rfe"), "{}", r.all());
    tern.stop().expect("clean stop");
}

/// CATENATE (RFC 4469): a message built from text and URLs naming a stored message and its
/// parts, as a client forwarding an attachment without downloading it does; a URL that cannot
/// be resolved is `[BADURL]` and nothing is appended.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catenate_builds_a_message_from_text_and_urls() {
    let (_dir, tern) = tern_tests::Tern::dev(TOKEN, PASSWORD, &[]);
    let mut c = imap::session(&tern, "demo@example.test", PASSWORD).await;
    let r = c.cmd("CAPABILITY").await.expect("capability");
    assert!(r.all().contains(" CATENATE"), "{}", r.all());
    let original = "From: bob@remote.test\r\nTo: demo@example.test\r\nSubject: report\r\nDate: Tue, 24 Nov 2026 09:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b1\r\n\r\n--b1\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n--b1\r\nContent-Type: text/csv; name=figures.csv\r\n\r\na,b\r\n1,2\r\n--b1--\r\n";
    append(&mut c, "", original).await;
    let r = c.cmd("STATUS INBOX (UIDVALIDITY)").await.expect("status");
    let validity: String = r.untagged[0].chars().filter(char::is_ascii_digit).collect();

    let head = "From: demo@example.test\r\nTo: carol@remote.test\r\nSubject: Fwd: report\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b2\r\n\r\n--b2\r\nContent-Type: text/plain\r\n\r\nfor you\r\n--b2\r\n";
    let url = format!("/INBOX;UIDVALIDITY={validity}/;UID=1/;SECTION=2");
    let mime = format!("/INBOX;UIDVALIDITY={validity}/;UID=1/;SECTION=2.MIME");
    let tail = "\r\n--b2--\r\n";
    let command = format!(
        "t90 APPEND Drafts (\\Draft) CATENATE (TEXT {{{}+}}\r\n{head} URL \"{mime}\" URL \"{url}\" TEXT {{{}+}}\r\n{tail})\r\n",
        head.len(),
        tail.len()
    );
    c.send(command.as_bytes()).await.expect("send");
    let r = c.until("t90").await.expect("append");
    assert!(r.status.starts_with("OK [APPENDUID "), "{}", r.all());
    assert!(c.cmd("SELECT Drafts").await.expect("select").ok());
    let r = c.cmd("FETCH 1 (BODY.PEEK[] FLAGS)").await.expect("fetch");
    let expected =
        format!("{head}Content-Type: text/csv; name=figures.csv\r\n\r\na,b\r\n1,2{tail}");
    assert!(r.untagged[0].contains(&expected), "{:?}", r.untagged);
    assert!(r.untagged[0].contains("\\Draft"), "{:?}", r.untagged);

    // URLs that cannot be resolved: nothing is appended.
    for (url, why) in [
        (
            format!("/INBOX;UIDVALIDITY={validity}/;UID=99"),
            "no message with UID 99",
        ),
        (
            "/INBOX;UIDVALIDITY=999999/;UID=1".to_string(),
            "UIDVALIDITY",
        ),
        ("/Nowhere/;UID=1".to_string(), "no mailbox named Nowhere"),
        (
            "imap://eve@example.test/INBOX/;UID=1".to_string(),
            "another user",
        ),
        ("/INBOX/;UID=1/;SECTION=7".to_string(), "no part 7"),
    ] {
        let r = c
            .cmd(&format!("APPEND Drafts CATENATE (URL \"{url}\")"))
            .await
            .expect("append");
        assert!(
            r.status.starts_with(&format!("NO [BADURL \"{url}\"]")) && r.status.contains(why),
            "{url}: {}",
            r.all()
        );
    }
    let r = c.cmd("STATUS Drafts (MESSAGES)").await.expect("status");
    assert_eq!(
        r.lines("STATUS"),
        ["STATUS Drafts (MESSAGES 1)"],
        "{}",
        r.all()
    );
    // The built message is held to the APPEND limit.
    let (_big_dir, big) =
        tern_tests::Tern::dev(TOKEN, PASSWORD, &[("TERN_IMAP__MAX_APPEND_BYTES", "2000")]);
    let mut b = imap::session(&big, "demo@example.test", PASSWORD).await;
    append(&mut b, "", original).await;
    // Eight copies of a message of about 300 bytes.
    let urls = ["URL \"/INBOX/;UID=1\""; 8].join(" ");
    let r = b
        .cmd(&format!("APPEND Drafts CATENATE ({urls})"))
        .await
        .expect("append");
    assert!(
        r.status.starts_with("NO [TOOBIG]") && r.status.contains("limit of 2000 bytes"),
        "{}",
        r.all()
    );
    big.stop().expect("clean stop");
    let r = c
        .cmd("APPEND Drafts CATENATE (TEXT \"x\")")
        .await
        .expect("append");
    assert!(
        r.status
            .starts_with("BAD [CANNOT] CATENATE: TEXT takes a literal"),
        "{}",
        r.all()
    );
    tern.stop().expect("clean stop");
}
