//! CONTEXT=SEARCH and CONTEXT=SORT (RFC 5267 §4): PARTIAL windows of a result, and searches
//! and sorts kept up to date with ADDTO / REMOVEFROM as other sessions (and the session
//! itself) change the mailbox, CANCELUPDATE, and `[NOUPDATE]` past the per-session limit.

use tern_tests::imap::{self, Client, Reply, append, message};

const TOKEN: &str = "context-token";
const PASSWORD: &str = "demo-password";
const USER: &str = "demo@example.test";
const DATE: &str = "Tue, 24 Nov 2026 09:00:00 +0000";

/// Sends `command` under `tag` and reads its responses.
async fn tagged(c: &mut Client, tag: &str, command: &str) -> Reply {
    c.send(format!("{tag} {command}\r\n").as_bytes())
        .await
        .expect("send");
    let r = c.until(tag).await.expect("reply");
    assert!(r.ok(), "{tag} {command}: {}", r.all());
    r
}

/// The position of the untagged line `line` in `r`, which must hold it.
fn at(r: &Reply, line: &str) -> usize {
    r.untagged
        .iter()
        .position(|l| l == line)
        .unwrap_or_else(|| panic!("no `{line}` in {}", r.all()))
}

/// PARTIAL (RFC 5267 §4.4): the matches at those positions of the whole result, in result
/// order, NIL when there are none there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_returns_a_window_of_the_result() {
    let (_dir, tern) = tern_tests::Tern::dev(TOKEN, PASSWORD, &[]);
    let mut c = imap::session(&tern, USER, PASSWORD).await;
    for subject in ["e", "d", "c", "b", "a"] {
        append(&mut c, "", &message(DATE, subject)).await;
    }
    let r = c.cmd("CAPABILITY").await.expect("capability");
    for cap in ["CONTEXT=SEARCH", "CONTEXT=SORT", "ESORT"] {
        assert!(r.all().contains(cap), "{cap}: {}", r.all());
    }
    tagged(&mut c, "s", "SELECT INBOX").await;
    for (command, want) in [
        (
            "SEARCH RETURN (PARTIAL 2:3) ALL",
            "ESEARCH (TAG \"p\") PARTIAL (2:3 2:3)",
        ),
        // A range given high first is the same range.
        (
            "SEARCH RETURN (PARTIAL 3:2) ALL",
            "ESEARCH (TAG \"p\") PARTIAL (2:3 2:3)",
        ),
        (
            "SEARCH RETURN (COUNT PARTIAL 4:9) ALL",
            "ESEARCH (TAG \"p\") COUNT 5 PARTIAL (4:9 4:5)",
        ),
        (
            "SEARCH RETURN (PARTIAL 7:9) ALL",
            "ESEARCH (TAG \"p\") PARTIAL (7:9 NIL)",
        ),
        // Sorted by subject: a (5), b (4), c (3), ...
        (
            "UID SORT RETURN (PARTIAL 1:2) (SUBJECT) UTF-8 ALL",
            "ESEARCH (TAG \"p\") UID PARTIAL (1:2 5,4)",
        ),
        (
            "SORT RETURN (PARTIAL 2:4 CONTEXT) (REVERSE SUBJECT) UTF-8 ALL",
            "ESEARCH (TAG \"p\") PARTIAL (2:4 2:4)",
        ),
    ] {
        let r = tagged(&mut c, "p", command).await;
        assert_eq!(r.lines("ESEARCH"), [want], "{command}: {}", r.all());
    }
    let r = c
        .cmd("SEARCH RETURN (PARTIAL 0:3) ALL")
        .await
        .expect("search");
    assert!(r.status.starts_with("BAD"), "{}", r.all());
    tern.stop().expect("clean stop");
}

/// UPDATE (RFC 5267 §4.3): new mail, flag changes and expunges by another session, and the
/// session's own STORE, each reach an updated search as ADDTO / REMOVEFROM; sequence-number
/// contexts are told in the numbers of the moment; CANCELUPDATE stops one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_updated_search_follows_the_mailbox() {
    let (_dir, tern) = tern_tests::Tern::dev(TOKEN, PASSWORD, &[]);
    let mut a = imap::session(&tern, USER, PASSWORD).await;
    let mut b = imap::session(&tern, USER, PASSWORD).await;
    append(&mut a, "(\\Seen)", &message(DATE, "one")).await;
    append(&mut a, "", &message(DATE, "two")).await;
    append(&mut a, "", &message(DATE, "three")).await;
    tagged(&mut a, "s", "SELECT INBOX").await;
    tagged(&mut b, "s", "SELECT INBOX").await;
    let r = tagged(&mut a, "S1", "UID SEARCH RETURN (UPDATE) UNSEEN").await;
    assert_eq!(r.lines("ESEARCH"), ["ESEARCH (TAG \"S1\") UID ALL 2:3"]);

    // New mail: told after the EXISTS that makes it known.
    append(&mut b, "", &message(DATE, "four")).await;
    let r = tagged(&mut a, "n1", "NOOP").await;
    let update = at(&r, "ESEARCH (TAG \"S1\") UID ADDTO (3 4)");
    assert!(at(&r, "4 EXISTS") < update, "{}", r.all());

    // Another session's flag change.
    tagged(&mut b, "f", "UID STORE 2 +FLAGS.SILENT (\\Seen)").await;
    let r = tagged(&mut a, "n2", "NOOP").await;
    at(&r, "ESEARCH (TAG \"S1\") UID REMOVEFROM (1 2)");

    // An expunge: the removal comes before the EXPUNGE renumbers the mailbox.
    tagged(&mut b, "d", "UID STORE 3 +FLAGS.SILENT (\\Deleted)").await;
    let r = tagged(&mut a, "n3", "NOOP").await;
    assert!(
        r.lines("ESEARCH").is_empty(),
        "\\Deleted is not \\Seen: {}",
        r.all()
    );
    tagged(&mut b, "x", "EXPUNGE").await;
    let r = tagged(&mut a, "n4", "NOOP").await;
    let update = at(&r, "ESEARCH (TAG \"S1\") UID REMOVEFROM (1 3)");
    assert!(update < at(&r, "3 EXPUNGE"), "{}", r.all());

    // The session's own STORE is answered with the change too.
    let r = tagged(&mut a, "own", "UID STORE 4 +FLAGS (\\Seen)").await;
    at(&r, "ESEARCH (TAG \"S1\") UID REMOVEFROM (1 4)");

    // A sequence-number context: nothing is unseen now (UIDs 1, 2, 4 are numbers 1 to 3).
    let r = tagged(&mut a, "S2", "SEARCH RETURN (UPDATE) UNSEEN").await;
    assert_eq!(r.lines("ESEARCH"), ["ESEARCH (TAG \"S2\")"]);
    append(&mut b, "", &message(DATE, "five")).await;
    let r = tagged(&mut a, "n5", "NOOP").await;
    at(&r, "4 EXISTS");
    at(&r, "ESEARCH (TAG \"S2\") ADDTO (1 4)");
    at(&r, "ESEARCH (TAG \"S1\") UID ADDTO (1 5)");

    // CANCELUPDATE: S1 is told nothing more, S2 goes on; an unknown tag is BAD.
    tagged(&mut a, "c1", "CANCELUPDATE \"S1\"").await;
    let r = a.cmd("CANCELUPDATE \"S9\"").await.expect("cancel");
    assert!(
        r.status.starts_with("BAD") && r.status.contains("S9"),
        "{}",
        r.all()
    );
    append(&mut b, "", &message(DATE, "six")).await;
    let r = tagged(&mut a, "n6", "NOOP").await;
    at(&r, "5 EXISTS");
    assert_eq!(
        r.lines("ESEARCH"),
        ["ESEARCH (TAG \"S2\") ADDTO (2 5)"],
        "{}",
        r.all()
    );

    // Leaving the mailbox ends every context.
    tagged(&mut a, "u", "UNSELECT").await;
    let r = a.cmd("CANCELUPDATE \"S2\"").await.expect("cancel");
    assert!(r.status.starts_with("BAD"), "{}", r.all());
    // Lines sent: ADDTO for UIDs 4 and 5 (S1) and 5 and 6 (S2); REMOVEFROM for 2, 3 and 4.
    let sent = |kind: &str| {
        tern.metric(&format!(
            "tern_imap_search_updates_total{{kind=\"{kind}\"}}"
        ))
    };
    assert_eq!((sent("addto"), sent("removefrom")), (4.0, 3.0));
    tern.stop().expect("clean stop");
}

/// An updated SORT is told where in the sorted result each new message goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_updated_sort_names_positions() {
    let (_dir, tern) = tern_tests::Tern::dev(TOKEN, PASSWORD, &[]);
    let mut a = imap::session(&tern, USER, PASSWORD).await;
    let mut b = imap::session(&tern, USER, PASSWORD).await;
    append(&mut a, "", &message(DATE, "b")).await;
    append(&mut a, "", &message(DATE, "d")).await;
    tagged(&mut a, "s", "SELECT INBOX").await;
    let r = tagged(&mut a, "P1", "UID SORT RETURN (UPDATE) (SUBJECT) UTF-8 ALL").await;
    assert_eq!(r.lines("ESEARCH"), ["ESEARCH (TAG \"P1\") UID ALL 1:2"]);
    append(&mut b, "", &message(DATE, "c")).await;
    append(&mut b, "", &message(DATE, "a")).await;
    // Sorted: a (4), b (1), c (3), d (2).
    let r = tagged(&mut a, "n", "NOOP").await;
    assert_eq!(
        r.lines("ESEARCH"),
        ["ESEARCH (TAG \"P1\") UID ADDTO (1 4 3 3)"],
        "{}",
        r.all()
    );
    tagged(&mut b, "s", "SELECT INBOX").await;
    tagged(&mut b, "d", "UID STORE 1 +FLAGS.SILENT (\\Deleted)").await;
    tagged(&mut b, "x", "EXPUNGE").await;
    let r = tagged(&mut a, "n2", "NOOP").await;
    let update = at(&r, "ESEARCH (TAG \"P1\") UID REMOVEFROM (2 1)");
    assert!(update < at(&r, "1 EXPUNGE"), "{}", r.all());

    // An IDLE client is told as the mail arrives, after its EXISTS: a (4), c (3), d (2), e (5).
    a.send(b"i IDLE\r\n").await.expect("idle");
    assert!(a.line().await.expect("continuation").starts_with('+'));
    append(&mut b, "", &message(DATE, "e")).await;
    assert_eq!(a.line().await.expect("exists"), "* 4 EXISTS");
    assert_eq!(a.line().await.expect("recent"), "* 4 RECENT");
    assert_eq!(
        a.line().await.expect("update"),
        "* ESEARCH (TAG \"P1\") UID ADDTO (4 5)"
    );
    a.send(b"DONE\r\n").await.expect("done");
    assert!(a.until("i").await.expect("idle done").ok());
    tern.stop().expect("clean stop");
}

/// A session keeps at most eight searches updated; the ninth is answered, with
/// `[NOUPDATE "tag"]` saying it will not be updated.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_past_the_limit_are_refused_with_noupdate() {
    let (_dir, tern) = tern_tests::Tern::dev(TOKEN, PASSWORD, &[]);
    let refused = "tern_imap_search_updates_total{kind=\"noupdate\"}";
    assert_eq!(tern.metric(refused), 0.0, "exported at 0 from start");
    let mut a = imap::session(&tern, USER, PASSWORD).await;
    append(&mut a, "", &message(DATE, "one")).await;
    tagged(&mut a, "s", "SELECT INBOX").await;
    for n in 1..=8 {
        let r = tagged(&mut a, &format!("U{n}"), "SEARCH RETURN (UPDATE) ALL").await;
        assert!(!r.all().contains("NOUPDATE"), "{}", r.all());
    }
    let r = tagged(&mut a, "U9", "SEARCH RETURN (UPDATE) ALL").await;
    assert_eq!(r.lines("ESEARCH"), ["ESEARCH (TAG \"U9\") ALL 1"]);
    assert!(
        r.untagged
            .iter()
            .any(|l| l.starts_with("NO [NOUPDATE \"U9\"]")),
        "{}",
        r.all()
    );
    // Cancelling one makes room again.
    tagged(&mut a, "c", "CANCELUPDATE \"U1\"").await;
    let r = tagged(&mut a, "U10", "SEARCH RETURN (UPDATE) ALL").await;
    assert!(!r.all().contains("NOUPDATE"), "{}", r.all());
    assert_eq!(tern.metric(refused), 1.0);
    tern.stop().expect("clean stop");
}
