//! Sessions driven in memory over a duplex stream: the same code as over TCP and TLS, without
//! sockets, against a real embedded store.

use std::{sync::Arc, time::Duration};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream};

use super::{ListenerKind, SmtpContext, session::Session};
use crate::policy::{Check, CheckFuture, Facts, Marks, Pipeline, Stage, Verdict};
use crate::{
    config::{Config, SmtpConfig},
    net::{limits::ConnectionLimits, stream::MaybeTls},
    shutdown::Shutdown,
};

async fn context() -> (tempfile::TempDir, Arc<SmtpContext>) {
    context_with(crate::policy::Policy::default()).await
}

async fn context_with(policy: crate::policy::Policy) -> (tempfile::TempDir, Arc<SmtpContext>) {
    let (tmp, dir, _) = crate::testing::directory_with_ann().await;
    let config: SmtpConfig = Config::load(None, true).expect("dev config").smtp;
    let headroom = Arc::new(crate::headroom::Headroom::new(
        dir.db().clone(),
        tern_store::space::Floor {
            bytes: 0,
            percent: 0,
        },
    ));
    let filer = crate::filer::Filer::start(dir.db().clone(), 2);
    let ctx = SmtpContext {
        limits: ConnectionLimits::new(10, 10),
        config,
        hostname: "mx.test".into(),
        dir,
        tls: None,
        shutdown: Shutdown::new(),
        sessions: crate::live::sessions::Sessions::new(0),
        filer,
        headroom,
        budget: crate::net::budget::Budget::new(64 << 20),
        policy,
    };
    (tmp, Arc::new(ctx))
}

fn session(ctx: &Arc<SmtpContext>, kind: ListenerKind) -> BufReader<DuplexStream> {
    let (client, server) = tokio::io::duplex(64 * 1024);
    let s = Session::new(
        ctx.clone(),
        kind,
        MaybeTls::Plain(server),
        "127.0.0.9:4000".parse().expect("addr"),
    );
    tokio::spawn(s.run());
    BufReader::new(client)
}

async fn reply(c: &mut BufReader<DuplexStream>) -> String {
    let mut all = String::new();
    loop {
        let mut line = String::new();
        tokio::time::timeout(Duration::from_secs(10), c.read_line(&mut line))
            .await
            .expect("reply in time")
            .expect("read");
        all.push_str(&line);
        if line.len() < 4 || line.as_bytes()[3] == b' ' {
            return all;
        }
    }
}

#[tokio::test]
async fn handle_data_delivers_after_commit() {
    let (_tmp, ctx) = context().await;
    let mut c = session(&ctx, ListenerKind::Mx);
    assert!(reply(&mut c).await.starts_with("220 mx.test"));
    c.get_mut()
        .write_all(
            b"EHLO c.test\r\nMAIL FROM:<x@remote.test>\r\nRCPT TO:<ann@example.test>\r\nDATA\r\n",
        )
        .await
        .expect("write");
    let ehlo = reply(&mut c).await;
    assert!(
        ehlo.contains("PIPELINING") && ehlo.contains("CHUNKING") && !ehlo.contains("STARTTLS"),
        "{ehlo}"
    );
    assert!(reply(&mut c).await.starts_with("250 2.1.0"));
    assert!(reply(&mut c).await.starts_with("250 2.1.5"));
    assert!(reply(&mut c).await.starts_with("354"));
    c.get_mut()
        .write_all(b"Subject: in memory\r\n\r\nhello\r\n.\r\nQUIT\r\n")
        .await
        .expect("write");
    assert!(
        reply(&mut c)
            .await
            .starts_with("250 2.0.0 Message accepted")
    );
    assert!(reply(&mut c).await.starts_with("221"));
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
async fn handle_mail_requires_auth_on_submission_and_starttls_needs_tls() {
    let (_tmp, ctx) = context().await;
    let mut c = session(&ctx, ListenerKind::Submission);
    reply(&mut c).await;
    c.get_mut().write_all(b"EHLO c.test\r\nMAIL FROM:<ann@example.test>\r\nSTARTTLS\r\nAUTH PLAIN AGFubgBhbm4tcGFzc3dvcmQ=\r\n").await.expect("write");
    reply(&mut c).await;
    assert!(reply(&mut c).await.starts_with("530 5.7.0"));
    assert!(
        reply(&mut c).await.starts_with("454 4.7.0"),
        "no TLS configured"
    );
    assert!(reply(&mut c).await.starts_with("538 5.7.11"));
}

#[tokio::test]
async fn shutdown_ends_sessions_with_421() {
    let (_tmp, ctx) = context().await;
    let mut c = session(&ctx, ListenerKind::Mx);
    reply(&mut c).await;
    ctx.shutdown.trigger();
    assert!(reply(&mut c).await.starts_with("421 4.3.2"));
}

/// Refuses at one stage with `554 5.7.1 refused at <stage>`.
struct RefuseAt(Stage);

impl Check for RefuseAt {
    fn name(&self) -> &'static str {
        "refuse_at"
    }
    fn stages(&self) -> &'static [Stage] {
        match self.0 {
            Stage::Connect => &[Stage::Connect],
            Stage::Ehlo => &[Stage::Ehlo],
            Stage::Mail => &[Stage::Mail],
            Stage::Rcpt => &[Stage::Rcpt],
            Stage::Data => &[Stage::Data],
        }
    }
    fn check<'a>(&'a self, stage: Stage, facts: &'a Facts<'a>, _: &'a Marks) -> CheckFuture<'a> {
        // What each stage is told: the EHLO name from then on, the sender from MAIL, the
        // recipient at RCPT and the message at DATA.
        let told = match stage {
            Stage::Connect => facts.helo.is_none(),
            Stage::Ehlo => facts.helo == Some("c.test"),
            Stage::Mail => facts.sender == Some("x@remote.test"),
            Stage::Rcpt => facts.recipient == Some("ann@example.test"),
            Stage::Data => facts.message.is_some_and(|m| m.ends_with(b"hello\r\n")),
        };
        let text = format!("refused at {} (facts {told})", stage.label());
        Box::pin(async move { Verdict::Reject(tern_proto::smtp::reply::policy_refused(text)) })
    }
}

#[tokio::test]
async fn each_stage_asks_the_policy_checks_and_a_refusal_is_answered() {
    let script =
        b"EHLO c.test\r\nMAIL FROM:<x@remote.test>\r\nRCPT TO:<ann@example.test>\r\nDATA\r\n";
    for (stage, at) in [
        (Stage::Ehlo, 0),
        (Stage::Mail, 1),
        (Stage::Rcpt, 2),
        (Stage::Data, 4),
    ] {
        let policy = crate::policy::Policy {
            mx: Pipeline::new(vec![Arc::new(RefuseAt(stage))]),
            ..Default::default()
        };
        let (_tmp, ctx) = context_with(policy).await;
        let mut c = session(&ctx, ListenerKind::Mx);
        assert!(reply(&mut c).await.starts_with("220 mx.test"));
        c.get_mut().write_all(script).await.expect("write");
        let mut replies = Vec::new();
        for _ in 0..4 {
            let r = reply(&mut c).await;
            let refused = r.starts_with("554");
            replies.push(r);
            if refused || replies.len() == 4 {
                break;
            }
        }
        if stage == Stage::Data {
            c.get_mut()
                .write_all(b"Subject: x\r\n\r\nhello\r\n.\r\n")
                .await
                .expect("write");
            replies.push(reply(&mut c).await);
        }
        let want = format!("554 5.7.1 refused at {} (facts true)", stage.label());
        assert_eq!(replies.len(), at + 1, "{stage:?}: {replies:?}");
        assert_eq!(replies[at].trim_end(), want, "{stage:?}: {replies:?}");
    }
}

#[tokio::test]
async fn a_refusal_at_connect_takes_only_quit() {
    let policy = crate::policy::Policy {
        mx: Pipeline::new(vec![Arc::new(RefuseAt(Stage::Connect))]),
        ..Default::default()
    };
    let (_tmp, ctx) = context_with(policy).await;
    let mut c = session(&ctx, ListenerKind::Mx);
    assert_eq!(
        reply(&mut c).await.trim_end(),
        "554 5.7.1 refused at connect (facts true)"
    );
    c.get_mut()
        .write_all(b"EHLO c.test\r\nQUIT\r\n")
        .await
        .expect("write");
    assert!(
        reply(&mut c)
            .await
            .starts_with("503 5.7.1 this session was refused at connect")
    );
    assert!(reply(&mut c).await.starts_with("221"));
}
