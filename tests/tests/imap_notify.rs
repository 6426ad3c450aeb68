//! NOTIFY (RFC 5465): a session follows other mailboxes (STATUS as their mail changes),
//! names and subscriptions (LIST, with OLDNAME and \NonExistent) and its selected mailbox
//! without IDLE, as another session changes them; SELECTED-DELAYED holds expunges for a
//! command and MessageNew's fetch attributes come with new mail; refusals name what is wrong.

use std::time::Duration;

use tern_tests::imap::{self, Client, Reply, message};

const TOKEN: &str = "notify-token";
const PASSWORD: &str = "demo-password";
const USER: &str = "demo@example.test";
const DATE: &str = "Tue, 24 Nov 2026 09:00:00 +0000";

async fn ok(c: &mut Client, command: &str) -> Reply {
    let r = c.cmd(command).await.expect("command");
    assert!(r.ok(), "{command}: {}", r.all());
    r
}

async fn append_to(c: &mut Client, mailbox: &str, subject: &str) {
    let r = c
        .cmd_literal(
            &format!("APPEND {mailbox}"),
            message(DATE, subject).as_bytes(),
        )
        .await
        .expect("append");
    assert!(r.ok(), "{}", r.all());
}

/// Reads unsolicited lines until one starts with `prefix` (within 20 s), returning the lines
/// read, that one last.
async fn told(c: &mut Client, prefix: &str) -> Vec<String> {
    let mut lines = Vec::new();
    loop {
        match c.line_within(Duration::from_secs(20)).await.expect("read") {
            Some(l) => {
                let done = l.starts_with(prefix);
                lines.push(l);
                if done {
                    return lines;
                }
            }
            None => panic!("no `{prefix}` within 20 s; got {lines:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_mailboxes_names_and_subscriptions_are_told() {
    let (_dir, tern) = tern_tests::Tern::dev(TOKEN, PASSWORD, &[]);
    assert_eq!(tern.metric("tern_imap_notify_events_total"), 0.0);
    let mut a = imap::session(&tern, USER, PASSWORD).await;
    let mut b = imap::session(&tern, USER, PASSWORD).await;
    let r = ok(&mut a, "CAPABILITY").await;
    assert!(r.all().contains("NOTIFY"), "{}", r.all());
    ok(&mut a, "CREATE Lists").await;
    ok(&mut a, "SELECT INBOX").await;
    // STATUS: the followed mailboxes other than the selected one are told at once.
    let r = ok(
        &mut a,
        "NOTIFY SET STATUS (selected (MessageNew MessageExpunge FlagChange)) \
         (personal (MessageNew MessageExpunge MailboxName SubscriptionChange))",
    )
    .await;
    // (The dev account has Sent, Drafts, Trash, Junk and Archive too.)
    let status = r.lines("STATUS");
    assert_eq!(status.len(), 6, "{}", r.all());
    assert!(
        status
            .iter()
            .any(|l| l.starts_with("STATUS Lists (MESSAGES 0 UIDNEXT 1 UIDVALIDITY ")),
        "{}",
        r.all()
    );
    assert!(
        !r.all().contains("STATUS INBOX"),
        "not the selected one: {}",
        r.all()
    );

    // Mail elsewhere: a STATUS, with no command from the client.
    append_to(&mut b, "Lists", "one").await;
    let lines = told(&mut a, "* STATUS Lists").await;
    let last = lines.last().expect("a line");
    assert!(
        last.starts_with("* STATUS Lists (MESSAGES 1 UIDNEXT 2 UIDVALIDITY "),
        "{lines:?}"
    );
    assert!(last.ends_with("UNSEEN 1)"), "{lines:?}");
    // Mail in the selected mailbox: EXISTS, still with no command.
    append_to(&mut b, "INBOX", "two").await;
    told(&mut a, "* 1 EXISTS").await;

    // Names: created, renamed (with its old name), deleted.
    ok(&mut b, "CREATE Projects").await;
    assert_eq!(
        told(&mut a, "* LIST").await.last().expect("a line"),
        "* LIST () \"/\" Projects"
    );
    ok(&mut b, "RENAME Projects Work").await;
    assert_eq!(
        told(&mut a, "* LIST").await.last().expect("a line"),
        "* LIST () \"/\" Work (\"OLDNAME\" (\"Projects\"))"
    );
    ok(&mut b, "DELETE Work").await;
    assert_eq!(
        told(&mut a, "* LIST").await.last().expect("a line"),
        "* LIST (\\NonExistent) \"/\" Work"
    );
    // Subscriptions.
    ok(&mut b, "SUBSCRIBE Lists").await;
    assert_eq!(
        told(&mut a, "* LIST").await.last().expect("a line"),
        "* LIST (\\Subscribed) \"/\" Lists"
    );
    ok(&mut b, "UNSUBSCRIBE Lists").await;
    assert_eq!(
        told(&mut a, "* LIST").await.last().expect("a line"),
        "* LIST () \"/\" Lists"
    );

    // In IDLE too.
    a.send(b"i IDLE\r\n").await.expect("idle");
    assert!(a.line().await.expect("continuation").starts_with('+'));
    append_to(&mut b, "Lists", "three").await;
    let lines = told(&mut a, "* STATUS Lists").await;
    assert!(
        lines
            .last()
            .expect("a line")
            .starts_with("* STATUS Lists (MESSAGES 2 UIDNEXT 3 "),
        "{lines:?}"
    );
    a.send(b"DONE\r\n").await.expect("done");
    assert!(a.until("i").await.expect("idle done").ok());
    assert!(tern.metric("tern_imap_notify_events_total") >= 7.0);
    assert_eq!(tern.metric("tern_imap_notify_sessions_total"), 1.0);
    ok(&mut a, "NOTIFY NONE").await;
    tern.stop().expect("clean stop");
}

/// A flag change elsewhere is told (as STATUS) only where the group asked for FlagChange; the
/// first group that names a mailbox decides for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flag_changes_elsewhere_are_told_where_asked() {
    let (_dir, tern) = tern_tests::Tern::dev(TOKEN, PASSWORD, &[]);
    let mut a = imap::session(&tern, USER, PASSWORD).await;
    let mut b = imap::session(&tern, USER, PASSWORD).await;
    ok(&mut a, "CREATE Lists").await;
    ok(
        &mut a,
        "NOTIFY SET (mailboxes Lists (MessageNew MessageExpunge FlagChange)) \
         (personal (MessageNew MessageExpunge))",
    )
    .await;
    append_to(&mut b, "Lists", "one").await;
    told(&mut a, "* STATUS Lists (MESSAGES 1 ").await;
    append_to(&mut b, "Drafts", "two").await;
    told(&mut a, "* STATUS Drafts (MESSAGES 1 ").await;
    // Drafts (PERSONAL, no FlagChange) is not told of its flag change; Lists is.
    ok(&mut b, "SELECT Drafts").await;
    ok(&mut b, "STORE 1 +FLAGS.SILENT (\\Seen)").await;
    ok(&mut b, "SELECT Lists").await;
    ok(&mut b, "STORE 1 +FLAGS.SILENT (\\Seen)").await;
    let lines = told(&mut a, "* STATUS Lists").await;
    assert!(
        lines.last().expect("a line").ends_with("UNSEEN 0)"),
        "{lines:?}"
    );
    // Anything written with it has arrived by the time NOOP is answered.
    let r = ok(&mut a, "NOOP").await;
    assert!(
        !lines.iter().any(|l| l.contains("Drafts")) && !r.all().contains("Drafts"),
        "{lines:?} {}",
        r.all()
    );
    tern.stop().expect("clean stop");
}

/// SELECTED-DELAYED: new mail comes with MessageNew's fetch attributes; an expunge waits for
/// the client's next command.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn selected_delayed_sends_fetch_attributes_and_holds_expunges() {
    let (_dir, tern) = tern_tests::Tern::dev(TOKEN, PASSWORD, &[]);
    let mut a = imap::session(&tern, USER, PASSWORD).await;
    let mut b = imap::session(&tern, USER, PASSWORD).await;
    append_to(&mut a, "INBOX", "one").await;
    ok(&mut a, "ENABLE IMAP4rev2").await;
    ok(&mut a, "SELECT INBOX").await;
    ok(
        &mut a,
        "NOTIFY SET (selected-delayed (MessageNew (UID BODY.PEEK[HEADER.FIELDS (Subject)]) \
         MessageExpunge FlagChange))",
    )
    .await;
    append_to(&mut b, "INBOX", "two").await;
    let lines = told(&mut a, "* 2 FETCH").await;
    assert!(lines.iter().any(|l| l == "* 2 EXISTS"), "{lines:?}");
    let fetch = lines.last().expect("a line");
    assert!(
        fetch.starts_with("* 2 FETCH (UID 2 BODY[HEADER.FIELDS (Subject)]")
            && fetch.contains("Subject: two"),
        "{fetch}"
    );
    // A flag change is told as it happens; the expunge after it waits for a command.
    ok(&mut b, "SELECT INBOX").await;
    ok(&mut b, "UID STORE 1 +FLAGS.SILENT (\\Deleted)").await;
    assert_eq!(
        told(&mut a, "* 1 FETCH").await.last().expect("a line"),
        "* 1 FETCH (UID 1 FLAGS (\\Deleted))"
    );
    ok(&mut b, "EXPUNGE").await;
    let r = ok(&mut a, "NOOP").await;
    assert!(r.untagged.iter().any(|l| l == "1 EXPUNGE"), "{}", r.all());
    tern.stop().expect("clean stop");
}

/// What RFC 5465 forbids is BAD with the reason; events not offered are `[BADEVENT]`, naming
/// those that are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_named() {
    let (_dir, tern) = tern_tests::Tern::dev(TOKEN, PASSWORD, &[]);
    let tls = tern_tests::smtp::tls_config(&tern.certificate()).expect("tls");
    let (mut anonymous, _) = Client::connect(tern.addr("imaps"), Some(&tls))
        .await
        .expect("connect");
    let r = anonymous.cmd("NOTIFY NONE").await.expect("notify");
    assert!(
        r.status.starts_with("BAD") && r.status.contains("log in"),
        "{}",
        r.all()
    );
    let mut a = imap::session(&tern, USER, PASSWORD).await;
    for (command, why) in [
        ("NOTIFY SET (personal (MessageNew))", "go together"),
        ("NOTIFY SET (personal (MessageExpunge))", "go together"),
        ("NOTIFY SET (inboxes (FlagChange))", "FlagChange needs"),
        (
            "NOTIFY SET (personal (MessageNew (UID) MessageExpunge))",
            "only for SELECTED",
        ),
        (
            "NOTIFY SET (selected (MessageNew (FROB) MessageExpunge))",
            "not FETCH items",
        ),
        (
            "NOTIFY SET (nowhere (MessageNew MessageExpunge))",
            "unknown mailbox filter",
        ),
        ("NOTIFY SET", "at least one event group"),
        ("NOTIFY FOO", "SET or NONE"),
    ] {
        let r = a.cmd(command).await.expect("notify");
        assert!(
            r.status.starts_with("BAD") && r.status.contains(why),
            "{command}: {}",
            r.all()
        );
    }
    let r = a
        .cmd("NOTIFY SET (personal (MessageNew MessageExpunge AnnotationChange))")
        .await
        .expect("notify");
    assert!(
        r.status.starts_with(
            "NO [BADEVENT (MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange)]"
        ),
        "{}",
        r.all()
    );
    tern.stop().expect("clean stop");
}
