//! A raw IMAP client for tests: tagged commands with their untagged responses, literals read
//! by their announced length, synchronising literals sent after the server's `+`, STARTTLS and
//! implicit TLS trusting the server's generated certificate, and COMPRESS=DEFLATE.

use std::{
    net::SocketAddr,
    sync::{Arc, atomic::AtomicU64},
    time::Duration,
};

use anyhow::{Context, bail};
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::TcpStream,
};

use tern_server::net::deflate::Deflate;

use crate::{
    deflate::Deflated,
    stream::{Io, tls},
};

/// A command's result: untagged lines (literals inlined) and the tagged status line.
#[derive(Debug, Clone)]
pub struct Reply {
    /// Untagged responses, `* ` stripped, literals inlined.
    pub untagged: Vec<String>,
    /// The tagged line without its tag (`OK ...`, `NO ...`, `BAD ...`).
    pub status: String,
}

impl Reply {
    /// Whether the status is OK.
    pub fn ok(&self) -> bool {
        self.status.starts_with("OK")
    }

    /// Untagged lines starting with `prefix`.
    pub fn lines(&self, prefix: &str) -> Vec<&str> {
        self.untagged
            .iter()
            .filter(|l| l.starts_with(prefix))
            .map(String::as_str)
            .collect()
    }

    /// Everything, for assertion messages.
    pub fn all(&self) -> String {
        format!("{:?} / {}", self.untagged, self.status)
    }
}

/// One IMAP connection.
pub struct Client {
    io: BufReader<Box<dyn Io>>,
    next: u32,
}

impl Client {
    /// Connects (TLS first when `implicit` is given) and reads the greeting.
    pub async fn connect(
        addr: SocketAddr,
        implicit: Option<&Arc<rustls::ClientConfig>>,
    ) -> anyhow::Result<(Client, String)> {
        Self::connect_from(addr, None, implicit).await
    }

    /// Connects from a given local address (to spread connections over 127.0.0.x).
    pub async fn connect_from(
        addr: SocketAddr,
        local: Option<std::net::IpAddr>,
        implicit: Option<&Arc<rustls::ClientConfig>>,
    ) -> anyhow::Result<(Client, String)> {
        let tcp = match local {
            Some(ip) => {
                let socket = tokio::net::TcpSocket::new_v4()?;
                socket.bind(SocketAddr::new(ip, 0))?;
                socket.connect(addr).await.context("connect")?
            }
            None => TcpStream::connect(addr).await.context("connect")?,
        };
        tcp.set_nodelay(true)?;
        let stream: Box<dyn Io> = Box::new(tcp);
        let stream = match implicit {
            Some(config) => tls(stream, config).await?,
            None => stream,
        };
        Self::over(stream).await
    }

    /// Reads the greeting on an open connection (after a PROXY header and TLS, say).
    pub async fn over(stream: Box<dyn Io>) -> anyhow::Result<(Client, String)> {
        let mut c = Client {
            io: BufReader::new(stream),
            next: 1,
        };
        let greeting = c.line().await?;
        Ok((c, greeting))
    }

    /// Reads one response line with any literals it announces inlined.
    pub async fn line(&mut self) -> anyhow::Result<String> {
        let mut out = String::new();
        loop {
            let mut l = Vec::new();
            if self.io.read_until(b'\n', &mut l).await? == 0 {
                bail!("connection closed");
            }
            let l = String::from_utf8_lossy(&l)
                .trim_end_matches(['\r', '\n'])
                .to_string();
            let literal = l
                .strip_suffix('}')
                .and_then(|h| h.rsplit_once('{'))
                .and_then(|(_, n)| n.parse::<usize>().ok());
            out.push_str(&l);
            let Some(n) = literal else { return Ok(out) };
            let mut buf = vec![0; n];
            self.io.read_exact(&mut buf).await?;
            out.push_str(&String::from_utf8_lossy(&buf));
        }
    }

    /// Sends raw bytes.
    pub async fn send(&mut self, bytes: &[u8]) -> anyhow::Result<()> {
        self.io.get_mut().write_all(bytes).await?;
        self.io.get_mut().flush().await?;
        Ok(())
    }

    fn tag(&mut self) -> String {
        let t = format!("t{}", self.next);
        self.next += 1;
        t
    }

    /// Reads responses up to the one tagged `tag`.
    pub async fn until(&mut self, tag: &str) -> anyhow::Result<Reply> {
        let mut untagged = Vec::new();
        loop {
            let l = self.line().await?;
            if let Some(rest) = l.strip_prefix(&format!("{tag} ")) {
                return Ok(Reply {
                    untagged,
                    status: rest.to_string(),
                });
            }
            untagged.push(l.strip_prefix("* ").unwrap_or(&l).to_string());
        }
    }

    /// Sends a tagged command and reads its responses.
    pub async fn cmd(&mut self, command: &str) -> anyhow::Result<Reply> {
        let tag = self.tag();
        self.send(format!("{tag} {command}\r\n").as_bytes()).await?;
        self.until(&tag).await
    }

    /// Sends `command` ending in a synchronising literal `{n}` followed by `data`, waiting for
    /// the continuation; returns the refusal instead if the server refuses the literal.
    pub async fn cmd_literal(&mut self, command: &str, data: &[u8]) -> anyhow::Result<Reply> {
        self.with_literal(command, "", data).await
    }

    /// Like [`Client::cmd_literal`] with a literal8 (`~{n}`, RFC 3516), which may carry NUL.
    pub async fn cmd_literal8(&mut self, command: &str, data: &[u8]) -> anyhow::Result<Reply> {
        self.with_literal(command, "~", data).await
    }

    async fn with_literal(
        &mut self,
        command: &str,
        marker: &str,
        data: &[u8],
    ) -> anyhow::Result<Reply> {
        let tag = self.tag();
        self.send(format!("{tag} {command} {marker}{{{}}}\r\n", data.len()).as_bytes())
            .await?;
        let l = self.line().await?;
        if let Some(rest) = l.strip_prefix(&format!("{tag} ")) {
            return Ok(Reply {
                untagged: Vec::new(),
                status: rest.to_string(),
            });
        }
        if !l.starts_with('+') {
            bail!("expected a continuation, got {l}");
        }
        let mut body = Vec::with_capacity(data.len() + 2);
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
        self.send(&body).await?;
        self.until(&tag).await
    }

    /// `SEARCH criteria`: the numbers of the `* SEARCH` line (none if there is none);
    /// panics unless the answer is OK.
    pub async fn search(&mut self, criteria: &str) -> Vec<u32> {
        let r = self
            .cmd(&format!("SEARCH {criteria}"))
            .await
            .expect("search");
        assert!(r.ok(), "SEARCH {criteria}: {}", r.all());
        r.lines("SEARCH")
            .first()
            .map(|l| {
                l.split(' ')
                    .skip(1)
                    .map(|n| n.parse().expect("number"))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Logs in with LOGIN.
    pub async fn login(&mut self, user: &str, password: &str) -> anyhow::Result<Reply> {
        self.cmd(&format!("LOGIN \"{user}\" \"{password}\"")).await
    }

    /// STARTTLS and the handshake.
    pub async fn starttls(self, config: &Arc<rustls::ClientConfig>) -> anyhow::Result<Client> {
        let mut c = self;
        let r = c.cmd("STARTTLS").await?;
        if !r.ok() {
            bail!("STARTTLS refused: {}", r.all());
        }
        let inner = c.io.into_inner();
        Ok(Client {
            io: BufReader::new(tls(inner, config).await?),
            next: c.next,
        })
    }

    /// `COMPRESS DEFLATE`: on OK, everything after goes through [`Deflated`]; returns the
    /// count of compressed bytes read from here on.
    pub async fn compress(&mut self) -> anyhow::Result<Arc<AtomicU64>> {
        let r = self.cmd("COMPRESS DEFLATE").await?;
        if !r.ok() {
            bail!("COMPRESS refused: {}", r.all());
        }
        if !self.io.buffer().is_empty() {
            bail!("the server sent more after the tagged OK of COMPRESS");
        }
        let received = Arc::new(AtomicU64::new(0));
        self.deflate_with(Deflate::new(6), received.clone());
        Ok(received)
    }

    /// From here on, the stream goes through `codec`, counting compressed bytes in `received`.
    fn deflate_with(&mut self, mut codec: Deflate, received: Arc<AtomicU64>) {
        let inner = std::mem::replace(&mut self.io, BufReader::new(Box::new(tokio::io::empty())));
        // What the server sent compressed right behind its OK may be read already.
        let early = inner.buffer();
        received.fetch_add(early.len() as u64, std::sync::atomic::Ordering::Relaxed);
        codec.raw_mut().extend_from_slice(early);
        let deflated: Box<dyn Io> = Box::new(Deflated::new(inner.into_inner(), codec, received));
        self.io = BufReader::new(deflated);
    }

    /// `COMPRESS DEFLATE` with `then` sent compressed in the same write, before the answer
    /// (a pipelining client); returns the COMPRESS answer.
    pub async fn compress_pipelined(&mut self, then: &[u8]) -> anyhow::Result<Reply> {
        let mut codec = Deflate::new(6);
        let mut bytes = b"z1 COMPRESS DEFLATE\r\n".to_vec();
        codec.compress(then, &mut bytes);
        self.send(&bytes).await?;
        let r = self.until("z1").await?;
        self.deflate_with(codec, Arc::new(AtomicU64::new(0)));
        Ok(r)
    }

    /// Reads one line within `wait`, `None` on timeout.
    pub async fn line_within(&mut self, wait: Duration) -> anyhow::Result<Option<String>> {
        match tokio::time::timeout(wait, self.line()).await {
            Ok(l) => l.map(Some),
            Err(_) => Ok(None),
        }
    }
}

impl Client {
    /// The Message-ID of every message in `mailbox` (selected read-only), in UID order.
    pub async fn message_ids(&mut self, mailbox: &str) -> anyhow::Result<Vec<String>> {
        let r = self.cmd(&format!("EXAMINE {mailbox}")).await?;
        if !r.ok() {
            bail!("EXAMINE {mailbox}: {}", r.all());
        }
        let r = self
            .cmd("UID FETCH 1:* (BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
            .await?;
        if !r.ok() {
            bail!("FETCH: {}", r.all());
        }
        Ok(r.untagged
            .iter()
            .filter_map(|l| {
                let at = l.to_ascii_lowercase().find("message-id:")?;
                let id = l[at + "message-id:".len()..].trim();
                Some(
                    id.split_whitespace()
                        .next()?
                        .trim_end_matches(')')
                        .to_string(),
                )
            })
            .collect())
    }
}

/// A session on the implicit-TLS listener of `tern`, logged in as `user`.
pub async fn session(tern: &crate::Tern, user: &str, password: &str) -> Client {
    let tls = crate::smtp::tls_config(&tern.certificate()).expect("tls config");
    let (mut c, _) = Client::connect(tern.addr("imaps"), Some(&tls))
        .await
        .expect("connect 993");
    let r = c.login(user, password).await.expect("login");
    assert!(r.ok(), "login: {}", r.all());
    c
}

/// APPENDs `raw` to INBOX with `flags` (`""` or `"(…)"`); panics unless it is OK.
pub async fn append(c: &mut Client, flags: &str, raw: &str) {
    let r = c
        .cmd_literal(format!("APPEND INBOX {flags}").trim_end(), raw.as_bytes())
        .await
        .expect("append");
    assert!(r.ok(), "{}", r.all());
}

/// A small message from bob to demo with `subject`, dated `date`.
pub fn message(date: &str, subject: &str) -> String {
    format!(
        "From: bob@remote.test\r\nTo: demo@example.test\r\nSubject: {subject}\r\nDate: {date}\r\n\r\nthe body of {subject}\r\n"
    )
}
