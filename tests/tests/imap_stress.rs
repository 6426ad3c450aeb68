//! Ten IMAP clients on one mailbox for `TERN_STRESS_SECONDS` (60 by default), each doing
//! random APPEND, FETCH, STORE, EXPUNGE, COPY, IDLE and NOOP, and each keeping its own model of
//! the mailbox built only from what the server tells it (EXISTS, EXPUNGE, FETCH). Every answer
//! is checked against the model: sequence numbers never disagree with UIDs seen before, UIDs
//! rise with sequence numbers, EXISTS never goes down without an EXPUNGE, and a full FETCH
//! names exactly the messages the model holds. At the end every client's model is the same
//! mailbox, with the same flags. Any disagreement fails the test.

use std::{
    collections::BTreeMap,
    sync::Arc,
    time::{Duration, Instant},
};

use anyhow::ensure;
use rand::{Rng, SeedableRng, rngs::StdRng};
use tern_tests::imap::{self, Client};

const TOKEN: &str = "stress-token";
const PASSWORD: &str = "demo-password";
const CLIENTS: usize = 10;

/// What one client knows of the mailbox: UIDs in sequence order (0 while a new message's UID
/// is not yet known) and the flags last reported for each UID.
#[derive(Default)]
struct Model {
    uids: Vec<u32>,
    flags: BTreeMap<u32, String>,
}

fn number_after(line: &str, word: &str) -> Option<u32> {
    let at = line.find(&format!("{word} "))? + word.len() + 1;
    line[at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

fn flags_of(line: &str) -> Option<String> {
    let at = line.find("FLAGS (")? + "FLAGS (".len();
    let end = line[at..].find(')')?;
    let mut flags: Vec<&str> = line[at..at + end]
        .split(' ')
        .filter(|f| !f.is_empty() && *f != "\\Recent")
        .collect();
    flags.sort_unstable();
    Some(flags.join(" "))
}

impl Model {
    /// Applies one untagged response, in the order the server sent them.
    fn apply(&mut self, line: &str) -> anyhow::Result<()> {
        let mut words = line.split(' ');
        let (Some(n), Some(kind)) = (words.next(), words.next()) else {
            return Ok(());
        };
        let Ok(n) = n.parse::<usize>() else {
            return Ok(());
        };
        match kind {
            "EXISTS" => {
                ensure!(
                    n >= self.uids.len(),
                    "EXISTS {n} below the {} messages known, without EXPUNGE",
                    self.uids.len()
                );
                self.uids.resize(n, 0);
            }
            "EXPUNGE" => {
                ensure!(
                    n >= 1 && n <= self.uids.len(),
                    "EXPUNGE {n} of {} messages",
                    self.uids.len()
                );
                let uid = self.uids.remove(n - 1);
                self.flags.remove(&uid);
            }
            "FETCH" => {
                ensure!(
                    n >= 1 && n <= self.uids.len(),
                    "FETCH of message {n} of {}: {line}",
                    self.uids.len()
                );
                let known = self.uids[n - 1];
                // The answer to this client's own STORE by sequence number names no UID.
                let Some(uid) = number_after(line, "UID") else {
                    if let (Some(f), true) = (flags_of(line), known != 0) {
                        self.flags.insert(known, f);
                    }
                    return Ok(());
                };
                ensure!(
                    known == 0 || known == uid,
                    "message {n} was UID {known}, now said to be UID {uid}"
                );
                self.uids[n - 1] = uid;
                let before = self.uids[..n - 1].iter().rev().find(|u| **u != 0);
                let after = self.uids[n..].iter().find(|u| **u != 0);
                ensure!(
                    before.is_none_or(|b| *b < uid) && after.is_none_or(|a| *a > uid),
                    "UID {uid} at {n} out of order: {:?}",
                    self.uids
                );
                if let Some(f) = flags_of(line) {
                    self.flags.insert(uid, f);
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn apply_all(&mut self, lines: &[String]) -> anyhow::Result<()> {
        lines.iter().try_for_each(|l| self.apply(l))
    }
}

/// Sends a command, checks it is OK, applies what it said.
async fn run(c: &mut Client, model: &mut Model, command: &str) -> anyhow::Result<Vec<String>> {
    let r = c.cmd(command).await?;
    ensure!(r.ok(), "{command}: {}", r.all());
    model.apply_all(&r.untagged)?;
    Ok(r.untagged)
}

/// A full FETCH: it must name every message the model holds at that point (new mail told
/// after the FETCH data is not part of `1:*`), each under the UID the model knows.
async fn verify(c: &mut Client, model: &mut Model) -> anyhow::Result<()> {
    if model.uids.is_empty() {
        run(c, model, "NOOP").await?;
        if model.uids.is_empty() {
            return Ok(());
        }
    }
    let r = c.cmd("FETCH 1:* (UID FLAGS)").await?;
    // A message expunged in another session and not yet told of is left out with a NO
    // (RFC 2180 §4.1.2); its EXPUNGE comes with a later command.
    let gone = r.status.starts_with("NO") && r.status.contains("no longer exist");
    ensure!(r.ok() || gone, "FETCH 1:*: {}", r.all());
    let mut named = std::collections::BTreeSet::new();
    let mut held = 0;
    for l in &r.untagged {
        model.apply(l)?;
        if l.contains(" FETCH (") && l.contains("UID ") {
            named.insert(l.split(' ').next().unwrap_or("").parse::<usize>()?);
            held = model.uids.len();
        }
    }
    ensure!(
        gone || (named.len() == held && named.iter().copied().eq(1..=held)),
        "FETCH 1:* named {} messages of the {held} held: {named:?}",
        named.len()
    );
    ensure!(
        gone || !model.uids[..held].contains(&0),
        "a message whose UID was never told: {:?}",
        model.uids
    );
    Ok(())
}

async fn client(
    tern: Arc<tern_tests::Tern>,
    k: usize,
    until: Instant,
    stopped: Arc<tokio::sync::Barrier>,
) -> anyhow::Result<(Model, usize)> {
    let mut c = imap::session(&tern, "demo@example.test", PASSWORD).await;
    let mut model = Model::default();
    run(&mut c, &mut model, "SELECT INBOX").await?;
    verify(&mut c, &mut model).await?;
    let mut rng = StdRng::seed_from_u64(k as u64);
    let mut operations = 0;
    while Instant::now() < until {
        operations += 1;
        let count = model.uids.len();
        let seq = if count > 0 {
            rng.random_range(1..=count)
        } else {
            0
        };
        match rng.random_range(0..10) {
            0 | 1 => {
                let body =
                    format!("Subject: from {k}\r\n\r\nmessage {operations} of client {k}\r\n");
                let r = c.cmd_literal("APPEND INBOX", body.as_bytes()).await?;
                ensure!(r.ok(), "APPEND: {}", r.all());
                model.apply_all(&r.untagged)?;
            }
            2 | 3 if seq > 0 => {
                let own = format!("$c{k}");
                let flag = ["\\Flagged", "\\Seen", "$Work", &own][rng.random_range(0..4)];
                let sign = if rng.random_bool(0.5) { '+' } else { '-' };
                run(
                    &mut c,
                    &mut model,
                    &format!("STORE {seq} {sign}FLAGS ({flag})"),
                )
                .await?;
            }
            4 if seq > 0 && count > 20 => {
                run(
                    &mut c,
                    &mut model,
                    &format!("STORE {seq} +FLAGS.SILENT (\\Deleted)"),
                )
                .await?;
                run(&mut c, &mut model, "EXPUNGE").await?;
            }
            5 if seq > 0 => {
                run(&mut c, &mut model, &format!("COPY {seq} INBOX")).await?;
            }
            6 => {
                c.send(b"idle IDLE\r\n").await?;
                loop {
                    let l = c.line().await?;
                    if l.starts_with('+') {
                        break;
                    }
                    let untagged = l.strip_prefix("* ");
                    ensure!(untagged.is_some(), "IDLE not accepted: {l}");
                    model.apply(untagged.unwrap_or_default())?;
                }
                let stop = Instant::now() + Duration::from_millis(rng.random_range(20..200));
                while let Some(l) = c
                    .line_within(stop.saturating_duration_since(Instant::now()))
                    .await?
                {
                    model.apply(l.strip_prefix("* ").unwrap_or(&l))?;
                }
                c.send(b"DONE\r\n").await?;
                let r = c.until("idle").await?;
                ensure!(r.ok(), "IDLE: {}", r.all());
                model.apply_all(&r.untagged)?;
            }
            7 => {
                run(&mut c, &mut model, "NOOP").await?;
            }
            _ => verify(&mut c, &mut model).await?,
        }
    }
    // Once every client has stopped changing the mailbox, what the others did must all have
    // been told: the models are compared after this.
    stopped.wait().await;
    run(&mut c, &mut model, "NOOP").await?;
    verify(&mut c, &mut model).await?;
    Ok((model, operations))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_clients_on_one_mailbox_never_disagree() {
    let seconds: u64 = std::env::var("TERN_STRESS_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let (_dir, tern) = tern_tests::Tern::dev(TOKEN, PASSWORD, &[]);
    let until = Instant::now() + Duration::from_secs(seconds);
    let tern = Arc::new(tern);
    let stopped = Arc::new(tokio::sync::Barrier::new(CLIENTS));
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|k| tokio::spawn(client(tern.clone(), k, until, stopped.clone())))
        .collect();
    let mut models = Vec::new();
    let mut operations = 0;
    for (k, task) in tasks.into_iter().enumerate() {
        match task.await.expect("client task") {
            Ok((m, ops)) => {
                operations += ops;
                models.push(m);
            }
            Err(e) => panic!("client {k} saw a wrong state: {e:#}"),
        }
    }
    let mut c = imap::session(&tern, "demo@example.test", PASSWORD).await;
    let mut truth = Model::default();
    run(&mut c, &mut truth, "SELECT INBOX")
        .await
        .expect("select");
    verify(&mut c, &mut truth).await.expect("the mailbox");
    assert!(operations > CLIENTS, "the clients did little: {operations}");
    assert!(!truth.uids.is_empty(), "no message survived");
    // Every client heard every change the others made: each ends with the same mailbox.
    for (k, m) in models.iter().enumerate() {
        assert_eq!(m.uids, truth.uids, "client {k}: the messages differ");
        assert_eq!(m.flags, truth.flags, "client {k}: the flags differ");
    }
    println!(
        "{CLIENTS} clients, {seconds} s, {operations} operations, {} messages at the end: 0 mismatches",
        truth.uids.len()
    );
    drop(c);
    let Ok(tern) = Arc::try_unwrap(tern) else {
        panic!("a client still holds the server");
    };
    tern.stop().expect("clean stop");
}
