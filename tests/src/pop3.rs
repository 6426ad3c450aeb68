//! A raw POP3 client for tests: exact command lines, one-line and multi-line responses, STLS and
//! implicit TLS trusting the server's generated certificate.

use std::{net::SocketAddr, sync::Arc};

use anyhow::{Context, bail};
use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::TcpStream,
};

use crate::stream::{Io, tls};

/// One POP3 connection.
pub struct Client {
    io: BufReader<Box<dyn Io>>,
}

impl Client {
    /// Connects (with TLS from the first byte when `implicit` is given) and reads the greeting.
    pub async fn connect(
        addr: SocketAddr,
        implicit: Option<&Arc<rustls::ClientConfig>>,
    ) -> anyhow::Result<(Client, String)> {
        let stream: Box<dyn Io> = Box::new(TcpStream::connect(addr).await.context("connect")?);
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
        };
        let greeting = c.line().await?;
        Ok((c, greeting))
    }

    /// Reads one line without its CRLF.
    pub async fn line(&mut self) -> anyhow::Result<String> {
        let mut l = String::new();
        if self.io.read_line(&mut l).await? == 0 {
            bail!("connection closed");
        }
        Ok(l.trim_end_matches(['\r', '\n']).to_string())
    }

    /// Sends a line and reads the one-line response.
    pub async fn cmd(&mut self, line: &str) -> anyhow::Result<String> {
        self.io
            .get_mut()
            .write_all(format!("{line}\r\n").as_bytes())
            .await?;
        self.io.get_mut().flush().await?;
        self.line().await
    }

    /// Sends a line; on `+OK` reads the multi-line body (dot-unstuffed).
    pub async fn multi(&mut self, line: &str) -> anyhow::Result<(String, Vec<String>)> {
        let status = self.cmd(line).await?;
        let mut body = Vec::new();
        if status.starts_with("+OK") {
            loop {
                let l = self.line().await?;
                if l == "." {
                    break;
                }
                body.push(l.strip_prefix('.').map(str::to_string).unwrap_or(l));
            }
        }
        Ok((status, body))
    }

    /// STLS and the handshake.
    pub async fn stls(self, config: &Arc<rustls::ClientConfig>) -> anyhow::Result<Client> {
        let mut c = self;
        let r = c.cmd("STLS").await?;
        if !r.starts_with("+OK") {
            bail!("STLS refused: {r}");
        }
        let inner = c.io.into_inner();
        Ok(Client {
            io: BufReader::new(tls(inner, config).await?),
        })
    }

    /// USER and PASS; returns PASS's response.
    pub async fn login(&mut self, user: &str, password: &str) -> anyhow::Result<String> {
        let r = self.cmd(&format!("USER {user}")).await?;
        if !r.starts_with("+OK") {
            return Ok(r);
        }
        self.cmd(&format!("PASS {password}")).await
    }

    /// Whether the server closed the connection.
    pub async fn closed(&mut self) -> bool {
        let mut l = String::new();
        matches!(self.io.read_line(&mut l).await, Ok(0) | Err(_))
    }
}
