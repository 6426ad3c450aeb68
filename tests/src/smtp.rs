//! A raw SMTP client for tests: sends exact command lines (pipelined when asked), reads
//! multi-line replies, and upgrades to TLS trusting the server's generated certificate.

use std::{net::SocketAddr, path::Path, sync::Arc};

use anyhow::{Context, bail};
use base64::{Engine, engine::general_purpose::STANDARD};
use rustls_pki_types::{CertificateDer, pem::PemObject};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::TcpStream,
};

use crate::stream::{Io, tls};

/// A reply: its code and its full text (all lines).
#[derive(Debug, Clone)]
pub struct Reply {
    /// Three-digit code.
    pub code: u16,
    /// Every line, joined with newlines.
    pub text: String,
}

/// One SMTP connection.
pub struct Client {
    io: BufReader<Box<dyn Io>>,
    tls_roots: Option<Arc<rustls::ClientConfig>>,
}

/// A rustls client configuration trusting the certificate in `cert_pem`.
pub fn tls_config(cert_pem: &Path) -> anyhow::Result<Arc<rustls::ClientConfig>> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(cert_pem)? {
        roots.add(cert?)?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth(),
    ))
}

impl Client {
    /// Connects in clear text and reads the greeting.
    pub async fn connect(
        addr: SocketAddr,
        tls: Option<Arc<rustls::ClientConfig>>,
    ) -> anyhow::Result<(Client, Reply)> {
        let stream = TcpStream::connect(addr).await.context("connect")?;
        Self::over(Box::new(stream), tls).await
    }

    /// Connects with TLS from the first byte (port 465) and reads the greeting.
    pub async fn connect_tls(
        addr: SocketAddr,
        config: Arc<rustls::ClientConfig>,
    ) -> anyhow::Result<(Client, Reply)> {
        let stream = TcpStream::connect(addr).await.context("connect")?;
        let stream = tls(Box::new(stream), &config).await?;
        Self::over(stream, Some(config)).await
    }

    /// Reads the greeting on an open connection (after a PROXY header, say); `tls` is for a
    /// later STARTTLS.
    pub async fn over(
        stream: Box<dyn Io>,
        tls: Option<Arc<rustls::ClientConfig>>,
    ) -> anyhow::Result<(Client, Reply)> {
        let mut c = Client {
            io: BufReader::new(stream),
            tls_roots: tls,
        };
        let greeting = c.read().await?;
        Ok((c, greeting))
    }

    /// Reads one reply; errors when the server closed the connection.
    pub async fn read(&mut self) -> anyhow::Result<Reply> {
        let mut text = String::new();
        loop {
            let mut line = String::new();
            if self.io.read_line(&mut line).await? == 0 {
                bail!("connection closed; read so far: {text:?}");
            }
            let line = line.trim_end_matches(['\r', '\n']);
            if line.len() < 4 {
                bail!("short reply line {line:?}");
            }
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(line);
            if line.as_bytes()[3] == b' ' {
                return Ok(Reply {
                    code: line[..3].parse()?,
                    text,
                });
            }
        }
    }

    /// Whether the server closed the connection (EOF on read).
    pub async fn closed(&mut self) -> bool {
        let mut buf = String::new();
        matches!(self.io.read_line(&mut buf).await, Ok(0) | Err(_))
    }

    /// Sends raw bytes.
    pub async fn send_raw(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        self.io.get_mut().write_all(bytes).await?;
        self.io.get_mut().flush().await?;
        Ok(())
    }

    /// Sends one command line and reads its reply.
    pub async fn cmd(&mut self, line: &str) -> anyhow::Result<Reply> {
        self.send_raw(format!("{line}\r\n").as_bytes()).await?;
        self.read().await
    }

    /// Sends a command and fails unless the reply has `code`; returns the reply.
    pub async fn expect(&mut self, line: &str, code: u16) -> anyhow::Result<Reply> {
        let r = self.cmd(line).await?;
        if r.code != code {
            bail!("{line:?}: expected {code}, got {} {}", r.code, r.text);
        }
        Ok(r)
    }

    /// MAIL FROM, RCPT TO and DATA, expecting 250, 250 and 354.
    pub async fn envelope(&mut self, from: &str, to: &str) -> anyhow::Result<()> {
        self.expect(&format!("MAIL FROM:<{from}>"), 250).await?;
        self.expect(&format!("RCPT TO:<{to}>"), 250).await?;
        self.expect("DATA", 354).await?;
        Ok(())
    }

    /// STARTTLS and the handshake.
    pub async fn starttls(self) -> anyhow::Result<Client> {
        let mut c = self;
        c.expect("STARTTLS", 220).await?;
        let config = c.tls_roots.clone().context("no TLS configuration")?;
        let inner = c.io.into_inner();
        Ok(Client {
            io: BufReader::new(tls(inner, &config).await?),
            tls_roots: Some(config),
        })
    }

    /// AUTH PLAIN with an initial response.
    pub async fn auth_plain(&mut self, login: &str, password: &str) -> anyhow::Result<Reply> {
        let token = STANDARD.encode(format!("\0{login}\0{password}"));
        self.cmd(&format!("AUTH PLAIN {token}")).await
    }

    /// Sends a whole message with DATA (dot-stuffing it) and returns the final reply.
    pub async fn data(&mut self, message: &str) -> anyhow::Result<Reply> {
        self.expect("DATA", 354).await?;
        let mut body = String::new();
        for line in message.split("\r\n") {
            if line.starts_with('.') {
                body.push('.');
            }
            body.push_str(line);
            body.push_str("\r\n");
        }
        body.push_str(".\r\n");
        self.send_raw(body.as_bytes()).await?;
        self.read().await
    }
}

/// A small RFC 5322 message.
pub fn message(from: &str, to: &str, subject: &str, body: &str) -> String {
    format!(
        "From: <{from}>\r\nTo: <{to}>\r\nSubject: {subject}\r\nMessage-ID: <{subject}@test>\r\n\r\n{body}"
    )
}

/// A message whose MIME parts nest `depth` multiparts deep, or with `attached`, `depth`
/// attached messages each inside a multipart (twice as many levels).
pub fn nested_mime(depth: usize, attached: bool) -> String {
    let mut s = format!("From: <deep@remote.test>\r\nSubject: nested {depth}\r\n");
    for i in 0..depth {
        s += &format!("Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n");
        if attached {
            s += &format!("Content-Type: message/rfc822\r\n\r\nSubject: level {i}\r\n");
        }
    }
    s += "Content-Type: text/plain\r\n\r\ninnermost\r\n";
    for i in (0..depth).rev() {
        s += &format!("--b{i}--\r\n");
    }
    s
}

/// Delivers one message per subject to `to` over the MX listener (no TLS, no AUTH).
pub async fn deliver(
    addr: std::net::SocketAddr,
    to: &str,
    subjects: &[&str],
) -> anyhow::Result<()> {
    let (mut c, _) = Client::connect(addr, None).await?;
    c.expect("EHLO feeder.test", 250).await?;
    for s in subjects {
        c.expect("MAIL FROM:<feeder@remote.test>", 250).await?;
        c.expect(&format!("RCPT TO:<{to}>"), 250).await?;
        let r = c
            .data(&message(
                "feeder@remote.test",
                to,
                s,
                &format!("body of {s}\r\n"),
            ))
            .await?;
        anyhow::ensure!(r.code == 250, "DATA answered {}", r.code);
    }
    c.cmd("QUIT").await?;
    Ok(())
}

/// One transaction on its own session to `addr`: EHLO `helo`, MAIL FROM `from`, RCPT TO `to`
/// (each expected to pass), `message` in DATA; the final reply.
pub async fn send_one(
    addr: std::net::SocketAddr,
    helo: &str,
    from: &str,
    to: &str,
    message: &str,
) -> anyhow::Result<Reply> {
    let (mut c, _) = Client::connect(addr, None).await?;
    c.expect(&format!("EHLO {helo}"), 250).await?;
    c.expect(&format!("MAIL FROM:<{from}>"), 250).await?;
    c.expect(&format!("RCPT TO:<{to}>"), 250).await?;
    let r = c.data(message).await?;
    c.cmd("QUIT").await?;
    Ok(r)
}

/// Connects and says `EHLO client.test`; panics unless greeted with 220 and answered 250.
pub async fn ehlo(addr: std::net::SocketAddr) -> Client {
    let (mut c, greeting) = Client::connect(addr, None).await.expect("connect");
    assert_eq!(greeting.code, 220);
    c.expect("EHLO client.test", 250).await.expect("ehlo");
    c
}

/// `"550 5.1.1"`: the code and enhanced status of a reply's last line.
pub fn code(r: &Reply) -> String {
    r.text
        .lines()
        .last()
        .unwrap_or("")
        .split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join(" ")
}
