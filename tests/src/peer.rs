//! A scripted SMTP server for the queue's tests. It answers each RCPT by the local part's prefix
//! (`unknown` → 550 5.1.1, `full` → 552 5.2.2, `blocked` → 554 5.7.1 block list, `toobig` →
//! 552 5.3.4, `spam` → 550 5.7.1 content rejected, `later` → 451 4.3.0 on its first try only,
//! `drop` → hangs up, `stall` → never answers, anything else → 250) and records what it
//! accepted. It announces SIZE 200000 and no SMTPUTF8 or STARTTLS.

use std::{
    collections::HashSet,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use tokio::{
    io::{AsyncBufReadExt, AsyncWriteExt, BufReader},
    net::TcpListener,
};

/// A message the peer accepted.
#[derive(Debug, Clone)]
pub struct Accepted {
    /// The client's EHLO name.
    pub helo: String,
    /// MAIL FROM line as received.
    pub mail_from: String,
    /// Accepted RCPT TO addresses.
    pub rcpts: Vec<String>,
    /// The message (dot-unstuffed).
    pub data: String,
}

/// A running peer.
#[derive(Clone)]
pub struct Peer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// What it accepted.
    pub accepted: Arc<Mutex<Vec<Accepted>>>,
    /// Connections it received.
    pub connections: Arc<Mutex<usize>>,
    /// Messages being received now, and the most at once so far.
    pub receiving: Arc<Mutex<(usize, usize)>>,
}

impl Peer {
    /// Starts a peer on `addr` (e.g. `127.0.0.2:0`).
    pub async fn start(addr: &str) -> anyhow::Result<Peer> {
        Self::start_slow(addr, Duration::ZERO).await
    }

    /// Starts a peer that waits `delay` before answering each end of data (a slow receiver).
    pub async fn start_slow(addr: &str, delay: Duration) -> anyhow::Result<Peer> {
        let listener = TcpListener::bind(addr).await?;
        let peer = Peer {
            addr: listener.local_addr()?,
            accepted: Arc::default(),
            connections: Arc::default(),
            receiving: Arc::default(),
        };
        let tried_later: Arc<Mutex<HashSet<String>>> = Arc::default();
        let p = peer.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                *p.connections.lock().expect("lock") += 1;
                let (p, tried_later) = (p.clone(), tried_later.clone());
                tokio::spawn(async move {
                    let _ = session(stream, p, tried_later, delay).await;
                });
            }
        });
        Ok(peer)
    }

    /// Messages accepted so far.
    pub fn messages(&self) -> Vec<Accepted> {
        self.accepted.lock().expect("lock").clone()
    }

    /// How many accepted messages carry the subject `subject`.
    pub fn with_subject(&self, subject: &str) -> usize {
        let needle = format!("Subject: {subject}\r\n");
        self.accepted
            .lock()
            .expect("lock")
            .iter()
            .filter(|m| m.data.contains(&needle))
            .count()
    }

    /// Waits until a message for `rcpt` arrived (up to `secs`).
    pub async fn wait_for(&self, rcpt: &str, secs: u64) -> Option<Accepted> {
        for _ in 0..secs * 10 {
            if let Some(m) = self
                .messages()
                .into_iter()
                .find(|m| m.rcpts.iter().any(|r| r == rcpt))
            {
                return Some(m);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        None
    }
}

fn rcpt_reply(address: &str, tried_later: &Mutex<HashSet<String>>) -> &'static str {
    let local = address.split('@').next().unwrap_or("");
    if local.starts_with("unknown") {
        "550 5.1.1 no such user here"
    } else if local.starts_with("full") {
        "552 5.2.2 mailbox full"
    } else if local.starts_with("blocked") {
        "554 5.7.1 Service unavailable; Client host [127.0.0.1] blocked using zen.spamhaus.org; https://www.spamhaus.org/query/ip/127.0.0.1"
    } else if local.starts_with("toobig") {
        "552 5.3.4 message size exceeds fixed maximum message size"
    } else if local.starts_with("spam") {
        "550 5.7.1 message content rejected as spam"
    } else if local.starts_with("later")
        && tried_later
            .lock()
            .expect("lock")
            .insert(address.to_string())
    {
        "451 4.3.0 temporary failure, try again later"
    } else {
        "250 2.1.5 ok"
    }
}

/// Counts a message being received while it lives.
struct Receiving(Arc<Mutex<(usize, usize)>>);

impl Receiving {
    fn start(count: &Arc<Mutex<(usize, usize)>>) -> Receiving {
        let mut c = count.lock().expect("lock");
        c.0 += 1;
        c.1 = c.1.max(c.0);
        Receiving(count.clone())
    }
}

impl Drop for Receiving {
    fn drop(&mut self) {
        self.0.lock().expect("lock").0 -= 1;
    }
}

async fn session(
    stream: tokio::net::TcpStream,
    peer: Peer,
    tried_later: Arc<Mutex<HashSet<String>>>,
    delay: Duration,
) -> anyhow::Result<()> {
    let (r, mut w) = stream.into_split();
    let mut lines = BufReader::new(r).lines();
    w.write_all(b"220 peer.test ESMTP scripted\r\n").await?;
    let mut helo = String::new();
    let mut mail_from = String::new();
    let mut rcpts = Vec::new();
    while let Some(line) = lines.next_line().await? {
        let upper = line.to_ascii_uppercase();
        let reply: String = if upper.starts_with("EHLO") {
            helo = line[4..].trim().to_string();
            "250-peer.test\r\n250-PIPELINING\r\n250-SIZE 200000\r\n250-8BITMIME\r\n250 DSN".into()
        } else if upper.starts_with("MAIL FROM:") {
            mail_from = line.clone();
            rcpts.clear();
            "250 2.1.0 ok".into()
        } else if upper.starts_with("RCPT TO:") {
            let address = line[8..]
                .trim()
                .trim_start_matches('<')
                .split('>')
                .next()
                .unwrap_or("")
                .to_string();
            let local = address.split('@').next().unwrap_or("");
            if local.starts_with("drop") {
                // Hang up mid-transaction.
                return Ok(());
            }
            if local.starts_with("stall") {
                // Say nothing for far longer than any client waits.
                tokio::time::sleep(Duration::from_secs(3600)).await;
                return Ok(());
            }
            let r = rcpt_reply(&address, &tried_later);
            if r.starts_with('2') {
                rcpts.push(address);
            }
            r.into()
        } else if upper == "DATA" {
            let _receiving = Receiving::start(&peer.receiving);
            w.write_all(b"354 go ahead\r\n").await?;
            let mut data = String::new();
            while let Some(l) = lines.next_line().await? {
                if l == "." {
                    break;
                }
                data.push_str(l.strip_prefix('.').unwrap_or(&l));
                data.push_str("\r\n");
            }
            tokio::time::sleep(delay).await;
            peer.accepted.lock().expect("lock").push(Accepted {
                helo: helo.clone(),
                mail_from: mail_from.clone(),
                rcpts: rcpts.clone(),
                data,
            });
            "250 2.0.0 queued as peer-1".into()
        } else if upper == "RSET" {
            rcpts.clear();
            "250 2.0.0 ok".into()
        } else if upper == "QUIT" {
            w.write_all(b"221 2.0.0 bye\r\n").await?;
            return Ok(());
        } else {
            "502 5.5.2 not implemented".into()
        };
        w.write_all(format!("{reply}\r\n").as_bytes()).await?;
    }
    Ok(())
}
