//! The PROXY protocol on every mail listener of a real `tern`, with headers written by hand from
//! HAProxy's specification (v1 text, v2 binary): the client a trusted balancer names is the
//! client everywhere — in the `Received:` header, the logs, relay control and the per-address
//! connection limit — with TLS after the header on 465/993/995 and STARTTLS on 587. A header
//! from an address outside `proxy.trusted_networks`, a connection without one where it is
//! required, a header that never comes and a malformed one are all refused and counted.

use std::{
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use tern_tests::{Tern, imap, pop3, smtp, stream::Io};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpSocket, TcpStream},
};

const TOKEN: &str = "proxy-token";
const PASSWORD: &str = "proxy-password";
const USER: &str = "demo@example.test";

fn node() -> (tempfile::TempDir, Tern) {
    Tern::dev(
        TOKEN,
        PASSWORD,
        &[
            ("TERN_PROXY__SMTP", "required"),
            ("TERN_PROXY__SUBMISSION", "required"),
            ("TERN_PROXY__SUBMISSIONS", "required"),
            ("TERN_PROXY__IMAP", "optional"),
            ("TERN_PROXY__IMAPS", "required"),
            ("TERN_PROXY__POP3", "required"),
            ("TERN_PROXY__POP3S", "optional"),
            // The balancer is 127.0.0.1; 127.0.0.2 is anyone else.
            ("TERN_PROXY__TRUSTED_NETWORKS", "127.0.0.1/32"),
            ("TERN_PROXY__HEADER_TIMEOUT_SECONDS", "1"),
            ("TERN_SMTP__MAX_CONNECTIONS_PER_IP", "1"),
        ],
    )
}

/// A v1 header for a TCP/IPv4 client.
fn v1(client: &str) -> Vec<u8> {
    let (ip, port) = client.split_once(':').expect("ip:port");
    format!("PROXY TCP4 {ip} 127.0.0.1 {port} 25\r\n").into_bytes()
}

/// A v2 PROXY header for a TCP/IPv4 client, with one TLV (PP2_TYPE_NOOP).
fn v2(client: &str) -> Vec<u8> {
    let client: SocketAddr = client.parse().expect("client");
    let IpAddr::V4(ip) = client.ip() else {
        panic!("IPv4 only")
    };
    let mut h = b"\r\n\r\n\0\r\nQUIT\n".to_vec();
    h.extend_from_slice(&[0x21, 0x11, 0, 12 + 4]);
    h.extend_from_slice(&ip.octets());
    h.extend_from_slice(&[127, 0, 0, 1]);
    h.extend_from_slice(&client.port().to_be_bytes());
    h.extend_from_slice(&993u16.to_be_bytes());
    h.extend_from_slice(&[0x04, 0, 1, 0]);
    h
}

/// A connection from `from` to `addr` that begins with `header`.
async fn through(from: [u8; 4], addr: SocketAddr, header: &[u8]) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(SocketAddr::from((from, 0)))
        .expect("bind a source");
    let mut s = socket.connect(addr).await.expect("connect");
    s.write_all(header).await.expect("header");
    s
}

/// Whether the server closes `s` without a word (within 10 s).
async fn closed_silently(mut s: TcpStream) -> bool {
    let mut buf = [0u8; 64];
    matches!(
        tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await,
        Ok(Ok(0)) | Ok(Err(_))
    )
}

fn tls(t: &Tern) -> Arc<rustls::ClientConfig> {
    smtp::tls_config(&t.certificate()).expect("tls config")
}

async fn tls_through(t: &Tern, from: [u8; 4], key: &str, header: &[u8]) -> Box<dyn Io> {
    let s = through(from, t.addr(key), header).await;
    tern_tests::stream::tls(Box::new(s), &tls(t))
        .await
        .expect("TLS after the header")
}

fn refused(t: &Tern, proto: &str, reason: &str) -> f64 {
    t.metric(&format!(
        "tern_{proto}_connections_refused_total{{reason=\"{reason}\"}}"
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_a_trusted_balancer_names_is_the_client_everywhere() {
    let (_dir, t) = node();
    const LB: [u8; 4] = [127, 0, 0, 1];

    // Port 25, v1: the message's Received: header and the log name the real client, and relay
    // control still applies to it.
    let s = through(LB, t.addr("smtp"), &v1("203.0.113.7:40001")).await;
    let (mut c, greeting) = smtp::Client::over(Box::new(s), None)
        .await
        .expect("greeting");
    assert_eq!(greeting.code, 220, "{}", greeting.text);
    c.expect("EHLO client.example", 250).await.expect("ehlo");
    c.expect("MAIL FROM:<someone@remote.test>", 250)
        .await
        .expect("mail");
    let relay = c
        .cmd("RCPT TO:<victim@elsewhere.test>")
        .await
        .expect("rcpt");
    assert_eq!(relay.code, 554, "relaying stays denied: {}", relay.text);
    c.expect(&format!("RCPT TO:<{USER}>"), 250)
        .await
        .expect("rcpt");
    let r = c
        .data(&smtp::message(
            "someone@remote.test",
            USER,
            "via-proxy",
            "hi\r\n",
        ))
        .await
        .expect("data");
    assert_eq!(r.code, 250, "{}", r.text);
    t.wait_for_log("203.0.113.7", Duration::from_secs(10))
        .expect("the log names the real client");

    // The per-address limit (1) counts real clients: a second client through the same balancer
    // is admitted, a second connection of the first is not.
    let other = through(LB, t.addr("smtp"), &v1("203.0.113.8:40002")).await;
    let (_other, g) = smtp::Client::over(Box::new(other), None)
        .await
        .expect("greeting");
    assert_eq!(g.code, 220, "another client: {}", g.text);
    let again = through(LB, t.addr("smtp"), &v1("203.0.113.7:40003")).await;
    let (_again, g) = smtp::Client::over(Box::new(again), None)
        .await
        .expect("reply");
    assert_eq!(g.code, 421, "the same client twice: {}", g.text);
    let _ = c.cmd("QUIT").await;

    // 465, v2 and TLS after the header: AUTH works, the log names the real client.
    let s = tls_through(&t, LB, "submissions", &v2("198.51.100.9:50001")).await;
    let (mut c, g) = smtp::Client::over(s, None).await.expect("greeting");
    assert_eq!(g.code, 220);
    c.expect("EHLO client.example", 250).await.expect("ehlo");
    let auth = c.auth_plain(USER, PASSWORD).await.expect("auth");
    assert_eq!(auth.code, 235, "{}", auth.text);
    t.wait_for_log("198.51.100.9", Duration::from_secs(10))
        .expect("the log names the v2 client");

    // 587, v1 then STARTTLS.
    let s = through(LB, t.addr("submission"), &v1("198.51.100.10:50002")).await;
    let (c, g) = smtp::Client::over(Box::new(s), Some(tls(&t)))
        .await
        .expect("greeting");
    assert_eq!(g.code, 220);
    let mut c = {
        let mut c = c;
        c.expect("EHLO client.example", 250).await.expect("ehlo");
        c.starttls().await.expect("STARTTLS after the header")
    };
    c.expect("EHLO client.example", 250).await.expect("ehlo");
    assert_eq!(c.auth_plain(USER, PASSWORD).await.expect("auth").code, 235);

    // 993, v2 then TLS: the message is there with the real client in its Received: header.
    let s = tls_through(&t, LB, "imaps", &v2("198.51.100.11:50003")).await;
    let (mut i, greeting) = imap::Client::over(s).await.expect("greeting");
    assert!(greeting.starts_with("* OK"), "{greeting}");
    assert!(i.login(USER, PASSWORD).await.expect("login").ok());
    assert!(i.cmd("SELECT INBOX").await.expect("select").ok());
    let r = i
        .cmd("FETCH 1:* (BODY.PEEK[HEADER.FIELDS (RECEIVED SUBJECT)])")
        .await
        .expect("fetch");
    let all = r.all();
    assert!(
        all.contains("via-proxy") && all.contains("203.0.113.7"),
        "Received: should name the client the header named: {all}"
    );

    // 995 (optional) from the balancer, v1 then TLS; 110 (required) v2 then STLS.
    let s = tls_through(&t, LB, "pop3s", &v1("198.51.100.12:50004")).await;
    let (mut p, g) = pop3::Client::over(s).await.expect("greeting");
    assert!(g.starts_with("+OK"), "{g}");
    let pass = p.login(USER, PASSWORD).await.expect("login");
    assert!(pass.starts_with("+OK"), "{pass}");
    let s = through(LB, t.addr("pop3"), &v2("198.51.100.13:50005")).await;
    let (mut p, g) = pop3::Client::over(Box::new(s)).await.expect("greeting");
    assert!(g.starts_with("+OK"), "{g}");
    assert!(p.cmd("CAPA").await.expect("capa").starts_with("+OK"));

    // 143 is optional: a direct client from the balancer's network without a header is served
    // (after the header timeout), as itself.
    let (mut i, greeting) = imap::Client::connect(t.addr("imap"), None)
        .await
        .expect("direct client");
    assert!(greeting.starts_with("* OK"), "{greeting}");
    assert!(i.cmd("CAPABILITY").await.expect("capability").ok());

    let (_, metrics) = t.get("/metrics").expect("metrics");
    for series in [
        "tern_proxy_headers_total{listener=\"smtp\",version=\"1\"} 3",
        "tern_proxy_headers_total{listener=\"submissions\",version=\"2\"} 1",
        "tern_proxy_headers_total{listener=\"imaps\",version=\"2\"} 1",
        "tern_proxy_headers_total{listener=\"pop3\",version=\"2\"} 1",
        "tern_proxy_headers_total{listener=\"imap\",version=\"1\"} 0",
    ] {
        assert!(metrics.contains(series), "{series} missing");
    }
    t.stop().expect("clean stop");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_from_strangers_missing_late_and_malformed_ones_are_refused() {
    let (_dir, t) = node();
    const LB: [u8; 4] = [127, 0, 0, 1];
    const STRANGER: [u8; 4] = [127, 0, 0, 2];

    // From outside the trusted networks: refused before a word, header or not.
    let s = through(STRANGER, t.addr("smtp"), &v1("203.0.113.7:1")).await;
    assert!(closed_silently(s).await, "an untrusted header is refused");
    assert_eq!(refused(&t, "smtp", "proxy_untrusted"), 1.0);
    // On an optional implicit-TLS port a stranger is a direct client, but not with a header.
    let s = through(STRANGER, t.addr("pop3s"), &v2("203.0.113.7:2")).await;
    assert!(closed_silently(s).await, "a header from a stranger on 995");
    assert_eq!(refused(&t, "pop3", "proxy_untrusted"), 1.0);
    let direct = tls_through(&t, STRANGER, "pop3s", b"").await;
    let (_p, g) = pop3::Client::over(direct).await.expect("greeting");
    assert!(g.starts_with("+OK"), "a direct TLS client on 995: {g}");

    // From the balancer, without a header where one is required: refused.
    let s = through(LB, t.addr("pop3"), b"CAPA\r\n").await;
    assert!(closed_silently(s).await, "no header on 110");
    assert_eq!(refused(&t, "pop3", "proxy_missing"), 1.0);
    // A header that never comes: refused after the header timeout (1 s here).
    let s = through(LB, t.addr("submission"), b"").await;
    assert!(closed_silently(s).await, "no header at all on 587");
    assert_eq!(refused(&t, "smtp", "proxy_timeout"), 1.0);
    // Malformed headers.
    for bad in [
        &b"PROXY TCP4 999.0.0.1 127.0.0.1 1 25\r\n"[..],
        b"PROXY TCP4 203.0.113.7 127.0.0.1 1\r\n",
    ] {
        let s = through(LB, t.addr("smtp"), bad).await;
        assert!(closed_silently(s).await, "{bad:?}");
    }
    let mut v2_bad = v2("203.0.113.7:3");
    v2_bad[12] = 0x31; // version 3
    let s = through(LB, t.addr("imaps"), &v2_bad).await;
    assert!(closed_silently(s).await, "a v3 header");
    assert_eq!(refused(&t, "smtp", "proxy_invalid"), 2.0);
    assert_eq!(refused(&t, "imap", "proxy_invalid"), 1.0);
    t.wait_for_log("connection refused: PROXY protocol", Duration::from_secs(5))
        .expect("refusals are logged");
    t.stop().expect("clean stop");
}
