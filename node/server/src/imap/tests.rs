//! IMAP sessions driven in memory over a duplex stream against a real embedded store: the
//! protocol without processes or sockets (the end-to-end tests in `tests/` keep the rest).

use std::{sync::Arc, time::Duration};

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, DuplexStream};

use super::{ImapContext, ListenerKind, session::Session};
use crate::{
    config::Config,
    net::{limits::ConnectionLimits, stream::MaybeTls},
    shutdown::Shutdown,
};

async fn context() -> (tempfile::TempDir, Arc<ImapContext>) {
    let (tmp, dir, _) = crate::testing::directory_with_ann().await;
    let db = dir.db().clone();
    let mut config = Config::load(None, true).expect("dev config").imap;
    config.plaintext_requires_tls = false;
    let headroom = Arc::new(crate::headroom::Headroom::new(
        db.clone(),
        tern_store::space::Floor {
            bytes: 0,
            percent: 0,
        },
    ));
    let ctx = ImapContext {
        limits: ConnectionLimits::new(10, 10),
        config,
        hostname: "imap.test".into(),
        hub: super::hub::Hub::new(db.clone()),
        envelopes: Arc::new(crate::envelopes::Envelopes::new(1 << 20)),
        dir,
        tls: None,
        shutdown: Shutdown::new(),
        sessions: crate::live::sessions::Sessions::new(0),
        headroom,
        budget: crate::net::budget::Budget::new(64 << 20),
        learner: None,
    };
    (tmp, Arc::new(ctx))
}

/// A client on an in-memory session.
struct Client {
    io: BufReader<DuplexStream>,
    next: u32,
}

impl Client {
    async fn connect(ctx: &Arc<ImapContext>) -> Client {
        let (client, server) = tokio::io::duplex(64 * 1024);
        let s = Session::new(
            ctx.clone(),
            ListenerKind::Imap,
            MaybeTls::Plain(server),
            "127.0.0.9:4000".parse().expect("addr"),
        );
        tokio::spawn(s.run());
        let mut c = Client {
            io: BufReader::new(client),
            next: 1,
        };
        let greeting = c.line().await;
        assert!(greeting.starts_with("* OK [CAPABILITY "), "{greeting}");
        c
    }

    /// One line, a literal that ends it read in with it.
    async fn line(&mut self) -> String {
        let mut l = String::new();
        tokio::time::timeout(Duration::from_secs(10), self.io.read_line(&mut l))
            .await
            .expect("in time")
            .expect("read");
        if let Some(n) = l
            .trim_end()
            .strip_suffix('}')
            .and_then(|h| h.rsplit_once('{'))
            .and_then(|(_, n)| n.parse::<usize>().ok())
        {
            let mut literal = vec![0; n];
            self.io.read_exact(&mut literal).await.expect("literal");
            l.push_str(&String::from_utf8_lossy(&literal));
            l.push_str(&Box::pin(self.line()).await);
        }
        l
    }

    /// Sends `command`; the untagged lines and the tagged status.
    async fn cmd(&mut self, command: &str) -> (Vec<String>, String) {
        let tag = format!("t{}", self.next);
        self.next += 1;
        self.send(&format!("{tag} {command}\r\n")).await;
        let mut untagged = Vec::new();
        loop {
            let l = self.line().await;
            match l.strip_prefix(&format!("{tag} ")) {
                Some(status) => return (untagged, status.trim_end().to_string()),
                None => untagged.push(l.trim_end().to_string()),
            }
        }
    }

    async fn ok(&mut self, command: &str) -> Vec<String> {
        let (untagged, status) = self.cmd(command).await;
        assert!(status.starts_with("OK"), "{command}: {status} {untagged:?}");
        untagged
    }

    async fn send(&mut self, bytes: &str) {
        self.io
            .get_mut()
            .write_all(bytes.as_bytes())
            .await
            .expect("write");
    }
}

async fn logged_in(ctx: &Arc<ImapContext>) -> Client {
    let mut c = Client::connect(ctx).await;
    c.ok("LOGIN ann@example.test ann-password").await;
    c
}

#[tokio::test]
async fn states_and_their_refusals() {
    let (_tmp, ctx) = context().await;
    let mut c = Client::connect(&ctx).await;
    let (_, status) = c.cmd("SELECT INBOX").await;
    assert!(
        status.starts_with("BAD") && status.contains("log in first"),
        "{status}"
    );
    let (_, status) = c.cmd("LOGIN ann@example.test wrong").await;
    assert!(status.starts_with("NO [AUTHENTICATIONFAILED]"), "{status}");
    c.ok("LOGIN ann@example.test ann-password").await;
    let (_, status) = c.cmd("FETCH 1 FLAGS").await;
    assert!(
        status.starts_with("BAD") && status.contains("select a mailbox first"),
        "{status}"
    );
    let (_, status) = c.cmd("FROB").await;
    assert!(status.starts_with("BAD [CLIENTBUG]"), "{status}");
    let untagged = c.ok("LOGOUT").await;
    assert!(untagged[0].starts_with("* BYE"), "{untagged:?}");
}

#[tokio::test]
async fn append_fetch_store_and_another_session_hears_of_it() {
    let (_tmp, ctx) = context().await;
    let mut a = logged_in(&ctx).await;
    let mut b = logged_in(&ctx).await;
    let selected = b.ok("SELECT INBOX").await;
    assert!(selected.contains(&"* 0 EXISTS".to_string()), "{selected:?}");
    let message = "Subject: hello\r\nFrom: bob@remote.test\r\n\r\nbody\r\n";
    a.send(&format!(
        "t0 APPEND INBOX (\\Flagged) {{{}}}\r\n",
        message.len()
    ))
    .await;
    assert!(a.line().await.starts_with('+'));
    a.send(&format!("{message}\r\n")).await;
    let done = a.line().await;
    assert!(done.starts_with("t0 OK [APPENDUID "), "{done}");
    // b hears of the new message at its next command, and sees it as recent.
    let noop = b.ok("NOOP").await;
    assert!(noop.contains(&"* 1 EXISTS".to_string()), "{noop:?}");
    let fetched = b
        .ok("FETCH 1 (FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        .await;
    assert!(
        fetched[0].starts_with("* 1 FETCH (FLAGS (")
            && fetched[0].contains("\\Flagged")
            && fetched[0].contains("Subject: hello"),
        "{fetched:?}"
    );
    // a selects and stores a flag; b's next command carries the change.
    a.ok("SELECT INBOX").await;
    a.ok("STORE 1 +FLAGS.SILENT (\\Seen)").await;
    let noop = b.ok("NOOP").await;
    assert!(
        noop.iter()
            .any(|l| l.starts_with("* 1 FETCH") && l.contains("\\Seen")),
        "{noop:?}"
    );
    // IDLE: b waits; a expunges; b hears it without asking.
    b.send("t9 IDLE\r\n").await;
    assert!(b.line().await.starts_with('+'));
    a.ok("STORE 1 +FLAGS.SILENT (\\Deleted)").await;
    a.ok("EXPUNGE").await;
    loop {
        let l = b.line().await;
        if l.trim_end() == "* 1 EXPUNGE" {
            break;
        }
        assert!(l.starts_with("* 1 FETCH"), "unexpected while idling: {l}");
    }
    b.send("DONE\r\n").await;
    assert!(b.line().await.starts_with("t9 OK"));
}
