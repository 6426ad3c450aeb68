//! One SMTP session: reads requests (pipelined or not), dispatches each to its verb's handler,
//! buffers replies and flushes them when the client has nothing more in flight, and enforces
//! the idle, data and total time limits and the error limit with a clean `421`.

use std::{collections::BTreeSet, net::SocketAddr, sync::Arc, time::Instant};

use smtp_proto::Request;
use tern_proto::smtp::{Body, BodyKind, Parsed, Reply, RequestReader, reply};
use tern_store::model::{
    Account,
    queue::{Notify, Ret},
};
use tokio::io::{AsyncRead, AsyncWrite};

pub use crate::net::conn::ReadError;
use crate::{
    live::sessions::{Entry, Stop},
    net::{conn::Conn, pace::Pace, stream::MaybeTls},
    policy::{Decision, Facts, Stage},
    trace::{self, Protocol},
};

use super::{
    ListenerKind, SmtpContext, auth, bdat, data, ehlo, helo, mail, metrics::METRICS, noop, quit,
    rcpt, rset, starttls, vrfy,
};

/// Longest SASL response line.
const MAX_SASL_LINE: usize = 12 * 1024;

/// Whether the session goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Read the next command.
    Continue,
    /// Close the connection (after flushing).
    Close,
}

/// One accepted recipient.
#[derive(Debug, Clone)]
pub struct Recipient {
    /// As given in RCPT TO.
    pub address: String,
    /// Local accounts it delivers to.
    pub accounts: BTreeSet<u64>,
    /// Remote addresses it is relayed or forwarded to.
    pub remote: BTreeSet<String>,
    /// DSN ORCPT.
    pub orcpt: Option<String>,
    /// DSN NOTIFY.
    pub notify: Notify,
}

/// How reading a body ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyEnd {
    /// The whole body (or chunk) is in.
    Complete,
    /// It passed the size limit; the rest was not read.
    TooBig,
    /// The node's input memory budget had no room for it; the rest was not read.
    NoMemory,
}

/// The mail transaction between MAIL and the end of data.
#[derive(Debug, Default)]
pub struct MailTransaction {
    /// Envelope sender (empty: null sender).
    pub from: String,
    /// SIZE declared in MAIL FROM.
    pub declared_size: usize,
    /// DSN RET.
    pub ret: Option<Ret>,
    /// DSN ENVID.
    pub envid: Option<String>,
    /// SMTPUTF8 requested.
    pub smtputf8: bool,
    /// BODY=8BITMIME.
    pub body_8bit: bool,
    /// Accepted recipients.
    pub recipients: Vec<Recipient>,
    /// The body so far (BDAT chunks accumulate).
    pub body: Vec<u8>,
    /// BDAT was used in this transaction (DATA is then refused).
    pub chunking: bool,
    /// The node-wide memory the body holds.
    pub memory: Option<crate::net::budget::Reservation>,
    /// What the policy checks marked the message with.
    pub marks: crate::policy::Marks,
}

/// Per-session state the handlers read and change.
#[derive(Default)]
pub struct State {
    /// The name given in EHLO/HELO.
    pub helo: Option<String>,
    /// EHLO rather than HELO.
    pub esmtp: bool,
    /// The authenticated account.
    pub account: Option<Account>,
    /// Failed AUTH attempts.
    pub auth_failures: u32,
    /// Errors so far.
    pub errors: u32,
    /// The open mail transaction.
    pub mail: Option<MailTransaction>,
    /// A policy check trusts the client (see [`crate::policy`]).
    pub trusted: bool,
    /// What checks marked the session with before a mail transaction (each transaction starts
    /// with these).
    pub marks: crate::policy::Marks,
    /// The greeting was a refusal: only QUIT is taken (RFC 5321 §3.1).
    pub refused_at_connect: bool,
}

/// A session over any stream.
pub struct Session<S> {
    pub(super) ctx: Arc<SmtpContext>,
    pub(super) kind: ListenerKind,
    pub(super) conn: Conn<S>,
    pub(super) peer: SocketAddr,
    /// Session id for logs.
    pub(super) id: String,
    pub(super) state: State,
    reader: RequestReader,
    verb: &'static str,
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

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Session<S> {
    /// A session on `io` from `peer`.
    pub fn new(
        ctx: Arc<SmtpContext>,
        kind: ListenerKind,
        io: MaybeTls<S>,
        peer: SocketAddr,
    ) -> Self {
        let conn = Conn::new(io, ctx.config.write_timeout);
        let id = format!("{:016x}", rand::random::<u64>());
        let live = Entry::new(&id, "smtp", kind.label(), peer, conn.wire());
        Self {
            ctx,
            kind,
            conn,
            peer,
            id,
            state: State::default(),
            reader: RequestReader::default(),
            verb: "GREETING",
            started: Instant::now(),
            live,
        }
    }

    /// Runs the session to its end.
    pub async fn run(mut self) {
        let label = self.kind.label();
        METRICS.sessions.with_label_values(&[label]).inc();
        METRICS.sessions_active.with_label_values(&[label]).inc();
        tracing::info!(session = %self.id, peer = %self.peer, listener = label, tls = self.conn.is_tls(), "SMTP session started");
        let host = self.ctx.hostname.clone();
        match self.policy(Stage::Connect, None, None).await {
            None => self.reply(reply::greeting(&host)),
            // Refused for now: say so and close (a connect check answers 421 itself).
            Some(r) if r.code < 500 => {
                self.reply(r);
                self.conn.close().await;
                METRICS.sessions_active.with_label_values(&[label]).dec();
                return;
            }
            Some(r) => {
                self.reply(r);
                self.state.refused_at_connect = true;
            }
        }
        let deadline = tokio::time::Instant::from_std(self.started + self.ctx.config.max_session);
        let stopped = self.live.stopped(&self.ctx.shutdown);
        tokio::pin!(stopped);
        loop {
            let next = tokio::select! {
                next = self.next_request() => next,
                stop = &mut stopped => {
                    self.reply(match stop {
                        Stop::Shutdown => reply::shutting_down(&host),
                        Stop::Kicked => reply::kicked(&host),
                    });
                    break;
                }
                _ = tokio::time::sleep_until(deadline) => {
                    self.reply(reply::session_too_long(&host));
                    break;
                }
            };
            let parsed = match next {
                Ok(p) => p,
                Err(ReadError::Timeout) => {
                    self.reply(reply::timeout(&host));
                    break;
                }
                Err(ReadError::Closed) => break,
            };
            if self.dispatch(parsed).await == Flow::Close {
                break;
            }
            self.publish();
            if self.state.errors >= self.ctx.config.max_errors {
                tracing::warn!(session = %self.id, errors = self.state.errors, "closing after too many errors");
                self.reply(reply::too_many_errors(&host));
                break;
            }
        }
        self.conn.close().await;
        METRICS.sessions_active.with_label_values(&[label]).dec();
        tracing::info!(session = %self.id, seconds = self.started.elapsed().as_secs_f64(), "SMTP session ended");
    }

    /// Shows the account and the transaction's progress in the node's session list.
    fn publish(&self) {
        let state = match (&self.state.mail, &self.state.helo) {
            (Some(_), _) => "mail",
            (None, Some(_)) => "ready",
            (None, None) => "greeting",
        };
        let account = self.state.account.as_ref().map(|a| a.address.as_str());
        self.live.show(account, state);
    }

    async fn dispatch(&mut self, parsed: Parsed) -> Flow {
        let request = match parsed {
            Parsed::Request(r) => r,
            Parsed::NeedMore => return Flow::Continue,
            Parsed::TooLong => return self.refuse("LINE", reply::line_too_long()),
            Parsed::Unknown => return self.refuse("UNKNOWN", reply::unknown_command()),
            Parsed::Syntax(what) => return self.refuse("SYNTAX", reply::syntax(&what)),
            Parsed::Unsupported(param) => {
                return self.refuse("SYNTAX", reply::unsupported_parameter(&param));
            }
            Parsed::BadAddress => {
                return self.refuse("SYNTAX", reply::bad_address("cannot parse the address"));
            }
        };
        self.verb = request.name();
        if self.state.refused_at_connect && !matches!(request, Request::Quit) {
            return self.refuse("REFUSED", reply::refused_at_connect());
        }
        match request {
            Request::Ehlo { host } => ehlo::handle_ehlo(self, host).await,
            Request::Helo { host } => helo::handle_helo(self, host).await,
            Request::Lhlo { .. } => self.refuse("LHLO", reply::not_implemented("LHLO")),
            Request::Mail { from } => mail::handle_mail(self, from).await,
            Request::Rcpt { to } => rcpt::handle_rcpt(self, to).await,
            Request::Data => data::handle_data(self).await,
            Request::Bdat {
                chunk_size,
                is_last,
            } => bdat::handle_bdat(self, chunk_size, is_last).await,
            Request::Auth {
                mechanism,
                initial_response,
            } => auth::handle_auth(self, mechanism, initial_response).await,
            Request::StartTls => starttls::handle_starttls(self).await,
            Request::Rset => rset::handle_rset(self),
            Request::Noop { .. } => noop::handle_noop(self),
            Request::Quit => quit::handle_quit(self),
            Request::Vrfy { .. } => vrfy::handle_vrfy(self),
            Request::Help { .. } => {
                self.reply(reply::help());
                Flow::Continue
            }
            Request::Expn { .. }
            | Request::Etrn { .. }
            | Request::Atrn { .. }
            | Request::Burl { .. } => {
                let verb = self.verb;
                self.refuse(verb, reply::not_implemented(verb))
            }
        }
    }

    /// Whether this session's protocol trace is on.
    fn traced(&self) -> bool {
        trace::wanted(
            self.peer.ip(),
            self.state.account.as_ref().map(|a| a.address.as_str()),
        )
    }

    /// Queues a reply (sent at the next flush) and counts it.
    pub(super) fn reply(&mut self, r: Reply) {
        METRICS
            .commands
            .with_label_values(&[self.verb, class(&r)])
            .inc();
        if self.traced() {
            trace::reply(&self.id, Protocol::Smtp, &r.to_wire());
        }
        if r.is_error() {
            tracing::debug!(session = %self.id, verb = self.verb, code = r.code, text = r.text(), "refused");
        }
        r.encode(self.conn.out());
    }

    /// Queues a refusal that counts towards the error limit.
    pub(super) fn refuse(&mut self, verb: &'static str, r: Reply) -> Flow {
        self.verb = verb;
        self.state.errors += 1;
        self.reply(r);
        Flow::Continue
    }

    /// Asks the listener's policy checks at `stage` (with the sender about to be given at MAIL,
    /// the recipient at RCPT); the refusal, when one refuses.
    pub(super) async fn policy(
        &mut self,
        stage: Stage,
        sender: Option<&str>,
        recipient: Option<&str>,
    ) -> Option<Reply> {
        let ctx = self.ctx.clone();
        let state = &mut self.state;
        let mut marks = match state.mail.as_mut() {
            Some(m) => std::mem::take(&mut m.marks),
            None => std::mem::take(&mut state.marks),
        };
        let recipients: Vec<&str> = match (stage, &state.mail) {
            (Stage::Data, Some(m)) => m.recipients.iter().map(|r| r.address.as_str()).collect(),
            _ => Vec::new(),
        };
        let accounts: Vec<u64> = match (stage, &state.mail) {
            (Stage::Data, Some(m)) => {
                let all: std::collections::BTreeSet<u64> = m
                    .recipients
                    .iter()
                    .flat_map(|r| r.accounts.iter().copied())
                    .collect();
                all.into_iter().collect()
            }
            _ => Vec::new(),
        };
        let forwarded: Vec<&str> = match (stage, &state.mail) {
            (Stage::Data, Some(m)) => m
                .recipients
                .iter()
                .filter(|r| r.remote.iter().any(|t| t != &r.address))
                .map(|r| r.address.as_str())
                .collect(),
            _ => Vec::new(),
        };
        let facts = Facts {
            peer: self.peer.ip(),
            helo: state.helo.as_deref(),
            sender: sender.or(state.mail.as_ref().map(|m| m.from.as_str())),
            recipient,
            recipients: &recipients,
            accounts: &accounts,
            forwarded: &forwarded,
            message: match stage {
                Stage::Data => state.mail.as_ref().map(|m| m.body.as_slice()),
                _ => None,
            },
            account: state.account.as_ref().map(|a| a.address.as_str()),
        };
        let decision = ctx
            .policy
            .of(self.kind)
            .run(stage, &facts, &mut state.trusted, &mut marks)
            .await;
        match state.mail.as_mut() {
            Some(m) => m.marks = marks,
            None => state.marks = marks,
        }
        match decision {
            Decision::Proceed => None,
            Decision::Refuse(check, r) => {
                tracing::info!(session = %self.id, check, stage = stage.label(), code = r.code, "refused by policy");
                Some(r)
            }
        }
    }

    /// Counts a refused message (or recipient) by reason and queues the refusal.
    pub(super) fn reject(&mut self, verb: &'static str, reason: &'static str, r: Reply) -> Flow {
        METRICS.messages.with_label_values(&[reason]).inc();
        self.refuse(verb, r)
    }

    /// Sends what is queued.
    pub(super) async fn flush(&mut self) -> std::io::Result<()> {
        self.conn.flush().await
    }

    async fn next_request(&mut self) -> Result<Parsed, ReadError> {
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
            trace::command(&self.id, Protocol::Smtp, &line);
        }
        parsed
    }

    /// Reads a message body (DATA) or one chunk (BDAT) into the open transaction's buffer, or
    /// into nothing when there is none. Stops at once when the body passes the size limit or
    /// the node's input memory budget has no room for it: the rest is not read.
    pub(super) async fn read_body(&mut self, kind: BodyKind) -> Result<BodyEnd, ReadError> {
        let limit = self.ctx.config.max_message_bytes;
        let mut scratch = Vec::new();
        let already = self.state.mail.as_ref().map_or(0, |m| m.body.len());
        let mut body = Body::new(kind, already, limit);
        if body.overflowed() {
            return Ok(BodyEnd::TooBig);
        }
        let config = &self.ctx.config;
        let mut pace = Pace::new(config.data_timeout, config.min_data_rate);
        let session_ends = tokio::time::Instant::from_std(self.started + config.max_session);
        loop {
            if !self.conn.pending().is_empty() || kind == BodyKind::Bdat(0) {
                let target = match self.state.mail.as_mut() {
                    Some(m) => &mut m.body,
                    None => &mut scratch,
                };
                let (used, done) = body.ingest(self.conn.pending(), target);
                self.conn.consume(used);
                scratch.clear();
                pace.received(used);
                METRICS.bytes.inc_by(used as u64);
                if body.overflowed() {
                    return Ok(BodyEnd::TooBig);
                }
                if let Some(m) = self.state.mail.as_mut()
                    && let Some(memory) = m.memory.as_mut()
                    && !memory.cover(m.body.len() as u64)
                {
                    return Ok(BodyEnd::NoMemory);
                }
                if done {
                    return Ok(BodyEnd::Complete);
                }
            }
            // Too slow (a trickle) or past the session's total time: the read times out.
            self.conn
                .fill_until(pace.deadline().min(session_ends))
                .await?;
        }
    }

    /// Closes after a refusal the client may still be sending into.
    pub(super) async fn close_draining(&mut self) {
        self.conn
            .close_draining(std::time::Duration::from_secs(2), 1 << 20)
            .await;
    }

    /// Reads one line (a SASL response), without its CRLF.
    pub(super) async fn read_line(&mut self) -> Result<Option<String>, ReadError> {
        let idle = self.ctx.config.idle_timeout;
        let line = self.conn.read_line(MAX_SASL_LINE, idle).await;
        if self.traced() {
            trace::sasl(&self.id, Protocol::Smtp);
        }
        line
    }

    /// Whether the connection is encrypted.
    pub(super) fn is_tls(&self) -> bool {
        self.conn.is_tls()
    }

    /// Whether AUTH may be offered and used now.
    pub(super) fn auth_allowed(&self) -> bool {
        self.is_tls() || !self.ctx.config.auth_requires_tls
    }

    /// The protocol keyword for `Received:` (RFC 3848).
    pub(super) fn protocol(&self) -> &'static str {
        match (
            self.state.esmtp,
            self.is_tls(),
            self.state.account.is_some(),
        ) {
            (false, _, _) => "SMTP",
            (true, false, false) => "ESMTP",
            (true, true, false) => "ESMTPS",
            (true, false, true) => "ESMTPA",
            (true, true, true) => "ESMTPSA",
        }
    }
}

fn class(r: &Reply) -> &'static str {
    match r.class() {
        2 => "2xx",
        3 => "3xx",
        4 => "4xx",
        _ => "5xx",
    }
}
