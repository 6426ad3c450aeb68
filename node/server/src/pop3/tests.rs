//! POP3 sessions driven in memory over a duplex stream against a real embedded store.

use std::{sync::Arc, time::Duration};

use tern_store::{
    blob,
    model::{
        Flags, Summary,
        message::{self, NewMessage},
    },
};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream};

use super::{ListenerKind, Pop3Context, session::Session};
use crate::{
    config::Config,
    net::{limits::ConnectionLimits, stream::MaybeTls},
    shutdown::Shutdown,
};

async fn context(bodies: &[&str]) -> (tempfile::TempDir, Arc<Pop3Context>) {
    let (tmp, dir, ann) = crate::testing::directory_with_ann().await;
    let db = dir.db().clone();
    let inbox = dir
        .mailbox(ann.id, "INBOX")
        .await
        .expect("lookup")
        .expect("inbox")
        .id;
    for body in bodies {
        let staged = blob::stage(&db, body.as_bytes()).await.expect("stage");
        let (staged, summary) = (&staged, &Summary::parse(body.as_bytes()));
        db.run(|tx| async move {
            let new = NewMessage {
                body: staged,
                summary: Some(summary),
                flags: Flags::default(),
                keywords: vec![],
                internal_date: 0,
            };
            message::append(&tx, ann.id, inbox, &new).await.map(|_| ())
        })
        .await
        .expect("append");
    }
    let mut config = Config::load(None, true).expect("dev config").pop3;
    config.plaintext_requires_tls = false;
    config.auth_failure_delay = Duration::ZERO;
    let ctx = Pop3Context {
        limits: ConnectionLimits::new(10, 10),
        config,
        hostname: "pop.test".into(),
        dir,
        tls: None,
        shutdown: Shutdown::new(),
        sessions: crate::live::sessions::Sessions::new(0),
    };
    (tmp, Arc::new(ctx))
}

fn connect(ctx: &Arc<Pop3Context>) -> BufReader<DuplexStream> {
    let (client, server) = tokio::io::duplex(64 * 1024);
    let s = Session::new(
        ctx.clone(),
        ListenerKind::Pop3,
        MaybeTls::Plain(server),
        "127.0.0.9:4000".parse().expect("addr"),
    );
    tokio::spawn(s.run());
    BufReader::new(client)
}

async fn line(c: &mut BufReader<DuplexStream>) -> String {
    let mut l = String::new();
    tokio::time::timeout(Duration::from_secs(10), c.read_line(&mut l))
        .await
        .expect("in time")
        .expect("read");
    l
}

async fn multiline(c: &mut BufReader<DuplexStream>) -> Vec<String> {
    let mut out = Vec::new();
    loop {
        let l = line(c).await;
        if l == ".\r\n" {
            return out;
        }
        out.push(l);
    }
}

#[tokio::test]
async fn handle_dele_then_quit_deletes_and_a_drop_does_not() {
    let (_tmp, ctx) = context(&[
        "Subject: one\r\n\r\nfirst\r\n",
        "Subject: two\r\n\r\n.dotted\r\n",
    ])
    .await;
    let mut c = connect(&ctx);
    assert!(line(&mut c).await.starts_with("+OK pop.test"));
    c.get_mut()
        .write_all(b"USER ann\r\nPASS ann-password\r\nSTAT\r\nUIDL\r\n")
        .await
        .expect("write");
    assert!(line(&mut c).await.starts_with("+OK"));
    assert!(line(&mut c).await.starts_with("+OK Logged in, 2 messages"));
    let stat = line(&mut c).await;
    assert!(stat.starts_with("+OK 2 "), "{stat}");
    assert!(line(&mut c).await.starts_with("+OK"));
    let uidl = multiline(&mut c).await;
    assert_eq!(uidl.len(), 2);
    assert!(
        uidl[0].starts_with("1 1.1")
            || uidl[0]
                .split(' ')
                .nth(1)
                .is_some_and(|v| v.ends_with(".1\r\n")),
        "{uidl:?}"
    );
    c.get_mut().write_all(b"RETR 2\r\n").await.expect("write");
    assert!(line(&mut c).await.starts_with("+OK"));
    assert_eq!(
        multiline(&mut c).await,
        vec!["Subject: two\r\n", "\r\n", "..dotted\r\n"]
    );
    // A second session cannot lock the maildrop.
    let mut other = connect(&ctx);
    line(&mut other).await;
    other
        .get_mut()
        .write_all(b"USER ann\r\nPASS ann-password\r\n")
        .await
        .expect("write");
    line(&mut other).await;
    assert_eq!(
        line(&mut other).await,
        "-ERR [IN-USE] mailbox is locked by another POP3 session, try again when it ends\r\n"
    );
    // DELE, then drop the connection: nothing is deleted.
    c.get_mut().write_all(b"DELE 1\r\n").await.expect("write");
    assert!(line(&mut c).await.starts_with("+OK message 1 deleted"));
    drop(c);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut again = connect(&ctx);
    line(&mut again).await;
    again
        .get_mut()
        .write_all(b"USER ann\r\nPASS ann-password\r\nDELE 1\r\nDELE 1\r\nQUIT\r\n")
        .await
        .expect("write");
    line(&mut again).await;
    assert!(
        line(&mut again)
            .await
            .starts_with("+OK Logged in, 2 messages"),
        "the drop deleted nothing and freed the lock"
    );
    assert!(line(&mut again).await.starts_with("+OK"));
    assert!(
        line(&mut again)
            .await
            .starts_with("-ERR message 1 is already deleted")
    );
    assert!(
        line(&mut again)
            .await
            .starts_with("+OK 1 messages deleted, 1 left")
    );
    let ann = ctx
        .dir
        .require_account("ann@example.test")
        .await
        .expect("ann");
    let inbox = ctx
        .dir
        .mailbox(ann.id, "INBOX")
        .await
        .expect("lookup")
        .expect("inbox");
    assert_eq!(
        ctx.dir
            .mailbox_status(&inbox)
            .await
            .expect("status")
            .messages,
        1
    );
}

#[tokio::test]
async fn wrong_state_bad_arguments_and_failed_logins() {
    let (_tmp, ctx) = context(&[]).await;
    let mut c = connect(&ctx);
    line(&mut c).await;
    c.get_mut().write_all(b"STAT\r\nPASS x\r\nRETR one\r\nFOO\r\nUSER ann\r\nPASS nope\r\nUSER ann\r\nPASS nope\r\nUSER ann\r\nPASS nope\r\n").await.expect("write");
    assert_eq!(
        line(&mut c).await,
        "-ERR STAT is not allowed before login\r\n"
    );
    assert_eq!(line(&mut c).await, "-ERR Send USER first\r\n");
    assert!(line(&mut c).await.starts_with("-ERR Invalid arguments"));
    assert_eq!(line(&mut c).await, "-ERR Unknown command FOO\r\n");
    line(&mut c).await;
    assert_eq!(
        line(&mut c).await,
        "-ERR [AUTH] Authentication failed; log in with the full address\r\n"
    );
    line(&mut c).await;
    assert_eq!(
        line(&mut c).await,
        "-ERR [AUTH] Authentication failed; log in with the full address\r\n"
    );
    line(&mut c).await;
    assert_eq!(
        line(&mut c).await,
        "-ERR [AUTH] Too many authentication failures, closing connection\r\n"
    );
    let mut rest = String::new();
    assert_eq!(c.read_line(&mut rest).await.expect("eof"), 0, "closed");
}
