//! Fixtures for the outbound queue's tests: the remote world (a loopback DNS zone and scripted
//! MX peers on 127.0.0.2 and 127.0.0.3 sharing one port), submitting as the dev account, and
//! reading the dev account's INBOX over POP3 (where DSNs and archive copies land).

use std::{net::SocketAddr, path::Path, time::Duration};

use crate::{
    Tern,
    dns::{self, Dns, Rr},
    peer::Peer,
    pop3, smtp,
};

/// The dev account's password in these tests.
pub const PASSWORD: &str = "queue-password";

/// DNS and MX peers of the remote domains.
pub struct Remote {
    /// The zone `test.`.
    pub dns: Dns,
    /// `mx1.remote.test` (preference 10) on 127.0.0.2.
    pub mx1: Peer,
    /// `mx2.remote.test` (preference 20) on 127.0.0.3, same port.
    pub mx2: Peer,
}

impl Remote {
    /// Starts the peers and the zone: `remote.test` (two MX), `fallback.test` (a dead first MX),
    /// `implicit.test` (A only), `nullmx.test` (RFC 7505), `down.test` (only a dead MX);
    /// anything else under `test.` is NXDOMAIN.
    pub async fn start() -> Remote {
        // The port is free on 127.0.0.2; another test may hold it on 127.0.0.3: try again.
        let mut attempt = 0;
        let (mx1, mx2) = loop {
            let mx1 = Peer::start("127.0.0.2:0").await.expect("peer on 127.0.0.2");
            let port = mx1.addr.port();
            match Peer::start(&format!("127.0.0.3:{port}")).await {
                Ok(mx2) => break (mx1, mx2),
                Err(e) if attempt < 20 => {
                    attempt += 1;
                    eprintln!("port {port} is taken on 127.0.0.3 ({e}); picking another");
                }
                Err(e) => panic!("no port free on both 127.0.0.2 and 127.0.0.3: {e}"),
            }
        };
        let dns = dns::serve(
            "test.",
            &[
                Rr::Mx("remote.test.", 20, "mx2.remote.test."),
                Rr::Mx("remote.test.", 10, "mx1.remote.test."),
                Rr::A("mx1.remote.test.", [127, 0, 0, 2]),
                Rr::A("mx2.remote.test.", [127, 0, 0, 3]),
                Rr::Mx("fallback.test.", 10, "dead.fallback.test."),
                Rr::Mx("fallback.test.", 20, "mx2.remote.test."),
                Rr::A("dead.fallback.test.", [127, 0, 0, 4]),
                Rr::A("implicit.test.", [127, 0, 0, 3]),
                Rr::Mx("nullmx.test.", 0, "."),
                Rr::Mx("down.test.", 10, "dead.fallback.test."),
            ],
        )
        .await
        .expect("dns server");
        Remote { dns, mx1, mx2 }
    }

    /// Queue settings for a node that delivers into this world quickly: its DNS, the peers'
    /// port, fast scans and 1-second retries.
    pub fn queue_env(&self) -> Vec<(String, String)> {
        [
            ("TERN_QUEUE__DNS_SERVER", self.dns.addr.to_string()),
            ("TERN_QUEUE__REMOTE_PORT", self.mx1.addr.port().to_string()),
            ("TERN_QUEUE__SCAN_INTERVAL_MS", "100".into()),
            ("TERN_QUEUE__RETRY_INTERVALS_SECONDS", "1".into()),
            ("TERN_QUEUE__CONNECT_TIMEOUT_SECONDS", "2".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }
}

/// An authenticated submission session (587, STARTTLS, AUTH PLAIN as the dev account with
/// `password`) on the node listening at `addr` with the certificate at `cert`.
pub async fn submission(addr: SocketAddr, cert: &Path, password: &str) -> smtp::Client {
    let tls = smtp::tls_config(cert).expect("tls");
    let (mut c, _) = smtp::Client::connect(addr, Some(tls))
        .await
        .expect("connect");
    c.expect("EHLO client.test", 250).await.expect("ehlo");
    let mut c = c.starttls().await.expect("tls");
    c.expect("EHLO client.test", 250).await.expect("ehlo");
    assert_eq!(
        c.auth_plain("demo@example.test", password)
            .await
            .expect("auth")
            .code,
        235
    );
    c
}

/// One mail transaction on an open session: `mail_from` is the whole MAIL FROM argument
/// (`<a@b>` plus any parameters); asserts every step is accepted.
pub async fn send(
    c: &mut smtp::Client,
    mail_from: &str,
    rcpts: &[&str],
    subject: &str,
    body: &str,
) {
    c.expect(&format!("MAIL FROM:{mail_from}"), 250)
        .await
        .expect("mail");
    for r in rcpts {
        c.expect(&format!("RCPT TO:<{r}>"), 250)
            .await
            .expect("rcpt");
    }
    let from = mail_from
        .trim_start_matches('<')
        .split('>')
        .next()
        .unwrap_or("");
    let reply = c
        .data(&smtp::message(from, &rcpts.join(", "), subject, body))
        .await
        .expect("data");
    assert_eq!(reply.code, 250, "{reply:?}");
}

/// Submits one message from `from` (authenticated as demo, or the null sender) to `rcpts`.
pub async fn submit(tern: &Tern, from: &str, rcpts: &[&str], subject: &str) {
    let mut c = submission(tern.addr("submission"), &tern.certificate(), PASSWORD).await;
    send(
        &mut c,
        &format!("<{from}>"),
        rcpts,
        subject,
        "queued body\r\n",
    )
    .await;
    let _ = c.cmd("QUIT").await;
}

/// Every message in demo's INBOX, read over POP3 (995).
pub async fn inbox(tern: &Tern) -> Vec<String> {
    let tls = smtp::tls_config(&tern.certificate()).expect("tls");
    let (mut c, _) = pop3::Client::connect(tern.addr("pop3s"), Some(&tls))
        .await
        .expect("pop3");
    assert!(
        c.login("demo@example.test", PASSWORD)
            .await
            .expect("login")
            .starts_with("+OK")
    );
    let (_, list) = c.multi("LIST").await.expect("list");
    let mut out = Vec::new();
    for line in list {
        let n = line.split_whitespace().next().unwrap_or("").to_string();
        let (_, body) = c.multi(&format!("RETR {n}")).await.expect("retr");
        out.push(body.join("\r\n"));
    }
    let _ = c.cmd("QUIT").await;
    out
}

/// Waits for a message in demo's INBOX containing every one of `needles`.
/// Waits until the queue holds nothing: every entry delivered, bounced or removed, and with
/// it every DSN it could cause filed (in the same transaction).
pub async fn wait_queue_empty(tern: &Tern, token: &str, secs: u64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let queue = tern.api(token, "/queue").expect("queue");
        if queue["entries"].as_array().is_some_and(Vec::is_empty) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the queue did not empty: {queue}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits (up to `secs`) for a message in the INBOX containing every needle.
pub async fn wait_inbox(tern: &Tern, needles: &[&str], secs: u64) -> Option<String> {
    for _ in 0..secs * 4 {
        if let Some(m) = inbox(tern)
            .await
            .into_iter()
            .find(|m| needles.iter().all(|n| m.contains(n)))
        {
            return Some(m);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    None
}

/// A node with the remote world of [`Remote`]: hosts are suspended after 2 failures for an hour.
pub struct World {
    /// The node's scratch directory.
    pub _dir: tempfile::TempDir,
    /// The test DNS.
    pub dns: dns::Dns,
    /// The node.
    pub tern: Tern,
    /// The preferred MX of remote.test.
    pub mx1: Peer,
    /// The second MX.
    pub mx2: Peer,
}

/// Starts a [`World`] whose admin token is `token`.
pub async fn world(token: &str) -> World {
    world_with(token, &[]).await
}

/// Starts a [`World`] whose admin token is `token`, with `extra` environment.
pub async fn world_with(token: &str, extra: &[(&str, &str)]) -> World {
    let remote = Remote::start().await;
    let mut env = remote.queue_env();
    env.push(("TERN_QUEUE__SUSPEND_AFTER_FAILURES".into(), "2".into()));
    env.push(("TERN_QUEUE__SUSPEND_SECONDS".into(), "3600".into()));
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let (dir, tern) = Tern::dev(token, PASSWORD, &env);
    World {
        _dir: dir,
        dns: remote.dns,
        tern,
        mx1: remote.mx1,
        mx2: remote.mx2,
    }
}
