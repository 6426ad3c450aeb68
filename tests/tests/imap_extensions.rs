//! The IMAP extensions an IMAP compliance suite expects, each tested from its RFC: THREAD
//! (RFC 5256), ESORT (RFC 5267), STATUS=SIZE (RFC 8438), CREATE-SPECIAL-USE (RFC 6154) and
//! BINARY (RFC 3516).

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
