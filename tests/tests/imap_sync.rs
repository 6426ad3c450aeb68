//! Change notification and resynchronisation: IDLE woken by an SMTP delivery and by another
//! session's flag change and expunge; expunges held back during FETCH/STORE/SEARCH by
//! sequence number and given at the next NOOP; CONDSTORE (MODSEQ, CHANGEDSINCE,
//! UNCHANGEDSINCE → MODIFIED, SEARCH MODSEQ) and QRESYNC (SELECT with VANISHED (EARLIER),
//! UID FETCH VANISHED, VANISHED instead of EXPUNGE); searches answered from the mailbox's
//! in-memory index still see every committed change.

use std::time::Duration;

use tern_tests::{Tern, imap, smtp};

const TOKEN: &str = "imap-token";
const PASSWORD: &str = "demo-password";
const WAIT: Duration = Duration::from_secs(10);

async fn untagged_within(c: &mut imap::Client, want: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while tokio::time::Instant::now() < deadline {
        match c
            .line_within(Duration::from_millis(500))
            .await
            .expect("read")
        {
            Some(l) => {
                let done = l.contains(want);
                seen.push(l);
                if done {
                    return seen;
                }
            }
            None => continue,
        }
    }
    panic!("no {want:?} within {WAIT:?}; got {seen:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_wakes_on_delivery_flags_and_expunge() {
    let (_dir, tern) = Tern::dev(TOKEN, PASSWORD, &[]);
    smtp::deliver(tern.addr("smtp"), "demo@example.test", &["first"])
        .await
        .expect("deliver");
    let mut a = imap::session(&tern, "demo", PASSWORD).await;
    let mut b = imap::session(&tern, "demo", PASSWORD).await;
    assert!(a.cmd("SELECT INBOX").await.expect("select").ok());
    assert!(b.cmd("SELECT INBOX").await.expect("select").ok());
    a.send(b"i1 IDLE\r\n").await.expect("idle");
    assert!(a.line().await.expect("continuation").starts_with("+ "));

    smtp::deliver(tern.addr("smtp"), "demo@example.test", &["second"])
        .await
        .expect("deliver");
    untagged_within(&mut a, "* 2 EXISTS").await;

    let r = b.cmd("STORE 1 +FLAGS (\\Flagged)").await.expect("store");
    assert!(r.ok());
    let got = untagged_within(&mut a, "* 1 FETCH").await;
    assert!(got.last().expect("line").contains("\\Flagged"), "{got:?}");

    assert!(
        b.cmd("STORE 1 +FLAGS.SILENT (\\Deleted)")
            .await
            .expect("delete")
            .ok()
    );
    let r = b.cmd("EXPUNGE").await.expect("expunge");
    assert_eq!(r.lines("1 EXPUNGE"), vec!["1 EXPUNGE"]);
    untagged_within(&mut a, "* 1 EXPUNGE").await;

    a.send(b"DONE\r\n").await.expect("done");
    let r = a.until("i1").await.expect("idle ends");
    assert!(r.status.starts_with("OK"), "{}", r.all());
    let r = a.cmd("FETCH 1 (UID)").await.expect("renumbered");
    assert_eq!(r.untagged, vec!["1 FETCH (UID 2)"]);

    let metrics = tern.get("/metrics").expect("metrics").1;
    assert!(
        metrics.contains("tern_imap_notify_latency_seconds_count"),
        "latency histogram exported"
    );
    assert!(
        metrics.contains("tern_imap_idle_sessions 0"),
        "no IDLE left"
    );
    tern.stop().expect("stop");
}

#[tokio::test(flavor = "multi_thread")]
async fn expunges_wait_for_a_command_that_allows_them() {
    let (_dir, tern) = Tern::dev(TOKEN, PASSWORD, &[]);
    smtp::deliver(tern.addr("smtp"), "demo@example.test", &["a", "b", "c"])
        .await
        .expect("deliver");
    let mut a = imap::session(&tern, "demo", PASSWORD).await;
    let mut b = imap::session(&tern, "demo", PASSWORD).await;
    assert!(a.cmd("SELECT INBOX").await.expect("select").ok());
    assert!(b.cmd("SELECT INBOX").await.expect("select").ok());
    assert!(
        b.cmd("STORE 2 +FLAGS.SILENT (\\Deleted)")
            .await
            .expect("mark")
            .ok()
    );
    assert!(b.cmd("EXPUNGE").await.expect("expunge").ok());
    // A's numbers stay valid during FETCH, STORE and SEARCH by sequence number.
    let r = a.cmd("FETCH 1:3 (UID)").await.expect("fetch");
    assert!(
        r.lines("").iter().all(|l| !l.contains("EXPUNGE")),
        "{}",
        r.all()
    );
    assert_eq!(r.lines("3 FETCH"), vec!["3 FETCH (UID 3)"], "{}", r.all());
    let r = a.cmd("SEARCH ALL").await.expect("search");
    assert!(
        r.lines("").iter().all(|l| !l.contains("EXPUNGE")),
        "{}",
        r.all()
    );
    let r = a.cmd("NOOP").await.expect("noop");
    assert_eq!(r.lines("2 EXPUNGE"), vec!["2 EXPUNGE"], "{}", r.all());
    let r = a.cmd("FETCH 2 (UID)").await.expect("fetch");
    assert_eq!(r.untagged, vec!["2 FETCH (UID 3)"]);
    tern.stop().expect("stop");
}

fn number_after(s: &str, key: &str) -> u64 {
    let rest = &s[s.find(key).unwrap_or_else(|| panic!("{key} in {s}")) + key.len()..];
    rest.trim_start_matches([' ', '('])
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .expect("number")
}

#[tokio::test(flavor = "multi_thread")]
async fn condstore_and_qresync_resync() {
    let (_dir, tern) = Tern::dev(TOKEN, PASSWORD, &[]);
    smtp::deliver(
        tern.addr("smtp"),
        "demo@example.test",
        &["a", "b", "c", "d"],
    )
    .await
    .expect("deliver");
    let mut a = imap::session(&tern, "demo", PASSWORD).await;
    let r = a.cmd("ENABLE QRESYNC").await.expect("enable");
    assert_eq!(r.lines("ENABLED"), vec!["ENABLED QRESYNC"], "{}", r.all());
    let r = a.cmd("SELECT INBOX").await.expect("select");
    let validity = number_after(r.lines("OK [UIDVALIDITY")[0], "UIDVALIDITY");
    let modseq = number_after(r.lines("OK [HIGHESTMODSEQ")[0], "HIGHESTMODSEQ");
    let r = a.cmd("FETCH 1 (MODSEQ)").await.expect("modseq");
    assert!(r.lines("1 FETCH")[0].contains("MODSEQ ("), "{}", r.all());
    a.cmd("LOGOUT").await.expect("logout");

    // Another client changes flags and expunges while this one is away.
    let mut b = imap::session(&tern, "demo", PASSWORD).await;
    assert!(b.cmd("SELECT INBOX").await.expect("select").ok());
    assert!(
        b.cmd("STORE 2 +FLAGS.SILENT (\\Seen)")
            .await
            .expect("seen")
            .ok()
    );
    assert!(
        b.cmd("STORE 3 +FLAGS.SILENT (\\Deleted)")
            .await
            .expect("del")
            .ok()
    );
    assert!(b.cmd("EXPUNGE").await.expect("expunge").ok());

    let mut a = imap::session(&tern, "demo", PASSWORD).await;
    assert!(a.cmd("ENABLE QRESYNC").await.expect("enable").ok());
    let r = a
        .cmd(&format!("SELECT INBOX (QRESYNC ({validity} {modseq} 1:4))"))
        .await
        .expect("qresync");
    assert!(r.ok(), "{}", r.all());
    assert_eq!(
        r.lines("VANISHED"),
        vec!["VANISHED (EARLIER) 3"],
        "{}",
        r.all()
    );
    let changed = r.lines("2 FETCH");
    assert!(
        changed.len() == 1
            && changed[0].contains("UID 2")
            && changed[0].contains("\\Seen")
            && changed[0].contains("MODSEQ"),
        "{}",
        r.all()
    );
    let r = a
        .cmd(&format!(
            "UID FETCH 1:* (FLAGS) (CHANGEDSINCE {modseq} VANISHED)"
        ))
        .await
        .expect("changedsince");
    assert_eq!(
        r.lines("VANISHED"),
        vec!["VANISHED (EARLIER) 3"],
        "{}",
        r.all()
    );
    assert_eq!(
        r.lines("").iter().filter(|l| l.contains("FETCH")).count(),
        1,
        "{}",
        r.all()
    );
    let r = a
        .cmd(&format!("SEARCH MODSEQ {}", modseq + 1))
        .await
        .expect("search modseq");
    assert!(
        r.lines("SEARCH")[0].starts_with("SEARCH 2 (MODSEQ "),
        "{}",
        r.all()
    );

    // UNCHANGEDSINCE: a message changed after the given MODSEQ is left alone and reported.
    let r = a
        .cmd(&format!(
            "STORE 1,2 (UNCHANGEDSINCE {modseq}) +FLAGS (\\Answered)"
        ))
        .await
        .expect("conditional");
    assert!(r.status.starts_with("OK [MODIFIED 2]"), "{}", r.all());
    assert!(r.lines("1 FETCH")[0].contains("\\Answered"), "{}", r.all());

    // With QRESYNC on, another session's expunge arrives as VANISHED.
    assert!(
        b.cmd("STORE 1 +FLAGS.SILENT (\\Deleted)")
            .await
            .expect("del")
            .ok()
    );
    assert!(b.cmd("EXPUNGE").await.expect("expunge").ok());
    let r = a.cmd("NOOP").await.expect("noop");
    assert_eq!(r.lines("VANISHED"), vec!["VANISHED 1"], "{}", r.all());
    let r = a
        .cmd("STATUS INBOX (HIGHESTMODSEQ MESSAGES)")
        .await
        .expect("status");
    assert!(r.lines("STATUS")[0].contains("MESSAGES 2"), "{}", r.all());
    tern.stop().expect("stop");
}

/// Searches on flags, keywords and sizes (and fetches of flags) come from the open mailbox's
/// in-memory index, and still see every change committed before them: the session's own
/// STORE, another session's STORE and EXPUNGE, a new delivery.
#[tokio::test(flavor = "multi_thread")]
async fn searches_from_the_index_see_every_committed_change() {
    let (_dir, tern) = Tern::dev(TOKEN, PASSWORD, &[]);
    let subjects: Vec<String> = (1..=30).map(|i| format!("message {i}")).collect();
    let subjects: Vec<&str> = subjects.iter().map(String::as_str).collect();
    smtp::deliver(tern.addr("smtp"), "demo@example.test", &subjects)
        .await
        .expect("deliver");
    let indexed = "tern_imap_searches_total{source=\"index\"}";
    assert_eq!(tern.metric(indexed), 0.0, "exported at 0 from start");
    let mut a = imap::session(&tern, "demo@example.test", PASSWORD).await;
    let mut b = imap::session(&tern, "demo@example.test", PASSWORD).await;
    assert!(a.cmd("SELECT INBOX").await.expect("select").ok());
    assert!(b.cmd("SELECT INBOX").await.expect("select").ok());
    let range = |from: u32, to: u32| (from..=to).collect::<Vec<u32>>();
    assert_eq!(a.search("UNSEEN").await, range(1, 30));
    assert!(tern.metric(indexed) >= 1.0, "answered from the index");

    // Its own change, at once.
    assert!(
        a.cmd("STORE 1:10 +FLAGS.SILENT (\\Seen)")
            .await
            .expect("store")
            .ok()
    );
    assert_eq!(a.search("UNSEEN").await, range(11, 30));
    assert_eq!(a.search("SEEN").await, range(1, 10));
    // Another session's, at once (the index or the store, never an older state).
    assert!(
        b.cmd("STORE 11:15 +FLAGS.SILENT (\\Seen)")
            .await
            .expect("store")
            .ok()
    );
    assert_eq!(a.search("UNSEEN").await, range(16, 30));
    assert!(
        b.cmd("STORE 20 +FLAGS.SILENT ($Label1)")
            .await
            .expect("store")
            .ok()
    );
    assert_eq!(a.search("KEYWORD $Label1").await, vec![20]);
    let r = a.cmd("UID FETCH 1:* (FLAGS)").await.expect("fetch");
    let seen: std::collections::BTreeSet<&str> = r
        .lines("")
        .iter()
        .filter(|l| l.contains("FETCH") && l.contains("\\Seen"))
        .filter_map(|l| l.split(' ').next())
        .collect();
    assert_eq!(seen.len(), 15, "{}", r.all());
    let labelled = r.lines("20 FETCH");
    assert!(
        !labelled.is_empty() && labelled.iter().all(|l| l.contains("$Label1")),
        "{}",
        r.all()
    );
    // A delivery: in the search once the session knows of it.
    smtp::deliver(tern.addr("smtp"), "demo@example.test", &["thirty-one"])
        .await
        .expect("deliver");
    let r = a.cmd("NOOP").await.expect("noop");
    assert!(r.lines("31 EXISTS").len() == 1, "{}", r.all());
    assert_eq!(a.search("UNSEEN").await, range(16, 31));
    assert_eq!(a.search("LARGER 1 UID 31:*").await, vec![31]);
    // Another session's expunge: gone from the search after the session is told.
    assert!(
        b.cmd("STORE 16 +FLAGS.SILENT (\\Deleted)")
            .await
            .expect("store")
            .ok()
    );
    assert!(b.cmd("EXPUNGE").await.expect("expunge").ok());
    assert!(a.cmd("NOOP").await.expect("noop").ok());
    assert_eq!(a.search("DELETED").await, Vec::<u32>::new());
    assert_eq!(a.search("UNSEEN").await, range(16, 30));
    assert!(tern.metric(indexed) >= 5.0, "most came from the index");
    tern.stop().expect("clean stop");
}

/// SEARCH on envelope fields and SORT take envelopes from the node's cache: mail filed on the
/// node is there from its filing; after a restart each envelope is read from the store once.
/// The cache and the open mailbox's index show in `tern_memory_bytes`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn envelope_searches_read_each_envelope_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let env = [
        ("TERN_DEV_ADMIN_TOKEN", TOKEN),
        ("TERN_DEV_PASSWORD", PASSWORD),
    ];
    let tern = Tern::start(dir.path(), &["--dev"], &env).expect("tern starts");
    let hits = "tern_imap_envelope_cache_lookups_total{result=\"hit\"}";
    let misses = "tern_imap_envelope_cache_lookups_total{result=\"miss\"}";
    let cached = "tern_memory_bytes{part=\"envelope_cache\"}";
    let indexes = "tern_memory_bytes{part=\"mailbox_indexes\"}";
    for m in [hits, misses, cached, indexes] {
        assert_eq!(tern.metric(m), 0.0, "{m} exported at 0 from start");
    }
    let subjects: Vec<String> = (1..=30).map(|i| format!("message {i}")).collect();
    let subjects: Vec<&str> = subjects.iter().map(String::as_str).collect();
    smtp::deliver(tern.addr("smtp"), "demo@example.test", &subjects)
        .await
        .expect("deliver");
    assert!(tern.metric(cached) > 0.0, "filing remembered the envelopes");
    let mut ones = vec![1];
    ones.extend(10..=19);
    let mut a = imap::session(&tern, "demo@example.test", PASSWORD).await;
    assert!(a.cmd("SELECT INBOX").await.expect("select").ok());
    assert!(tern.metric(indexes) > 0.0, "the open mailbox's index");
    assert_eq!(a.search("SUBJECT \"message 1\"").await, ones);
    assert_eq!((tern.metric(hits), tern.metric(misses)), (30.0, 0.0));
    assert!(a.cmd("LOGOUT").await.expect("logout").ok());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while tern.metric(indexes) != 0.0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the index is let go with its last session"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    tern.stop().expect("clean stop");

    // Restarted: each envelope is read once, then found.
    let tern = Tern::start(dir.path(), &["--dev"], &env).expect("tern restarts");
    let mut a = imap::session(&tern, "demo@example.test", PASSWORD).await;
    assert!(a.cmd("SELECT INBOX").await.expect("select").ok());
    assert_eq!(a.search("SUBJECT \"message 1\"").await, ones);
    assert_eq!(tern.metric(misses), 30.0, "each envelope read once");
    assert_eq!(
        a.search("FROM feeder@remote.test SUBJECT \"message 2\"")
            .await,
        {
            let mut twos = vec![2];
            twos.extend(20..=29);
            twos
        }
    );
    assert_eq!(a.search("NOT FROM feeder").await, Vec::<u32>::new());
    assert_eq!(tern.metric(misses), 30.0, "no envelope read again");
    assert_eq!(
        tern.metric(hits),
        60.0,
        "both later searches from the cache"
    );
    let r = a
        .cmd("SORT (REVERSE SUBJECT) UTF-8 SUBJECT \"message 3\"")
        .await
        .expect("sort");
    assert_eq!(r.lines("SORT"), vec!["SORT 30 3"], "{}", r.all());
    assert_eq!(tern.metric(misses), 30.0, "SORT read none either");

    // A delivery: remembered as it is filed, found without a read.
    smtp::deliver(tern.addr("smtp"), "demo@example.test", &["thirty-one"])
        .await
        .expect("deliver");
    let r = a.cmd("NOOP").await.expect("noop");
    assert!(r.lines("31 EXISTS").len() == 1, "{}", r.all());
    assert_eq!(a.search("SUBJECT thirty").await, vec![31]);
    assert_eq!(tern.metric(misses), 30.0, "the new envelope was remembered");
    tern.stop().expect("clean stop");
}
