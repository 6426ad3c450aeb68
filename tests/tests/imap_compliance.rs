//! Behaviours an IMAP compliance suite checks, each from its RFC: the sent-date searches use
//! the Date header's own date (RFC 3501 §6.4.4), RFC822.HEADER / RFC822.TEXT split the
//! message whatever else is fetched (RFC 3501 §6.4.5), CONDSTORE's details (RFC 7162 §3.1:
//! HIGHESTMODSEQ when a command enables it, the MODSEQ of ESEARCH MIN/MAX), `* FLAGS`
//! listing the keywords in use, again to every session when a new one appears (RFC 3501
//! §7.2.6), part numbers when the whole body is a message (RFC 3501 §6.4.5), subscriptions as
//! a list of names (RFC 3501 §6.3.6, RFC 5258), address groups in ENVELOPE, SEARCH and SORT
//! (RFC 3501 §7.4.2, RFC 5256), header text as encoded words for sessions without UTF8=ACCEPT
//! (RFC 6855 §3), `\Recent` (RFC 3501 §2.3.2) and FETCH of a message expunged elsewhere (RFC
//! 2180 §4.1.2). The extensions added for the same suite are tested in `imap_extensions.rs`,
//! `imap_context.rs` and `imap_notify.rs`.

use tern_tests::imap::{self, append, message};

const TOKEN: &str = "compliance-token";
const PASSWORD: &str = "demo-password";

const DATE: &str = "Tue, 24 Nov 2026 09:00:00 +0000";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sent_date_searches_use_the_date_the_header_names() {
    let (_dir, tern) = tern_tests::Tern::dev(TOKEN, PASSWORD, &[]);
    let mut c = imap::session(&tern, "demo@example.test", PASSWORD).await;
    // 1: 26 March at +0300 (25 March 21:00 UTC); 2: 26 March 23:30 at -0500 (27 March UTC);
    // 3: 25 March in UTC.
    for (date, subject) in [
        ("Mon, 26 Mar 2007 00:00:00 +0300", "early"),
        ("Mon, 26 Mar 2007 23:30:00 -0500", "late"),
        ("Sun, 25 Mar 2007 12:00:00 +0000", "before"),
    ] {
        append(&mut c, "", &message(date, subject)).await;
    }
    assert!(c.cmd("SELECT INBOX").await.expect("select").ok());
    assert_eq!(c.search("SENTON 26-Mar-2007").await, vec![1, 2]);
    assert_eq!(c.search("SENTON 25-Mar-2007").await, vec![3]);
    assert_eq!(c.search("SENTBEFORE 26-Mar-2007").await, vec![3]);
    assert_eq!(c.search("SENTSINCE 26-Mar-2007").await, vec![1, 2]);
    assert_eq!(c.search("SENTSINCE 27-Mar-2007").await, Vec::<u32>::new());
    tern.stop().expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc822_header_and_text_are_the_two_halves_of_the_message() {
    let (_dir, tern) = tern_tests::Tern::dev(TOKEN, PASSWORD, &[]);
    let mut c = imap::session(&tern, "demo@example.test", PASSWORD).await;
    let raw = message(DATE, "halves");
    append(&mut c, "", &raw).await;
    assert!(c.cmd("SELECT INBOX").await.expect("select").ok());
    let (header, text) = raw.split_at(raw.find("\r\n\r\n").expect("blank line") + 4);

    // Each alone, as a client that fetches nothing else asks for it.
    let r = c.cmd("FETCH 1 (RFC822.HEADER)").await.expect("fetch");
    assert!(r.ok(), "{}", r.all());
    let all = r.all();
    assert!(
        all.contains(&format!("RFC822.HEADER {{{}}}", header.len())),
        "{all}"
    );
    assert!(!all.contains("the body of"), "{all}");
    let r = c.cmd("FETCH 1 (RFC822.TEXT)").await.expect("fetch");
    assert!(r.ok(), "{}", r.all());
    let all = r.all();
    assert!(
        all.contains(&format!("RFC822.TEXT {{{}}}", text.len())),
        "{all}"
    );
    assert!(!all.contains("Subject: halves"), "{all}");
    assert!(all.contains("\\Seen"), "RFC822.TEXT sets \\Seen: {all}");
    tern.stop().expect("clean stop");
}

/// The MODSEQ of each message, by sequence number.
async fn modseqs(c: &mut imap::Client) -> Vec<u64> {
    let r = c.cmd("FETCH 1:* (MODSEQ)").await.expect("fetch");
    assert!(r.ok(), "{}", r.all());
    r.lines("")
        .iter()
        .filter_map(|l| {
            let at = l.find("MODSEQ (")? + "MODSEQ (".len();
            l[at..].split(')').next()?.parse().ok()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn condstore_enabled_by_a_command_and_esearch_modseq() {
    let (_dir, tern) = tern_tests::Tern::dev(TOKEN, PASSWORD, &[]);
    let mut c = imap::session(&tern, "demo@example.test", PASSWORD).await;
    for subject in ["one", "two", "three"] {
        append(&mut c, "", &message(DATE, subject)).await;
    }
    assert!(c.cmd("SELECT INBOX").await.expect("select").ok());
    // The first CONDSTORE-enabling command tells the highest MODSEQ; the next does not.
    let r = c.cmd("FETCH 1 (MODSEQ)").await.expect("fetch");
    assert_eq!(r.lines("OK [HIGHESTMODSEQ ").len(), 1, "{}", r.all());
    let r = c.cmd("FETCH 1 (MODSEQ)").await.expect("fetch");
    assert!(r.lines("OK [HIGHESTMODSEQ ").is_empty(), "{}", r.all());

    // Message 2 changes last: the highest MODSEQ of all matches is its.
    let r = c
        .cmd("STORE 2 +FLAGS.SILENT (\\Flagged)")
        .await
        .expect("store");
    assert!(r.ok(), "{}", r.all());
    let m = modseqs(&mut c).await;
    assert_eq!(m.len(), 3);
    assert!(m[1] > m[0] && m[1] > m[2], "{m:?}");
    // What follows `ESEARCH (TAG "…")`.
    let esearch = |r: &imap::Reply| {
        r.lines("ESEARCH (TAG ")
            .first()
            .and_then(|l| l.split_once(") "))
            .map(|(_, rest)| rest.to_string())
    };
    let r = c.cmd("SEARCH RETURN (MIN) MODSEQ 1").await.expect("search");
    assert_eq!(
        esearch(&r),
        Some(format!("MIN 1 MODSEQ {}", m[0])),
        "{}",
        r.all()
    );
    let r = c.cmd("SEARCH RETURN (MAX) MODSEQ 1").await.expect("search");
    assert_eq!(
        esearch(&r),
        Some(format!("MAX 3 MODSEQ {}", m[2])),
        "{}",
        r.all()
    );
    let r = c
        .cmd("SEARCH RETURN (MIN COUNT) MODSEQ 1")
        .await
        .expect("search");
    assert_eq!(
        esearch(&r),
        Some(format!("MIN 1 COUNT 3 MODSEQ {}", m[1])),
        "{}",
        r.all()
    );
    tern.stop().expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flags_list_the_keywords_in_use_and_every_session_hears_of_a_new_one() {
    let (_dir, tern) = tern_tests::Tern::dev(TOKEN, PASSWORD, &[]);
    let mut a = imap::session(&tern, "demo@example.test", PASSWORD).await;
    append(&mut a, "($Label1)", &message(DATE, "labelled")).await;
    let r = a.cmd("SELECT INBOX").await.expect("select");
    let flags = r.lines("FLAGS (");
    assert_eq!(flags.len(), 1, "{}", r.all());
    assert!(flags[0].contains("$Label1"), "{}", r.all());
    let perm = r.lines("OK [PERMANENTFLAGS (");
    assert!(
        perm.len() == 1 && perm[0].contains("$Label1") && perm[0].contains("\\*"),
        "{}",
        r.all()
    );
    let mut b = imap::session(&tern, "demo@example.test", PASSWORD).await;
    let r = b.cmd("EXAMINE INBOX").await.expect("examine");
    assert!(r.lines("FLAGS (")[0].contains("$Label1"), "{}", r.all());
    assert_eq!(
        r.lines("OK [PERMANENTFLAGS ()]").len(),
        1,
        "read-only: none permitted: {}",
        r.all()
    );

    // A keyword new to the mailbox: the storing session hears the flags before the FETCH...
    let r = a.cmd("STORE 1 +FLAGS (Project-X)").await.expect("store");
    assert!(r.ok(), "{}", r.all());
    let order: Vec<&str> = r
        .untagged
        .iter()
        .map(String::as_str)
        .filter(|l| l.starts_with("FLAGS (") || l.contains(" FETCH "))
        .collect();
    assert_eq!(order.len(), 2, "{}", r.all());
    assert!(
        order[0].starts_with("FLAGS (") && order[0].contains("Project-X"),
        "{order:?}"
    );
    assert!(order[1].contains("Project-X"), "{order:?}");
    // ...and so does the other, at its next command.
    let r = b.cmd("NOOP").await.expect("noop");
    let flags = r.lines("FLAGS (");
    assert!(
        flags.len() == 1 && flags[0].contains("Project-X") && flags[0].contains("$Label1"),
        "{}",
        r.all()
    );
    // A keyword already known is not announced again.
    let r = a.cmd("STORE 1 -FLAGS (Project-X)").await.expect("store");
    let r2 = a.cmd("STORE 1 +FLAGS (project-x)").await.expect("store");
    assert!(r.ok() && r2.ok());
    assert!(r2.lines("FLAGS (").is_empty(), "{}", r2.all());
    tern.stop().expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_is_a_whole_message_is_numbered_from_part_1() {
    let (_dir, tern) = tern_tests::Tern::dev(TOKEN, PASSWORD, &[]);
    let mut c = imap::session(&tern, "demo@example.test", PASSWORD).await;
    let inner = "From: carol@remote.test\r\nSubject: inner\r\nContent-Type: multipart/mixed; boundary=q\r\n\r\n";
    let raw = format!(
        "From: bob@remote.test\r\nTo: demo@example.test\r\nSubject: Fwd: inner\r\nDate: {DATE}\r\nMIME-Version: 1.0\r\nContent-Type: message/rfc822\r\n\r\n{inner}--q\r\nContent-Type: text/plain\r\n\r\nfirst part\r\n--q\r\nContent-Type: text/plain\r\n\r\nsecond part\r\n--q--\r\n"
    );
    append(&mut c, "", &raw).await;
    assert!(c.cmd("SELECT INBOX").await.expect("select").ok());
    let fetch = |item: &'static str| format!("FETCH 1 (BODY.PEEK[{item}])");
    let r = c.cmd(&fetch("1.HEADER")).await.expect("fetch");
    assert!(
        r.all()
            .contains(&format!("BODY[1.HEADER] {{{}}}", inner.len())),
        "{}",
        r.all()
    );
    assert!(r.all().contains("Subject: inner"), "{}", r.all());
    let r = c.cmd(&fetch("1.1")).await.expect("fetch");
    assert!(r.all().contains("BODY[1.1] {10}"), "{}", r.all());
    assert!(r.all().contains("first part"), "{}", r.all());
    let r = c.cmd(&fetch("1.2")).await.expect("fetch");
    assert!(r.all().contains("second part"), "{}", r.all());
    let r = c.cmd(&fetch("1")).await.expect("fetch");
    assert!(
        r.all().contains("Subject: inner") && r.all().contains("second part"),
        "the entire encapsulated message: {}",
        r.all()
    );
    assert!(!r.all().contains("Subject: Fwd"), "{}", r.all());
    tern.stop().expect("clean stop");
}

/// Subscriptions are a list of names of their own (RFC 3501 §6.3.6, RFC 5258).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_are_a_list_of_names() {
    let (_dir, tern) = tern_tests::Tern::dev(TOKEN, PASSWORD, &[]);
    let mut c = imap::session(&tern, "demo@example.test", PASSWORD).await;
    let ok = |r: &imap::Reply| assert!(r.ok(), "{}", r.all());
    ok(&c.cmd("CREATE Projects/2026").await.expect("create"));
    // CREATE subscribes neither the mailbox nor the parent it made.
    let r = c.cmd("LSUB \"\" \"*\"").await.expect("lsub");
    assert!(!r.all().contains("Projects"), "{}", r.all());
    ok(&c.cmd("SUBSCRIBE Projects/2026").await.expect("subscribe"));

    // LSUB with %: the unsubscribed parent of a subscribed child is \Noselect.
    let r = c.cmd("LSUB \"\" \"%\"").await.expect("lsub %");
    assert!(
        r.lines("LSUB")
            .contains(&"LSUB (\\Noselect) \"/\" Projects"),
        "{}",
        r.all()
    );
    assert!(!r.all().contains("Projects/2026"), "{}", r.all());
    let r = c.cmd("LSUB \"\" \"Projects/*\"").await.expect("lsub *");
    assert_eq!(
        r.lines("LSUB"),
        ["LSUB (\\HasNoChildren) \"/\" Projects/2026"],
        "{}",
        r.all()
    );

    // RECURSIVEMATCH: the parent comes back with CHILDINFO; alone it is refused.
    let r = c
        .cmd("LIST (SUBSCRIBED RECURSIVEMATCH) \"\" \"Proj%\"")
        .await
        .expect("recursive");
    assert_eq!(
        r.lines("LIST"),
        ["LIST (\\HasChildren) \"/\" Projects (\"CHILDINFO\" (\"SUBSCRIBED\"))"],
        "{}",
        r.all()
    );
    let r = c
        .cmd("LIST (RECURSIVEMATCH) \"\" \"*\"")
        .await
        .expect("alone");
    assert!(
        r.status
            .starts_with("BAD [CANNOT] RECURSIVEMATCH needs the SUBSCRIBED selection option"),
        "{}",
        r.all()
    );

    // DELETE keeps the name on the list; LIST (SUBSCRIBED) shows it as \NonExistent.
    ok(&c.cmd("DELETE Projects/2026").await.expect("delete"));
    let r = c
        .cmd("LIST (SUBSCRIBED) \"\" \"Projects/*\"")
        .await
        .expect("subscribed");
    assert_eq!(
        r.lines("LIST"),
        ["LIST (\\NonExistent \\Subscribed) \"/\" Projects/2026"],
        "{}",
        r.all()
    );
    let r = c.cmd("LIST \"\" \"Projects/*\"").await.expect("list");
    assert!(r.lines("LIST").is_empty(), "{}", r.all());
    // Unsubscribing a name whose mailbox is gone is fine.
    ok(&c
        .cmd("UNSUBSCRIBE Projects/2026")
        .await
        .expect("unsubscribe"));
    let r = c.cmd("LSUB \"\" \"*\"").await.expect("lsub");
    assert!(!r.all().contains("Projects"), "{}", r.all());

    // RENAME takes the subscription along; plain LIST says \Subscribed only when asked.
    ok(&c.cmd("CREATE Travel").await.expect("create"));
    ok(&c.cmd("SUBSCRIBE Travel").await.expect("subscribe"));
    ok(&c.cmd("RENAME Travel Trips").await.expect("rename"));
    let r = c.cmd("LSUB \"\" \"T*\"").await.expect("lsub");
    assert_eq!(
        r.lines("LSUB"),
        [
            "LSUB (\\HasNoChildren \\Trash) \"/\" Trash",
            "LSUB (\\HasNoChildren) \"/\" Trips"
        ],
        "{}",
        r.all()
    );
    let r = c.cmd("LIST \"\" Trips").await.expect("list");
    assert_eq!(r.lines("LIST"), ["LIST (\\HasNoChildren) \"/\" Trips"]);
    let r = c
        .cmd("LIST \"\" Trips RETURN (SUBSCRIBED)")
        .await
        .expect("list");
    assert_eq!(
        r.lines("LIST"),
        ["LIST (\\HasNoChildren \\Subscribed) \"/\" Trips"]
    );
    tern.stop().expect("clean stop");
}

/// Address groups keep their markers in ENVELOPE (RFC 3501 §7.4.2); SEARCH finds a group by
/// its name and SORT uses the first address, not a marker (RFC 5256).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn address_groups_are_kept() {
    let (_dir, tern) = tern_tests::Tern::dev(TOKEN, PASSWORD, &[]);
    let mut c = imap::session(&tern, "demo@example.test", PASSWORD).await;
    let grouped = format!(
        "From: Ann <ann@example.test>\r\nTo: aaa-team: Zed <zed@x.test>, b@x.test;, c@y.test\r\nCc: undisclosed-recipients:;\r\nSubject: grouped\r\nDate: {DATE}\r\n\r\nbody\r\n"
    );
    let plain = format!(
        "From: Ann <ann@example.test>\r\nTo: Amy <amy@x.test>\r\nSubject: plain\r\nDate: {DATE}\r\n\r\nbody\r\n"
    );
    append(&mut c, "", &grouped).await;
    append(&mut c, "", &plain).await;
    assert!(c.cmd("SELECT INBOX").await.expect("select").ok());
    let r = c.cmd("FETCH 1 ENVELOPE").await.expect("fetch");
    let envelope = r.lines("1 FETCH").concat();
    assert!(
        envelope.contains(
            "((NIL NIL \"aaa-team\" NIL)(\"Zed\" NIL \"zed\" \"x.test\")(NIL NIL \"b\" \"x.test\")(NIL NIL NIL NIL)(NIL NIL \"c\" \"y.test\")) ((NIL NIL \"undisclosed-recipients\" NIL)(NIL NIL NIL NIL))"
        ),
        "{envelope}"
    );
    for (search, want) in [
        ("SEARCH TO aaa-team", "SEARCH 1"),
        ("SEARCH TO zed", "SEARCH 1"),
        ("SEARCH CC undisclosed", "SEARCH 1"),
        ("SEARCH TO amy", "SEARCH 2"),
    ] {
        let r = c.cmd(search).await.expect("search");
        assert_eq!(r.lines("SEARCH"), [want], "{search}: {}", r.all());
    }
    // By the first address: amy (2) before zed (1); the marker's "aaa-team" would sort first.
    for sort in ["SORT (TO) UTF-8 ALL", "SORT (DISPLAYTO) UTF-8 ALL"] {
        let r = c.cmd(sort).await.expect("sort");
        assert_eq!(r.lines("SORT"), ["SORT 2 1"], "{sort}: {}", r.all());
    }
    tern.stop().expect("clean stop");
}

/// Without UTF8=ACCEPT, ENVELOPE and BODYSTRUCTURE carry no raw 8-bit text: what the message
/// wrote as encoded words goes out as encoded words (RFC 6855 §3, RFC 2047).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn header_text_stays_in_encoded_words() {
    let (_dir, tern) = tern_tests::Tern::dev(TOKEN, PASSWORD, &[]);
    let mut c = imap::session(&tern, "demo@example.test", PASSWORD).await;
    let raw = format!(
        "From: =?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?= <jm@example.test>\r\nTo: demo@example.test\r\nSubject: =?UTF-8?B?R3LDvMOfZSBhdXMgS8O2bG4=?=\r\nDate: {DATE}\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHallo\r\n--b\r\nContent-Type: application/pdf; name=\"=?UTF-8?Q?Pr=C3=BCfung.pdf?=\"\r\nContent-Disposition: attachment; filename*=UTF-8''Pr%C3%BCfung.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nAAAA\r\n--b--\r\n"
    );
    append(&mut c, "", &raw).await;
    assert!(c.cmd("SELECT INBOX").await.expect("select").ok());
    let r = c
        .cmd("FETCH 1 (ENVELOPE BODYSTRUCTURE)")
        .await
        .expect("fetch");
    let fetched = r.lines("1 FETCH").concat();
    assert!(fetched.is_ascii(), "{fetched}");
    for words in [
        "\"=?utf-8?B?R3LDvMOfZSBhdXMgS8O2bG4=?=\"",
        "((\"=?utf-8?B?SsO8cmdlbiBNw7xsbGVy?=\" NIL \"jm\" \"example.test\"))",
        "(\"NAME\" \"=?utf-8?B?UHLDvGZ1bmcucGRm?=\")",
        "(\"FILENAME\" \"=?utf-8?B?UHLDvGZ1bmcucGRm?=\")",
    ] {
        assert!(fetched.contains(words), "{words} in {fetched}");
    }
    // Searches still see the decoded text.
    let r = c
        .cmd_literal("SEARCH CHARSET UTF-8 SUBJECT", "Grüße".as_bytes())
        .await
        .expect("search");
    assert_eq!(r.lines("SEARCH"), ["SEARCH 1"], "{}", r.all());
    tern.stop().expect("clean stop");
}

/// `\Recent` (RFC 3501 §2.3.2): new mail is recent to exactly one session — the first with
/// the mailbox selected read-write — and to nobody else; EXAMINE claims nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_mail_is_recent_to_exactly_one_session() {
    let (_dir, tern) = tern_tests::Tern::dev(TOKEN, PASSWORD, &[]);
    let user = "demo@example.test";
    let mut first = imap::session(&tern, user, PASSWORD).await;
    let mut other = imap::session(&tern, user, PASSWORD).await;
    let mut writer = imap::session(&tern, user, PASSWORD).await;
    let r = first.cmd("SELECT INBOX").await.expect("select");
    assert!(r.lines("").contains(&"0 RECENT"), "{}", r.all());
    append(&mut writer, "", &message(DATE, "one")).await;
    // The mailbox actor claims it for `first` as it hears of it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let r = first.cmd("FETCH 1:* (FLAGS)").await.expect("fetch");
        if r.lines("1 FETCH").iter().any(|l| l.contains("\\Recent")) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never recent: {}",
            r.all()
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    for (search, want) in [
        ("SEARCH RECENT", "SEARCH 1"),
        ("SEARCH NEW", "SEARCH 1"),
        ("SEARCH OLD", "SEARCH"),
    ] {
        let r = first.cmd(search).await.expect("search");
        assert_eq!(r.lines("SEARCH"), [want], "{search}: {}", r.all());
    }
    // Another session selecting now does not see it as recent.
    let r = other.cmd("SELECT INBOX").await.expect("select");
    assert!(r.lines("").contains(&"0 RECENT"), "{}", r.all());
    let r = other.cmd("FETCH 1 (FLAGS)").await.expect("fetch");
    assert!(!r.all().contains("\\Recent"), "{}", r.all());
    let r = other.cmd("SEARCH OLD").await.expect("search");
    assert_eq!(r.lines("SEARCH"), ["SEARCH 1"], "{}", r.all());
    let r = writer.cmd("STATUS INBOX (RECENT)").await.expect("status");
    assert_eq!(
        r.lines("STATUS"),
        ["STATUS INBOX (RECENT 0)"],
        "{}",
        r.all()
    );

    // With nobody selecting, new mail waits; EXAMINE leaves it; the next SELECT gets it.
    assert!(first.cmd("CLOSE").await.expect("close").ok());
    assert!(other.cmd("CLOSE").await.expect("close").ok());
    append(&mut writer, "", &message(DATE, "two")).await;
    let r = writer.cmd("STATUS INBOX (RECENT)").await.expect("status");
    assert_eq!(
        r.lines("STATUS"),
        ["STATUS INBOX (RECENT 1)"],
        "{}",
        r.all()
    );
    let r = other.cmd("EXAMINE INBOX").await.expect("examine");
    assert!(r.lines("").contains(&"0 RECENT"), "{}", r.all());
    assert!(other.cmd("CLOSE").await.expect("close").ok());
    let r = first.cmd("SELECT INBOX").await.expect("select");
    assert!(r.lines("").contains(&"1 RECENT"), "{}", r.all());
    let r = first.cmd("FETCH 2 (FLAGS)").await.expect("fetch");
    assert!(r.all().contains("\\Recent"), "{}", r.all());
    tern.stop().expect("clean stop");
}

/// FETCH of a message another session expunged, before this one is told (RFC 2180 §4.1.2):
/// what exists is sent, the command says NO naming the rest, the EXPUNGE comes next.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_of_a_message_expunged_elsewhere_says_so() {
    let (_dir, tern) = tern_tests::Tern::dev(TOKEN, PASSWORD, &[]);
    let mut a = imap::session(&tern, "demo@example.test", PASSWORD).await;
    let mut b = imap::session(&tern, "demo@example.test", PASSWORD).await;
    append(&mut a, "", &message(DATE, "one")).await;
    append(&mut a, "", &message(DATE, "two")).await;
    assert!(a.cmd("SELECT INBOX").await.expect("select").ok());
    assert!(b.cmd("SELECT INBOX").await.expect("select").ok());
    assert!(
        b.cmd("STORE 1 +FLAGS.SILENT (\\Deleted)")
            .await
            .expect("store")
            .ok()
    );
    assert!(b.cmd("EXPUNGE").await.expect("expunge").ok());
    let r = a.cmd("FETCH 1:2 (UID)").await.expect("fetch");
    assert!(
        r.status.starts_with("NO")
            && r.status
                .contains("1 of the requested messages no longer exist"),
        "{}",
        r.all()
    );
    assert_eq!(r.lines("2 FETCH"), ["2 FETCH (UID 2)"], "{}", r.all());
    let r = a.cmd("NOOP").await.expect("noop");
    assert!(r.lines("1 EXPUNGE").len() == 1, "{}", r.all());
    tern.stop().expect("clean stop");
}
