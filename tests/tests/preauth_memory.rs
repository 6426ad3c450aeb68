//! Memory an unauthenticated client can make the node hold: IMAP lines without an end and
//! huge literals before login are capped small (`[TOOBIG]` before any `+`), and SMTP bodies
//! count against the node's input memory budget (`421 4.3.2` and close once it is used up),
//! so 40 hostile connections of each kind leave the node's memory bounded.

use std::time::Duration;

use tern_tests::{Tern, imap};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

const TOKEN: &str = "mem-token";
const PASSWORD: &str = "demo-password";
const BUDGET: u64 = 32 << 20;

fn rss(tern: &Tern) -> u64 {
    let page = tern.get("/metrics").expect("metrics").1;
    page.lines()
        .find_map(|l| l.strip_prefix("process_resident_memory_bytes "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .expect("rss metric") as u64
}

/// Writes `bytes` in chunks until the server stops reading (closed or not reading within a
/// second); returns how many went out.
async fn pour(stream: &mut TcpStream, bytes: usize) -> usize {
    let chunk = vec![b'x'; 64 * 1024];
    let mut sent = 0;
    while sent < bytes {
        match tokio::time::timeout(Duration::from_secs(1), stream.write_all(&chunk)).await {
            Ok(Ok(())) => sent += chunk.len(),
            _ => break,
        }
    }
    sent
}

async fn reply_line(stream: &mut TcpStream) -> String {
    let mut buf = vec![0u8; 4096];
    let mut got = Vec::new();
    while !got.ends_with(b"\n") {
        match tokio::time::timeout(Duration::from_secs(20), stream.read(&mut buf)).await {
            Ok(Ok(n)) if n > 0 => got.extend_from_slice(&buf[..n]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&got).trim_end().to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn hostile_connections_before_login_hold_bounded_memory() {
    let budget = BUDGET.to_string();
    let (_dir, tern) = Tern::dev(
        TOKEN,
        PASSWORD,
        &[
            ("TERN_SERVER__MAX_BUFFERED_BYTES", budget.as_str()),
            ("TERN_SMTP__MAX_CONNECTIONS_PER_IP", "100"),
            ("RUST_LOG", "warn"),
        ],
    );
    let before = rss(&tern);

    // IMAP: a literal announced too big is refused before the client sends it.
    let (mut c, _) = imap::Client::connect(tern.addr("imap"), None)
        .await
        .expect("connect");
    c.send(b"a1 LOGIN {50000000}\r\n").await.expect("send");
    assert_eq!(
        c.line().await.expect("reply"),
        "a1 NO [TOOBIG] literal of 50000000 bytes is over the limit of 8192 bytes"
    );

    // 40 IMAP connections each sending an 8 MiB line without its end, and 40 SMTP connections
    // each sending a 24 MiB body: well over 1 GiB held before these limits.
    let imap_addr = tern.addr("imap");
    let smtp_addr = tern.addr("smtp");
    let mut tasks = Vec::new();
    for _ in 0..40 {
        tasks.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(imap_addr).await.expect("connect");
            assert!(reply_line(&mut s).await.starts_with("* OK"));
            s.write_all(b"a1 NOOP ").await.expect("send");
            pour(&mut s, 8 << 20).await;
            s.write_all(b"\r\n").await.expect("line end");
            (s, "imap")
        }));
        tasks.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(smtp_addr).await.expect("connect");
            let greeting = reply_line(&mut s).await;
            assert!(greeting.starts_with("220"), "{greeting}");
            for (cmd, want) in [
                ("EHLO attacker.test\r\n", "250"),
                ("MAIL FROM:<a@remote.test>\r\n", "250"),
                ("RCPT TO:<demo@example.test>\r\n", "250"),
                ("DATA\r\n", "354"),
            ] {
                s.write_all(cmd.as_bytes()).await.expect("send");
                let mut r = reply_line(&mut s).await;
                while r
                    .lines()
                    .last()
                    .is_some_and(|l| l.as_bytes().get(3) == Some(&b'-'))
                {
                    r = reply_line(&mut s).await;
                }
                assert!(
                    r.lines().last().unwrap_or("").starts_with(want),
                    "{cmd}: {r}"
                );
            }
            pour(&mut s, 24 << 20).await;
            (s, "smtp")
        }));
    }
    let mut open = Vec::new();
    for t in tasks {
        open.push(t.await.expect("task"));
    }
    let during = rss(&tern);
    println!(
        "RSS before {} MiB, with 80 hostile connections {} MiB",
        before >> 20,
        during >> 20
    );
    assert!(
        during < before + BUDGET + (96 << 20),
        "memory stays bounded: {} MiB before, {} MiB during",
        before >> 20,
        during >> 20
    );

    let mut refused_for_memory = 0;
    for (mut s, kind) in open {
        let reply = reply_line(&mut s).await;
        match kind {
            "imap" => assert!(reply.starts_with("a1 BAD [TOOBIG]"), "{reply}"),
            _ => {
                if reply.starts_with("421 4.3.2") {
                    refused_for_memory += 1;
                }
            }
        }
    }
    assert!(
        refused_for_memory >= 30,
        "most bodies are refused once the budget is used up: {refused_for_memory}"
    );
    let page = tern.get("/metrics").expect("metrics").1;
    assert!(page.contains("tern_input_budget_refusals_total{protocol=\"smtp\"}"));
    tern.stop().expect("clean stop");
}
