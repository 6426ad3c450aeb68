//! Clients that would hold a session forever: a byte every few hundred milliseconds inside
//! DATA, an IMAP literal or a command line (each byte used to restart the timer), valid IMAP
//! commands sent forever without logging in, and a client that never reads what the server
//! writes. Each is cut off with its protocol's timeout reply once its patience is spent, and a
//! node with such sessions open still stops within its shutdown grace.

use std::time::{Duration, Instant};

use tern_tests::{Tern, imap, smtp};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

const TOKEN: &str = "slow-token";
const PASSWORD: &str = "demo-password";

/// Sends one byte of `payload` at a time every 300 ms (cycling) until the server answers or
/// closes; returns what it answered. Gives up after a minute.
async fn trickle(stream: &mut TcpStream, payload: &[u8]) -> String {
    let started = Instant::now();
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    for byte in payload.iter().cycle() {
        if started.elapsed() > Duration::from_secs(60) {
            break;
        }
        if stream.write_all(&[*byte]).await.is_err() {
            break;
        }
        match tokio::time::timeout(Duration::from_millis(300), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => {
                answer.extend_from_slice(&buf[..n]);
                if answer.ends_with(b"\n") {
                    break;
                }
            }
            Err(_) => {}
        }
    }
    String::from_utf8_lossy(&answer).trim_end().to_string()
}

/// Reads lines until one starts with `prefix`.
async fn read_until(stream: &mut TcpStream, prefix: &str) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&got).to_string();
        if let Some(line) = text.lines().find(|l| l.starts_with(prefix)) {
            return line.to_string();
        }
        match tokio::time::timeout(Duration::from_secs(30), stream.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => got.extend_from_slice(&buf[..n]),
            _ => panic!("no line starting {prefix:?}; got {text:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn smtp_trickles_are_cut_off() {
    let (_dir, tern) = Tern::dev(
        TOKEN,
        PASSWORD,
        &[
            ("TERN_SMTP__DATA_TIMEOUT_SECONDS", "2"),
            ("TERN_SMTP__IDLE_TIMEOUT_SECONDS", "2"),
        ],
    );
    // Inside DATA.
    let mut s = TcpStream::connect(tern.addr("smtp"))
        .await
        .expect("connect");
    read_until(&mut s, "220 ").await;
    s.write_all(
        b"EHLO slow.test\r\nMAIL FROM:<a@remote.test>\r\nRCPT TO:<demo@example.test>\r\nDATA\r\n",
    )
    .await
    .expect("send");
    read_until(&mut s, "354").await;
    let answer = trickle(&mut s, b"Subject: slow\r\n\r\nbody ").await;
    assert!(answer.starts_with("421 4.4.2"), "{answer:?}");

    // A command line.
    let mut s = TcpStream::connect(tern.addr("smtp"))
        .await
        .expect("connect");
    read_until(&mut s, "220 ").await;
    let answer = trickle(&mut s, b"NOOPNOOPNOOP").await;
    assert!(answer.starts_with("421 4.4.2"), "{answer:?}");
    tern.stop().expect("stop");
}

#[tokio::test(flavor = "multi_thread")]
async fn imap_and_pop3_trickles_are_cut_off() {
    let (_dir, tern) = Tern::dev(
        TOKEN,
        PASSWORD,
        &[
            ("TERN_IMAP__LOGIN_TIMEOUT_SECONDS", "2"),
            ("TERN_IMAP__COMMAND_TIMEOUT_SECONDS", "2"),
            ("TERN_POP3__IDLE_TIMEOUT_SECONDS", "2"),
        ],
    );
    // Valid commands forever, never logging in.
    let mut s = TcpStream::connect(tern.addr("imap"))
        .await
        .expect("connect");
    read_until(&mut s, "* OK").await;
    let started = Instant::now();
    let mut bye = None;
    while started.elapsed() < Duration::from_secs(60) && bye.is_none() {
        if s.write_all(b"n NOOP\r\n").await.is_err() {
            break;
        }
        let mut buf = [0u8; 1024];
        if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_millis(500), s.read(&mut buf)).await
        {
            let text = String::from_utf8_lossy(&buf[..n]).to_string();
            bye = text
                .lines()
                .find(|l| l.starts_with("* BYE"))
                .map(str::to_string);
        }
    }
    assert!(
        bye.as_deref().is_some_and(|b| b.contains("autologout")),
        "{bye:?}"
    );

    // A literal trickled after login.
    let tls = smtp::tls_config(&tern.certificate()).expect("tls");
    let c = imap::session(&tern, "demo@example.test", PASSWORD).await;
    drop(c);
    let (mut c, _) = imap::Client::connect(tern.addr("imaps"), Some(&tls))
        .await
        .expect("connect");
    assert!(
        c.login("demo@example.test", PASSWORD)
            .await
            .expect("login")
            .ok()
    );
    c.send(b"a APPEND INBOX {1000}\r\n").await.expect("append");
    assert!(c.line().await.expect("continuation").starts_with('+'));
    let started = Instant::now();
    let mut bye = None;
    while started.elapsed() < Duration::from_secs(60) && bye.is_none() {
        if c.send(b"x").await.is_err() {
            break;
        }
        bye = c
            .line_within(Duration::from_millis(300))
            .await
            .ok()
            .flatten();
    }
    assert!(
        bye.as_deref().is_some_and(|b| b.starts_with("* BYE")),
        "{bye:?}"
    );

    // A POP3 command line.
    let mut s = TcpStream::connect(tern.addr("pop3"))
        .await
        .expect("connect");
    read_until(&mut s, "+OK").await;
    let answer = trickle(&mut s, b"USERUSERUSER").await;
    assert!(answer.starts_with("-ERR"), "{answer:?}");
    tern.stop().expect("stop");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_never_reads_is_dropped_and_shutdown_keeps_its_grace() {
    let (_dir, tern) = Tern::dev(
        TOKEN,
        PASSWORD,
        &[
            ("TERN_SERVER__WRITE_TIMEOUT_SECONDS", "2"),
            ("TERN_SERVER__SHUTDOWN_GRACE_SECONDS", "2"),
        ],
    );
    let mut c = imap::session(&tern, "demo@example.test", PASSWORD).await;
    let big = format!("Subject: big\r\n\r\n{}\r\n", "z".repeat(2 << 20));
    assert!(
        c.cmd_literal("APPEND INBOX", big.as_bytes())
            .await
            .expect("append")
            .ok()
    );
    assert!(c.cmd("SELECT INBOX").await.expect("select").ok());
    // Ask for the message again and again, reading nothing: the server's writes stall.
    for i in 0..8 {
        c.send(format!("f{i} FETCH 1 BODY.PEEK[]\r\n").as_bytes())
            .await
            .expect("send");
    }
    let active = || {
        let page = tern.get("/metrics").expect("metrics").1;
        page.lines()
            .filter(|l| l.starts_with("tern_imap_sessions_active{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while active() > 0.0 {
        assert!(
            Instant::now() < deadline,
            "the stalled session is still open"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Shutdown with a session trickling DATA and one not reading: the node exits anyway.
    let mut s = TcpStream::connect(tern.addr("smtp"))
        .await
        .expect("connect");
    read_until(&mut s, "220 ").await;
    s.write_all(
        b"EHLO slow.test\r\nMAIL FROM:<a@remote.test>\r\nRCPT TO:<demo@example.test>\r\nDATA\r\n",
    )
    .await
    .expect("send");
    read_until(&mut s, "354").await;
    s.write_all(b"Subject: never ends\r\n").await.expect("send");
    let mut stuck = imap::session(&tern, "demo@example.test", PASSWORD).await;
    assert!(stuck.cmd("SELECT INBOX").await.expect("select").ok());
    for i in 0..8 {
        stuck
            .send(format!("f{i} FETCH 1 BODY.PEEK[]\r\n").as_bytes())
            .await
            .expect("send");
    }
    tern.stop()
        .expect("stops within the grace despite slow sessions");
    drop(c);
}
