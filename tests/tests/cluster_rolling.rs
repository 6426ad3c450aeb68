//! A rolling restart of a three-node cluster (real `tern` processes on one PostgreSQL) under
//! load: SMTP sessions deliver to one mailbox through whichever members are up while IMAP
//! sessions on it check, round after round, what an IMAP client relies on — UIDVALIDITY never
//! changes, sequence numbers run 1..n with rising UIDs, no UID disappears (nothing is
//! expunged), every message the session knew of is still reported, and the keywords a session
//! stored stay set — reconnecting to another member when theirs stops. Each member in turn is
//! stopped (SIGTERM), restarted and waited for until it holds its share of the queue again.
//! At the end every message the SMTP side saw accepted is in the mailbox exactly once, on
//! every member.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use anyhow::{bail, ensure};
use tern_tests::{
    Tern,
    cluster::{PASSWORD, Scene, balanced, members, start, wait},
    imap,
    smtp::{self, message},
};

const MAILBOX: &str = "demo@example.test";
const SENDERS: usize = 4;
const CHECKERS: usize = 3;

/// How a client reaches a member that is up.
#[derive(Clone)]
struct Endpoint {
    smtp: SocketAddr,
    imaps: SocketAddr,
    tls: Arc<rustls::ClientConfig>,
}

impl Endpoint {
    fn of(t: &Tern) -> Self {
        Self {
            smtp: t.addr("smtp"),
            imaps: t.addr("imaps"),
            tls: smtp::tls_config(&t.certificate()).expect("tls config"),
        }
    }
}

/// The members that are up, by node id − 1 (`None` while one restarts).
type Book = Arc<Mutex<Vec<Option<Endpoint>>>>;

/// The `turn`-th member that is up, if any.
fn pick(book: &Book, turn: usize) -> Option<Endpoint> {
    let up: Vec<Endpoint> = book
        .lock()
        .expect("lock")
        .iter()
        .flatten()
        .cloned()
        .collect();
    (!up.is_empty()).then(|| up[turn % up.len()].clone())
}

/// Sends messages to [`MAILBOX`] until `stop`, 20 per connection, moving on to the next member
/// after each connection or error; pushes the subject of each message answered 250.
async fn sender(k: usize, book: Book, stop: Arc<AtomicBool>, accepted: Arc<Mutex<Vec<String>>>) {
    let mut n = 0usize;
    for turn in k.. {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Some(ep) = pick(&book, turn) else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let session = async {
            let (mut c, greeting) = smtp::Client::connect(ep.smtp, None).await?;
            ensure!(greeting.code == 220, "greeting {}", greeting.code);
            c.expect("EHLO load.test", 250).await?;
            for _ in 0..20 {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let subject = format!("rolling-{k}-{n}");
                n += 1;
                c.expect("MAIL FROM:<load@remote.test>", 250).await?;
                c.expect(&format!("RCPT TO:<{MAILBOX}>"), 250).await?;
                let r = c
                    .data(&message("load@remote.test", MAILBOX, &subject, "load\r\n"))
                    .await?;
                ensure!(r.code == 250, "end of data answered {}", r.code);
                accepted.lock().expect("lock").push(subject);
            }
            let _ = c.cmd("QUIT").await;
            Ok(())
        };
        // A member stopping refuses or closes: not accepted, try the next.
        let _ = session.await;
    }
}

/// What one checker learnt across its sessions.
#[derive(Default)]
struct Seen {
    uidvalidity: Option<String>,
    uids: BTreeSet<u64>,
    flagged: BTreeSet<u64>,
    sessions: usize,
    rounds: usize,
}

/// The number after `key ` in `line`.
fn number_after(line: &str, key: &str) -> Option<u64> {
    let at = line.find(key)? + key.len();
    let digits: String = line[at..]
        .chars()
        .skip_while(|c| *c == ' ')
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// The highest EXISTS among untagged responses, if any.
fn exists(untagged: &[String]) -> Option<u64> {
    untagged
        .iter()
        .filter_map(|l| l.strip_suffix(" EXISTS")?.parse().ok())
        .max()
}

/// One selected-state round: fetches every UID and its flags, checks them against what the
/// checker knew, sometimes stores its keyword on the newest message.
async fn round(
    c: &mut imap::Client,
    seen: &mut Seen,
    known: &mut u64,
    keyword: &str,
) -> anyhow::Result<Option<()>> {
    let r = c.cmd("UID FETCH 1:* (UID FLAGS)").await?;
    if r.untagged.iter().any(|l| l.starts_with("BYE")) {
        return Ok(None);
    }
    ensure!(r.ok(), "UID FETCH refused: {}", r.all());
    let before = *known;
    if let Some(e) = exists(&r.untagged) {
        ensure!(e >= *known, "EXISTS went from {known} down to {e}");
        *known = e;
    }
    // By sequence number: another session's STORE may add an unsolicited FETCH of a message
    // this one already reported (with its UID, and flags the later one has right).
    let mut by_seq: BTreeMap<u64, (u64, bool)> = BTreeMap::new();
    for l in r.untagged.iter().filter(|l| l.contains(" FETCH (")) {
        let seq: u64 = l.split(' ').next().unwrap_or("").parse()?;
        let uid = number_after(l, "UID").ok_or_else(|| anyhow::anyhow!("no UID in {l}"))?;
        if let Some((before, _)) = by_seq.insert(seq, (uid, l.contains(keyword))) {
            ensure!(
                before == uid,
                "message {seq} reported as UID {before} and {uid}"
            );
        }
    }
    let fetched: Vec<(u64, u64, bool)> = by_seq.into_iter().map(|(s, (u, k))| (s, u, k)).collect();
    let count = fetched.len() as u64;
    ensure!(
        count >= before && count <= *known,
        "{count} messages fetched, the session knew of {before} and now {known}"
    );
    for (i, (seq, uid, _)) in fetched.iter().enumerate() {
        ensure!(
            *seq == i as u64 + 1,
            "sequence numbers not 1..n: {fetched:?}"
        );
        ensure!(
            i == 0 || fetched[i - 1].1 < *uid,
            "UIDs not rising with sequence numbers: {fetched:?}"
        );
    }
    let uids: BTreeSet<u64> = fetched.iter().map(|f| f.1).collect();
    if let Some(gone) = seen.uids.difference(&uids).next() {
        bail!("UID {gone} disappeared without an expunge");
    }
    for (_, uid, has) in &fetched {
        ensure!(
            *has || !seen.flagged.contains(uid),
            "UID {uid} lost the keyword {keyword} this checker stored"
        );
    }
    seen.uids.extend(&uids);
    seen.rounds += 1;
    if let (true, Some(newest)) = (seen.rounds.is_multiple_of(5), uids.last()) {
        let r = c
            .cmd(&format!("UID STORE {newest} +FLAGS.SILENT ({keyword})"))
            .await?;
        if r.untagged.iter().any(|l| l.starts_with("BYE")) {
            return Ok(None);
        }
        ensure!(r.ok(), "UID STORE refused: {}", r.all());
        // Its answer may tell of new mail too; the next round's FETCH counts on it.
        if let Some(e) = exists(&r.untagged) {
            ensure!(e >= *known, "EXISTS went from {known} down to {e}");
            *known = e;
        }
        seen.flagged.insert(*newest);
    }
    Ok(Some(()))
}

/// Checks [`MAILBOX`] round after round until `stop`, reconnecting to the next member that is
/// up when its member goes away. Any wrong state ends it with an error.
async fn checker(k: usize, book: Book, stop: Arc<AtomicBool>) -> anyhow::Result<Seen> {
    let keyword = format!("$check{k}");
    let mut seen = Seen::default();
    for turn in k.. {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let Some(ep) = pick(&book, turn) else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        // Connecting, logging in and selecting may fail while a member stops: try the next.
        let Ok((mut c, _)) = imap::Client::connect(ep.imaps, Some(&ep.tls)).await else {
            continue;
        };
        let (Ok(login), Ok(select)) = (
            c.login(MAILBOX, PASSWORD).await,
            c.cmd("SELECT INBOX").await,
        ) else {
            continue;
        };
        if !login.ok() || !select.ok() {
            continue;
        }
        seen.sessions += 1;
        let validity = select
            .untagged
            .iter()
            .find_map(|l| number_after(l, "[UIDVALIDITY"))
            .map(|v| v.to_string());
        ensure!(validity.is_some(), "no UIDVALIDITY: {}", select.all());
        match &seen.uidvalidity {
            None => seen.uidvalidity = validity,
            Some(v) => ensure!(
                Some(v) == validity.as_ref(),
                "UIDVALIDITY changed from {v} to {validity:?}"
            ),
        }
        let mut known = exists(&select.untagged).unwrap_or(0);
        ensure!(
            known >= seen.uids.len() as u64,
            "SELECT reports {known} messages, {} were seen before",
            seen.uids.len()
        );
        while !stop.load(Ordering::SeqCst) {
            match round(&mut c, &mut seen, &mut known, &keyword).await {
                Ok(Some(())) => tokio::time::sleep(Duration::from_millis(100)).await,
                // The member is going away (BYE, or the connection closed).
                Ok(None) => break,
                Err(e) if e.to_string().contains("connection closed") => break,
                Err(e) if e.downcast_ref::<std::io::Error>().is_some() => break,
                Err(e) => return Err(e),
            }
        }
    }
    Ok(seen)
}

/// Waits until `accepted` grew by `more`.
async fn grows(accepted: &Mutex<Vec<String>>, more: usize, what: &str) {
    let target = accepted.lock().expect("lock").len() + more;
    let deadline = Instant::now() + Duration::from_secs(60);
    while accepted.lock().expect("lock").len() < target {
        assert!(Instant::now() < deadline, "load stalled: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rolling_restart_under_smtp_and_imap_load_loses_nothing() {
    let scene = Scene::new(3);
    let (pg, cert_dir, dirs) = (&scene.pg, &scene.certs, &scene.dirs);
    let n1 = start(pg, dirs[0].path(), cert_dir, 1, None);
    let join = n1.addr("cluster").to_string();
    let mut nodes = vec![
        Some(n1),
        Some(start(pg, dirs[1].path(), cert_dir, 2, Some(&join))),
        Some(start(pg, dirs[2].path(), cert_dir, 3, Some(&join))),
    ];
    let first = nodes[0].as_ref().expect("node 1");
    wait(first, 60, "three members with their shares", |s| {
        balanced(s, &[1, 2, 3])
    });
    let book: Book = Arc::new(Mutex::new(
        nodes.iter().flatten().map(Endpoint::of).map(Some).collect(),
    ));

    let stop = Arc::new(AtomicBool::new(false));
    let accepted: Arc<Mutex<Vec<String>>> = Arc::default();
    let senders: Vec<_> = (0..SENDERS)
        .map(|k| tokio::spawn(sender(k, book.clone(), stop.clone(), accepted.clone())))
        .collect();
    let checkers: Vec<_> = (0..CHECKERS)
        .map(|k| tokio::spawn(checker(k, book.clone(), stop.clone())))
        .collect();
    grows(&accepted, 40, "before the restarts").await;

    for i in 0..3 {
        let id = i as u64 + 1;
        book.lock().expect("lock")[i] = None;
        let restarted_at = Instant::now();
        nodes[i].take().expect("node").stop().expect("clean stop");
        let again = start(pg, dirs[i].path(), cert_dir, id, None);
        // Its own view from before the stop would look balanced already: wait for the one
        // the leader wrote since, with its new cluster address.
        let raft = again.addr("cluster").to_string();
        wait(&again, 60, "the restarted member has its share", |s| {
            balanced(s, &[1, 2, 3])
                && members(s)
                    .iter()
                    .any(|m| m["id"] == id && m["raft"] == raft.as_str())
        });
        println!(
            "node {id} restarted and holding its share after {} ms",
            restarted_at.elapsed().as_millis()
        );
        book.lock().expect("lock")[i] = Some(Endpoint::of(&again));
        nodes[i] = Some(again);
        grows(&accepted, 40, "after a restart").await;
    }

    stop.store(true, Ordering::SeqCst);
    for s in senders {
        s.await.expect("sender");
    }
    let mut sessions = 0;
    for c in checkers {
        let seen = c
            .await
            .expect("checker")
            .expect("no IMAP session saw a wrong state");
        assert!(seen.rounds > 0, "a checker never completed a round");
        sessions += seen.sessions;
    }

    // Every accepted message is in the mailbox once, as every member sees it.
    let accepted = accepted.lock().expect("lock").clone();
    for n in nodes.iter().flatten() {
        let mut c = imap::session(n, MAILBOX, PASSWORD).await;
        let ids = c.message_ids("INBOX").await.expect("message ids");
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for id in &ids {
            *counts.entry(id.as_str()).or_default() += 1;
        }
        let lost: Vec<&String> = accepted
            .iter()
            .filter(|s| !counts.contains_key(format!("<{s}@test>").as_str()))
            .collect();
        assert!(lost.is_empty(), "accepted but not in the mailbox: {lost:?}");
        let twice: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
        assert!(twice.is_empty(), "in the mailbox twice: {twice:?}");
    }
    println!(
        "rolling restart: {} messages accepted, 0 lost, 0 twice; {sessions} IMAP sessions \
         checked, none saw a wrong state",
        accepted.len()
    );
    for n in nodes.into_iter().flatten() {
        n.stop().expect("clean stop");
    }
}
