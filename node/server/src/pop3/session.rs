//! One POP3 session: the AUTHORIZATION and TRANSACTION states of RFC 1939, command dispatch,
//! reply buffering (CAPA announces PIPELINING), the autologout timer, the error limit, and the
//! end of session: UPDATE only on QUIT, otherwise nothing is deleted and the lock is released.

use std::{net::SocketAddr, sync::Arc, time::Instant};

use tern_proto::{
    Secret,
    pop3::{Command, CommandReader, Parsed, Reply, reply},
};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    sync::watch,
};

use super::{
    ListenerKind, Pop3Context, auth, capa, dele, list,
    lock::{self, HeldLock},
    maildrop::Maildrop,
    metrics::METRICS,
    noop, pass, quit, retr, rset, stat, stls, top, uidl, user,
};
use crate::net::{
    conn::{Conn, ReadError},
    stream::MaybeTls,
};
use crate::{
    live::sessions::{Entry, Stop},
    password_check,
    trace::{self, Protocol},
};

/// Longest SASL response line.
pub const MAX_SASL_LINE: usize = 4096;

/// Whether the session goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Read the next command.
    Continue,
    /// Close the connection.
    Close,
}

/// RFC 1939 states.
pub enum Phase {
    /// Before login; `USER` may have named someone.
    Authorization {
        /// The name given by USER.
        user: Option<String>,
    },
    /// Logged in with the maildrop locked.
    Transaction {
        /// The maildrop.
        maildrop: Box<Maildrop>,
        /// Its lock.
        lock: HeldLock,
    },
}

/// A POP3 session over any stream.
pub struct Session<S> {
    pub(super) ctx: Arc<Pop3Context>,
    pub(super) kind: ListenerKind,
    pub(super) conn: Conn<S>,
    pub(super) peer: SocketAddr,
    pub(super) id: String,
    pub(super) phase: Phase,
    errors: u32,
    auth_failures: u32,
    reader: CommandReader,
    command: &'static str,
    started: Instant,
    /// What the node's session list shows of it; how a kick reaches it.
    live: Arc<Entry>,
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> crate::net::actor::Connection
    for Session<S>
{
    fn entry(&self) -> Arc<Entry> {
        self.live.clone()
    }

    async fn run(self) {
        Session::run(self).await;
    }
}

async fn lost(rx: Option<watch::Receiver<bool>>) {
    match rx {
        Some(mut rx) => {
            let _ = rx.wait_for(|lost| *lost).await;
        }
        None => std::future::pending().await,
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Session<S> {
    /// A session on `io` from `peer`.
    pub fn new(
        ctx: Arc<Pop3Context>,
        kind: ListenerKind,
        io: MaybeTls<S>,
        peer: SocketAddr,
    ) -> Self {
        let conn = Conn::new(io, ctx.config.write_timeout);
        let id = format!("{:016x}", rand::random::<u64>());
        let live = Entry::new(&id, "pop3", kind.label(), peer, conn.wire());
        live.state("authorization");
        Self {
            live,
            ctx,
            kind,
            conn,
            peer,
            id,
            phase: Phase::Authorization { user: None },
            errors: 0,
            auth_failures: 0,
            reader: CommandReader::default(),
            command: "GREETING",
            started: Instant::now(),
        }
    }

    /// Runs the session to its end.
    pub async fn run(mut self) {
        let label = self.kind.label();
        METRICS.sessions.with_label_values(&[label]).inc();
        METRICS.sessions_active.with_label_values(&[label]).inc();
        tracing::info!(session = %self.id, peer = %self.peer, listener = label, tls = self.conn.is_tls(), "POP3 session started");
        let host = self.ctx.hostname.clone();
        self.reply(reply::greeting(&host));
        let stopped = self.live.stopped(&self.ctx.shutdown);
        tokio::pin!(stopped);
        loop {
            let watch_lock = match &self.phase {
                Phase::Transaction { lock, .. } => Some(lock.lost.clone()),
                Phase::Authorization { .. } => None,
            };
            let next = tokio::select! {
                next = self.next_command() => next,
                stop = &mut stopped => {
                    self.reply(match stop {
                        Stop::Shutdown => reply::shutting_down(),
                        Stop::Kicked => reply::kicked(),
                    });
                    break;
                }
                _ = lost(watch_lock) => {
                    self.reply(reply::lock_lost());
                    break;
                }
            };
            let flow = match next {
                Ok(parsed) => self.dispatch(parsed).await,
                Err(ReadError::Timeout) => {
                    self.reply(reply::timeout());
                    break;
                }
                Err(ReadError::Closed) => break,
            };
            if flow == Flow::Close || !self.conn.flush_if_large().await {
                break;
            }
            match &self.phase {
                Phase::Transaction { maildrop, .. } => self
                    .live
                    .show(Some(&maildrop.account.address), "transaction"),
                Phase::Authorization { .. } => self.live.show(None, "authorization"),
            }
            if self.errors >= self.ctx.config.max_errors {
                self.reply(reply::too_many_errors());
                break;
            }
        }
        // Without QUIT nothing is deleted (RFC 1939 §6); the lock goes either way.
        if let Phase::Transaction { lock, .. } =
            std::mem::replace(&mut self.phase, Phase::Authorization { user: None })
        {
            lock.release().await;
        }
        self.conn.close().await;
        METRICS.sessions_active.with_label_values(&[label]).dec();
        tracing::info!(session = %self.id, seconds = self.started.elapsed().as_secs_f64(), "POP3 session ended");
    }

    /// Whether this session's protocol trace is on.
    pub(super) fn traced(&self) -> bool {
        let account = match &self.phase {
            Phase::Transaction { maildrop, .. } => Some(maildrop.account.address.as_str()),
            Phase::Authorization { .. } => None,
        };
        trace::wanted(self.peer.ip(), account)
    }

    async fn next_command(&mut self) -> Result<Parsed, ReadError> {
        let traced = self.traced();
        let mut line = None;
        let reader = &mut self.reader;
        let parsed = self
            .conn
            .next_item(self.ctx.config.idle_timeout, |bytes| {
                let (used, parsed) = reader.parse(bytes);
                if traced && parsed != Parsed::NeedMore {
                    line = Some(String::from_utf8_lossy(&bytes[..used.min(512)]).into_owned());
                }
                (used, (parsed != Parsed::NeedMore).then_some(parsed))
            })
            .await;
        if let Some(line) = line {
            trace::command(&self.id, Protocol::Pop3, &line);
        }
        parsed
    }

    async fn dispatch(&mut self, parsed: Parsed) -> Flow {
        let command = match parsed {
            Parsed::Command(c) => c,
            Parsed::NeedMore => return Flow::Continue,
            Parsed::TooLong => return self.refuse(reply::line_too_long()),
            Parsed::Unknown(keyword) => return self.refuse(reply::unknown_command(&keyword)),
            Parsed::BadArguments(what) => return self.refuse(reply::bad_arguments(what)),
        };
        self.command = command.name();
        let logged_in = matches!(self.phase, Phase::Transaction { .. });
        match (command, logged_in) {
            (Command::Capa, _) => capa::handle_capa(self),
            (Command::Quit, _) => quit::handle_quit(self).await,
            (Command::User(name), false) => user::handle_user(self, name),
            (Command::Pass(pw), false) => pass::handle_pass(self, Secret::new(pw)).await,
            (Command::Auth(mech, initial), false) => auth::handle_auth(self, mech, initial).await,
            (Command::Apop, false) => self.refuse(reply::apop_unsupported()),
            (Command::Stls, false) => stls::handle_stls(self).await,
            (Command::Stat, true) => stat::handle_stat(self),
            (Command::List(n), true) => list::handle_list(self, n),
            (Command::Uidl(n), true) => uidl::handle_uidl(self, n),
            (Command::Retr(n), true) => retr::handle_retr(self, n).await,
            (Command::Top(n, lines), true) => top::handle_top(self, n, lines).await,
            (Command::Dele(n), true) => dele::handle_dele(self, n),
            (Command::Rset, true) => rset::handle_rset(self),
            (Command::Noop, true) => noop::handle_noop(self),
            (c, true) => self.refuse(reply::wrong_state(c.name(), "after login")),
            (c, false) => self.refuse(reply::wrong_state(c.name(), "before login")),
        }
    }

    /// Queues a response and counts it.
    pub(super) fn reply(&mut self, r: Reply) {
        METRICS
            .commands
            .with_label_values(&[self.command, if r.ok { "ok" } else { "err" }])
            .inc();
        if self.traced() {
            let status = if r.ok { "+OK" } else { "-ERR" };
            trace::reply(&self.id, Protocol::Pop3, &format!("{status} {}", r.text));
        }
        r.encode(self.conn.out());
    }

    /// Queues a refusal that counts towards the error limit.
    pub(super) fn refuse(&mut self, r: Reply) -> Flow {
        self.errors += 1;
        tracing::debug!(session = %self.id, command = self.command, text = %r.text, "refused");
        self.reply(r);
        Flow::Continue
    }

    /// Queues a multi-line listing: the header, one line per item, the terminating dot.
    pub(super) fn listing(&mut self, lines: Vec<String>) {
        self.reply(reply::listing(lines.len()));
        for l in lines {
            self.conn.out().extend_from_slice(l.as_bytes());
            self.conn.out().extend_from_slice(b"\r\n");
        }
        self.conn.out().extend_from_slice(b".\r\n");
    }

    /// Whether USER/PASS and AUTH may be used now.
    pub(super) fn plaintext_allowed(&self) -> bool {
        self.conn.is_tls() || !self.ctx.config.plaintext_requires_tls
    }

    /// The open maildrop, after login.
    pub(super) fn maildrop(&mut self) -> Option<&mut Maildrop> {
        match &mut self.phase {
            Phase::Transaction { maildrop, .. } => Some(maildrop),
            Phase::Authorization { .. } => None,
        }
    }

    /// Checks credentials, locks and opens the maildrop. Failed logins are answered after a
    /// delay that grows with each failure; too many close the session.
    pub(super) async fn login(&mut self, login: &str, secret: Secret<String>) -> Flow {
        let checked = password_check::check(&self.ctx.dir, self.peer.ip(), login, secret).await;
        let outcome = match checked {
            Ok(o) => o,
            Err(e) => {
                tracing::error!(session = %self.id, error = %e, "login lookup failed");
                self.reply(reply::temporary_failure());
                return Flow::Continue;
            }
        };
        if let password_check::Outcome::Banned(why) = &outcome {
            tracing::info!(session = %self.id, login, reason = %why, "POP3 login refused: banned");
            self.reply(reply::login_banned(why));
            return Flow::Close;
        }
        let account = outcome.account();
        let Some(account) = account else {
            self.auth_failures += 1;
            self.phase = Phase::Authorization { user: None };
            tracing::info!(session = %self.id, login, failures = self.auth_failures, "POP3 login failed");
            tokio::time::sleep(self.ctx.config.auth_failure_delay * self.auth_failures).await;
            if self.auth_failures >= self.ctx.config.max_auth_failures {
                self.reply(reply::too_many_auth_failures());
                return Flow::Close;
            }
            return self.refuse(reply::auth_failed(!login.contains('@')));
        };
        let inbox = match self.ctx.dir.mailbox(account.id, "INBOX").await {
            Ok(Some(m)) => m,
            Ok(None) | Err(_) => {
                self.reply(reply::temporary_failure());
                return Flow::Continue;
            }
        };
        let held = match lock::acquire(
            &self.ctx.dir,
            inbox.id,
            &self.id,
            &account.address,
            self.ctx.config.lock_lease,
        )
        .await
        {
            Ok(Some(held)) => held,
            Ok(None) => {
                METRICS.lock_conflicts.inc();
                self.phase = Phase::Authorization { user: None };
                self.reply(reply::in_use());
                return Flow::Continue;
            }
            Err(e) => {
                tracing::error!(session = %self.id, error = %e, "POP3 lock failed");
                self.reply(reply::temporary_failure());
                return Flow::Continue;
            }
        };
        match Maildrop::open(&self.ctx.dir, account).await {
            Ok(maildrop) => {
                let (count, bytes) = maildrop.stat();
                tracing::info!(session = %self.id, account = %maildrop.account.address, messages = count, "POP3 login");
                self.phase = Phase::Transaction {
                    maildrop: Box::new(maildrop),
                    lock: held,
                };
                self.reply(reply::logged_in(count, bytes));
            }
            Err(e) => {
                held.release().await;
                tracing::error!(session = %self.id, error = %e, "opening the maildrop failed");
                self.reply(reply::temporary_failure());
            }
        }
        Flow::Continue
    }
}
