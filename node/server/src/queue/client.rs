//! The SMTP client the queue delivers with: connect (plain or implicit TLS), greeting, EHLO
//! (HELO when EHLO is refused), STARTTLS, AUTH PLAIN, and one mail transaction with the
//! envelope pipelined when the server offers PIPELINING. Commands and replies are formatted and
//! parsed by `tern_proto::smtp::client`; this file only moves bytes, with a timeout on each read.

use std::{
    net::SocketAddr,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use base64::Engine as _;
use rustls_pki_types::ServerName;
use smtp_proto::{EXT_PIPELINING, EXT_START_TLS, EhloResponse, Response};
use tern_proto::smtp::client::{self as wire, Envelope};
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf},
    net::TcpStream,
};
use tokio_rustls::{TlsConnector, client::TlsStream};

/// Why a session with a host failed (as opposed to a reply refusing a recipient).
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    /// The TCP connection could not be made or broke.
    #[error("{0}")]
    Io(String),
    /// The host said nothing within the timeout.
    #[error("timed out waiting for the server {0}")]
    Timeout(&'static str),
    /// The host answered something that is not SMTP.
    #[error("{0}")]
    Protocol(String),
    /// The host refused a step of the session (greeting, EHLO, STARTTLS, AUTH, MAIL FROM).
    #[error("{stage}: {reply}")]
    Refused {
        /// Which step.
        stage: &'static str,
        /// The reply, as one line.
        reply: String,
        /// Its code.
        code: u16,
    },
    /// TLS could not be negotiated.
    #[error("TLS: {0}")]
    Tls(String),
}

impl ClientError {
    /// Whether the failure is permanent for the recipients involved (a 5xx refusal).
    pub fn is_permanent(&self) -> bool {
        matches!(self, ClientError::Refused { code, .. } if *code >= 500)
    }
}

enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// One recipient's fate in a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RcptResult {
    /// Accepted (the DATA reply, after a 2xx RCPT).
    Delivered(String),
    /// Temporary failure (4xx), with the reply.
    Deferred(String),
    /// Permanent failure (5xx), with the reply.
    Failed(String),
}

fn classify(r: &Response<String>) -> RcptResult {
    let text = wire::describe(r);
    match r.code {
        200..=299 => RcptResult::Delivered(text),
        500..=599 => RcptResult::Failed(text),
        _ => RcptResult::Deferred(text),
    }
}

/// A recipient as sent: address, NOTIFY and ORCPT.
pub struct Rcpt<'a> {
    /// Forward path.
    pub address: &'a str,
    /// NOTIFY value (`SUCCESS,FAILURE`, `NEVER`, …), if any was given.
    pub notify: Option<String>,
    /// ORCPT as given (`rfc822;addr`).
    pub orcpt: Option<&'a str>,
}

/// An open SMTP session with a remote host.
pub struct Client {
    stream: Stream,
    buf: Vec<u8>,
    timeout: Duration,
    ehlo: EhloResponse<String>,
    /// The host name or address connected to (for logs and DSNs).
    pub host: String,
    /// Its address.
    pub addr: SocketAddr,
}

impl Client {
    /// Connects to `addr` (implicit TLS when `tls` is given), reads the greeting and says EHLO.
    pub async fn connect(
        addr: SocketAddr,
        host: &str,
        tls: Option<&TlsConnector>,
        helo_name: &str,
        connect_timeout: Duration,
        timeout: Duration,
    ) -> Result<Client, ClientError> {
        let tcp = tokio::time::timeout(connect_timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| ClientError::Timeout("to accept the connection"))?
            .map_err(|e| ClientError::Io(format!("could not connect to {host} [{addr}]: {e}")))?;
        let _ = tcp.set_nodelay(true);
        let stream = match tls {
            Some(connector) => Stream::Tls(Box::new(handshake(connector, host, tcp).await?)),
            None => Stream::Plain(tcp),
        };
        let mut client = Client {
            stream,
            buf: Vec::with_capacity(1024),
            timeout,
            ehlo: EhloResponse::default(),
            host: host.to_string(),
            addr,
        };
        let greeting = client.reply().await?;
        if greeting.code != 220 {
            return Err(refused("greeting", &greeting));
        }
        client.hello(helo_name).await?;
        Ok(client)
    }

    /// Whether the session is encrypted.
    pub fn is_tls(&self) -> bool {
        matches!(self.stream, Stream::Tls(_))
    }

    /// Whether the server offers STARTTLS.
    pub fn offers_starttls(&self) -> bool {
        self.ehlo.has_capability(EXT_START_TLS)
    }

    /// Whether the server accepts internationalized addresses (RFC 6531).
    pub fn offers_smtputf8(&self) -> bool {
        self.ehlo.has_capability(smtp_proto::EXT_SMTP_UTF8)
    }

    /// Largest message the server announced (0: none announced).
    pub fn max_size(&self) -> usize {
        self.ehlo.size
    }

    async fn hello(&mut self, helo_name: &str) -> Result<(), ClientError> {
        self.write(format!("EHLO {helo_name}\r\n").as_bytes())
            .await?;
        let raw = self.read_reply().await?;
        let code = raw.get(..3).and_then(|c| std::str::from_utf8(c).ok());
        if code == Some("250") {
            self.ehlo = wire::parse_ehlo(&raw).map_err(|e| ClientError::Protocol(e.to_string()))?;
            return Ok(());
        }
        // An old server: HELO, and no extensions.
        let r = self.command(&format!("HELO {helo_name}\r\n")).await?;
        if r.code != 250 {
            return Err(refused("HELO", &r));
        }
        self.ehlo = EhloResponse::default();
        Ok(())
    }

    /// STARTTLS, then EHLO again over TLS.
    pub async fn starttls(
        mut self,
        connector: &TlsConnector,
        helo_name: &str,
    ) -> Result<Client, ClientError> {
        let r = self.command("STARTTLS\r\n").await?;
        if r.code != 220 {
            return Err(refused("STARTTLS", &r));
        }
        let Stream::Plain(tcp) = self.stream else {
            return Err(ClientError::Protocol("STARTTLS inside TLS".into()));
        };
        let tls = handshake(connector, &self.host, tcp).await?;
        let mut client = Client {
            stream: Stream::Tls(Box::new(tls)),
            buf: Vec::with_capacity(1024),
            timeout: self.timeout,
            ehlo: EhloResponse::default(),
            host: self.host,
            addr: self.addr,
        };
        client.hello(helo_name).await?;
        Ok(client)
    }

    /// AUTH PLAIN with an initial response.
    pub async fn auth_plain(&mut self, user: &str, password: &str) -> Result<(), ClientError> {
        let token = base64::engine::general_purpose::STANDARD
            .encode(format!("\0{user}\0{password}").as_bytes());
        let r = self.command(&format!("AUTH PLAIN {token}\r\n")).await?;
        if r.code != 235 {
            return Err(refused("AUTH", &r));
        }
        Ok(())
    }

    /// One mail transaction. A refused MAIL FROM is an error (it concerns every recipient);
    /// otherwise each recipient gets its own result.
    pub async fn send(
        &mut self,
        env: &Envelope<'_>,
        rcpts: &[Rcpt<'_>],
        body: &[u8],
    ) -> Result<Vec<RcptResult>, ClientError> {
        let mail = wire::mail_from(env, &self.ehlo);
        let rcpt_cmds: Vec<String> = rcpts
            .iter()
            .map(|r| wire::rcpt_to(r.address, r.notify.as_deref(), r.orcpt, &self.ehlo))
            .collect();
        let mut results = Vec::with_capacity(rcpts.len());
        if self.ehlo.has_capability(EXT_PIPELINING) {
            let mut batch = mail.into_bytes();
            for c in &rcpt_cmds {
                batch.extend_from_slice(c.as_bytes());
            }
            self.write(&batch).await?;
            let r = self.reply().await?;
            if r.code != 250 {
                // Drain the RCPT replies that follow a refused MAIL before reporting.
                for _ in &rcpt_cmds {
                    self.reply().await?;
                }
                return Err(refused("MAIL FROM", &r));
            }
            for _ in &rcpt_cmds {
                results.push(classify(&self.reply().await?));
            }
        } else {
            let r = self.command(&mail).await?;
            if r.code != 250 {
                return Err(refused("MAIL FROM", &r));
            }
            for c in &rcpt_cmds {
                results.push(classify(&self.command(c).await?));
            }
        }
        if !results
            .iter()
            .any(|r| matches!(r, RcptResult::Delivered(_)))
        {
            self.rset().await?;
            return Ok(results);
        }
        let r = self.command("DATA\r\n").await?;
        if r.code != 354 {
            let outcome = classify(&r);
            return Ok(results
                .into_iter()
                .map(|x| match x {
                    RcptResult::Delivered(_) => outcome.clone(),
                    other => other,
                })
                .collect());
        }
        self.write(&wire::dot_stuff(body)).await?;
        let end = classify(&self.reply().await?);
        Ok(results
            .into_iter()
            .map(|x| match x {
                RcptResult::Delivered(_) => end.clone(),
                other => other,
            })
            .collect())
    }

    /// RSET, to start the next transaction clean.
    pub async fn rset(&mut self) -> Result<(), ClientError> {
        let r = self.command("RSET\r\n").await?;
        if r.code != 250 {
            return Err(refused("RSET", &r));
        }
        Ok(())
    }

    /// QUIT, ignoring what the server does after.
    pub async fn quit(mut self) {
        if self.write(b"QUIT\r\n").await.is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(5), self.read_reply()).await;
        }
        let _ = self.stream.shutdown().await;
    }

    async fn command(&mut self, cmd: &str) -> Result<Response<String>, ClientError> {
        self.write(cmd.as_bytes()).await?;
        self.reply().await
    }

    async fn write(&mut self, bytes: &[u8]) -> Result<(), ClientError> {
        let io = async {
            self.stream.write_all(bytes).await?;
            self.stream.flush().await
        };
        tokio::time::timeout(self.timeout, io)
            .await
            .map_err(|_| ClientError::Timeout("to accept data"))?
            .map_err(|e| ClientError::Io(format!("connection to {} broke: {e}", self.host)))
    }

    async fn reply(&mut self) -> Result<Response<String>, ClientError> {
        let raw = self.read_reply().await?;
        wire::parse_reply(&raw).map_err(|e| ClientError::Protocol(e.to_string()))
    }

    async fn read_reply(&mut self) -> Result<Vec<u8>, ClientError> {
        loop {
            if let Some(end) =
                wire::reply_end(&self.buf).map_err(|e| ClientError::Protocol(e.to_string()))?
            {
                let rest = self.buf.split_off(end);
                return Ok(std::mem::replace(&mut self.buf, rest));
            }
            let mut chunk = [0u8; 4096];
            let n = tokio::time::timeout(self.timeout, self.stream.read(&mut chunk))
                .await
                .map_err(|_| ClientError::Timeout("to reply"))?
                .map_err(|e| ClientError::Io(format!("connection to {} broke: {e}", self.host)))?;
            if n == 0 {
                return Err(ClientError::Io(format!(
                    "{} closed the connection",
                    self.host
                )));
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

fn refused(stage: &'static str, r: &Response<String>) -> ClientError {
    ClientError::Refused {
        stage,
        reply: wire::describe(r),
        code: r.code,
    }
}

async fn handshake(
    connector: &TlsConnector,
    host: &str,
    tcp: TcpStream,
) -> Result<TlsStream<TcpStream>, ClientError> {
    let name = ServerName::try_from(host.to_string())
        .map_err(|_| ClientError::Tls(format!("{host} is not a valid TLS server name")))?;
    connector
        .connect(name, tcp)
        .await
        .map_err(|e| ClientError::Tls(e.to_string()))
}
