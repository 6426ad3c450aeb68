//! One IMAP session: its state, the command loop over [`Reader`] (each command goes through
//! `dispatch.rs`), response helpers that count every tagged result, the autologout timer and
//! error limit, and the one place where store and model errors become tagged `NO` responses.

use std::{net::SocketAddr, sync::Arc, time::Instant};

use tern_proto::imap::{
    reader::{Event, Limits, Reader, Refusal},
    response::{self, Extra},
    sequence::{out_of_range, resolve},
    types::{
        core::Tag,
        response::{Code, StatusKind},
        sequence::SequenceSet,
    },
};
use tern_store::model::{Account, Mailbox, ModelError};
use tokio::io::{AsyncRead, AsyncWrite};

use super::{
    ImapContext, ListenerKind, capability,
    metrics::METRICS,
    selected::{Reporting, Selected},
};
use crate::{
    live::sessions::{Entry, Stop},
    net::{
        conn::{Conn, ReadError},
        pace::Pace,
        stream::MaybeTls,
    },
    trace,
};

/// The refusal for a full disk, as Dovecot words it (with `[OVERQUOTA]`).
pub(super) const NO_SPACE: &str = "Not enough disk space";

/// Whether the session goes on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// Read the next command.
    Continue,
    /// Close the connection.
    Close,
}

/// What a missing mailbox is answered with.
#[derive(Debug, Clone, Copy)]
pub enum Missing {
    /// `[NONEXISTENT]`.
    Nonexistent,
    /// `[TRYCREATE]`: the target of APPEND, COPY or MOVE.
    TryCreate,
}

/// An IMAP session over any stream.
pub struct Session<S> {
    pub(super) ctx: Arc<ImapContext>,
    pub(super) kind: ListenerKind,
    pub(super) conn: Conn<S>,
    pub(super) reader: Reader,
    pub(super) peer: SocketAddr,
    pub(super) id: String,
    pub(super) account: Option<Account>,
    pub(super) selected: Option<Selected>,
    pub(super) reporting: Reporting,
    /// Whether the running command addresses messages by sequence number.
    pub(super) by_seq: bool,
    pub(super) auth_failures: u32,
    pub(super) errors: u32,
    pub(super) command: &'static str,
    /// NOTIFY settings (RFC 5465), when the client set them.
    pub(super) notify: Option<Box<super::notify::Notify>>,
    started: Instant,
    /// When the client's last command was done (the autologout clock, which notifications
    /// sent meanwhile do not reset).
    heard: Instant,
    /// What the node's session list shows of it; how a kick reaches it.
    pub(super) live: Arc<Entry>,
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
        ctx: Arc<ImapContext>,
        kind: ListenerKind,
        io: MaybeTls<S>,
        peer: SocketAddr,
    ) -> Self {
        // Until login, a client is held to small lines and literals.
        let before_login = ctx.config.max_bytes_before_login;
        let limits = Limits {
            max_line: before_login.min(ctx.config.max_line_bytes),
            max_literal: before_login.min(ctx.config.max_append_bytes),
        };
        let reader = Reader::with_budget(limits, ctx.budget.clone());
        let conn = Conn::new(io, ctx.config.write_timeout);
        let id = format!("{:016x}", rand::random::<u64>());
        let live = Entry::new(&id, "imap", kind.label(), peer, conn.wire());
        live.state("not authenticated");
        Self {
            live,
            ctx,
            kind,
            conn,
            reader,
            peer,
            id,
            account: None,
            selected: None,
            reporting: Reporting::default(),
            by_seq: false,
            auth_failures: 0,
            errors: 0,
            command: "GREETING",
            notify: None,
            started: Instant::now(),
            heard: Instant::now(),
        }
    }

    /// Runs the session to its end.
    pub async fn run(mut self) {
        let label = self.kind.label();
        METRICS.sessions.with_label_values(&[label]).inc();
        METRICS.sessions_active.with_label_values(&[label]).inc();
        tracing::info!(session = %self.id, peer = %self.peer, listener = label, tls = self.conn.is_tls(), "IMAP session started");
        let caps = capability::code(&self);
        let greeting = format!("{} Tern IMAP ready", self.ctx.hostname);
        response::greeting(self.conn.out(), Some(caps), &greeting);
        let stopped = self.live.stopped(&self.ctx.shutdown);
        tokio::pin!(stopped);
        loop {
            // With NOTIFY, changes are told between commands as they happen.
            let (followed, selected) = match self.reader.between_commands() {
                true => super::push::receivers(&self),
                false => (None, None),
            };
            let event = tokio::select! {
                e = self.next_event() => e,
                stop = &mut stopped => {
                    self.goodbye(stop);
                    break;
                }
                () = super::push::changed(followed) => {
                    if !Box::pin(super::push::push_followed(&mut self)).await {
                        break;
                    }
                    continue;
                }
                () = super::push::changed(selected) => {
                    if !Box::pin(super::push::push_selected(&mut self)).await {
                        break;
                    }
                    continue;
                }
            };
            let flow = match event {
                Ok(Event::Continue) => {
                    response::continuation(self.conn.out(), "ready for literal data");
                    Flow::Continue
                }
                Ok(Event::Command(c, extras)) => self.dispatch(*c, *extras).await,
                Ok(Event::Refused { tag, why }) => self.refused(tag, why),
                Ok(Event::AuthData(_) | Event::IdleDone | Event::NeedMore) => Flow::Continue,
                Err(ReadError::Timeout) => {
                    response::bye(self.conn.out(), None, "autologout: idle for too long");
                    break;
                }
                Err(ReadError::Closed) => break,
            };
            // The autologout clock starts again when a command is done (an IDLE may have
            // lasted most of it).
            self.heard = Instant::now();
            if flow == Flow::Close || !self.conn.flush_if_large().await {
                break;
            }
            self.publish();
            if self.errors >= self.ctx.config.max_errors {
                response::bye(self.conn.out(), None, "too many bad commands, closing");
                break;
            }
        }
        self.selected = None;
        self.conn.close().await;
        METRICS.sessions_active.with_label_values(&[label]).dec();
        if let Some((plain, compressed)) = self.conn.compressed_output() {
            METRICS
                .compress_bytes
                .with_label_values(&["plain"])
                .inc_by(plain);
            METRICS
                .compress_bytes
                .with_label_values(&["compressed"])
                .inc_by(compressed);
            tracing::info!(session = %self.id, plain, compressed, "IMAP session sent compressed");
        }
        tracing::info!(session = %self.id, seconds = self.started.elapsed().as_secs_f64(), "IMAP session ended");
    }

    /// The `BYE` of a session the node stops.
    pub(super) fn goodbye(&mut self, stop: Stop) {
        match stop {
            Stop::Shutdown => response::bye(
                self.conn.out(),
                Some(Extra::Unavailable.code()),
                "server shutting down, please reconnect",
            ),
            Stop::Kicked => {
                response::bye(self.conn.out(), None, "session ended by the administrator")
            }
        }
    }

    /// Shows the account and state in the node's session list.
    fn publish(&self) {
        let account = self.account.as_ref().map(|a| a.address.as_str());
        match (&self.selected, account) {
            (Some(s), _) => self
                .live
                .show(account, &format!("selected {}", s.mailbox.name)),
            (None, Some(_)) => self.live.show(account, "authenticated"),
            (None, None) => self.live.show(None, "not authenticated"),
        }
    }

    /// The next framing event, reading as needed. The client may be silent `idle_timeout`
    /// between commands, and has `login_timeout` from connecting to log in. A command
    /// that has begun must then arrive within `command_timeout` plus what its bytes earn at
    /// `min_literal_rate`, so a trickling client is cut off.
    pub(super) async fn next_event(&mut self) -> Result<Event, ReadError> {
        let config = &self.ctx.config;
        let mut waiting = tokio::time::Instant::from_std(self.heard + config.idle_timeout);
        if self.account.is_none() {
            waiting = waiting.min(tokio::time::Instant::from_std(
                self.started + config.login_timeout,
            ));
        }
        self.next_event_by(Some(waiting)).await
    }

    /// The next event, with `waiting` the time a client that has not begun a command may
    /// take (`None`: no limit here, the caller keeps the clock); a command once begun must
    /// arrive at the session's pace.
    pub(super) async fn next_event_by(
        &mut self,
        waiting: Option<tokio::time::Instant>,
    ) -> Result<Event, ReadError> {
        let config = &self.ctx.config;
        let (command_timeout, min_rate) = (config.command_timeout, config.min_literal_rate);
        let mut pace: Option<Pace> = None;
        loop {
            match self.reader.next_event() {
                Event::NeedMore => {}
                e => return Ok(e),
            }
            if pace.is_none() && !self.reader.between_commands() {
                pace = Some(Pace::new(command_timeout, min_rate));
            }
            let deadline = match (&pace, waiting) {
                (Some(p), Some(w)) if self.account.is_none() => Some(p.deadline().min(w)),
                (Some(p), _) => Some(p.deadline()),
                (None, w) => w,
            };
            let n = self.conn.fill(deadline).await?;
            if let Some(p) = pace.as_mut() {
                p.received(n);
            }
            let pending = self.conn.pending().len();
            self.reader.push(self.conn.pending());
            self.conn.consume(pending);
        }
    }

    /// Logs the session in as `account`: from now on the full caps apply.
    pub(super) fn logged_in(&mut self, account: Account) {
        self.account = Some(account);
        self.reader.set_limits(Limits {
            max_line: self.ctx.config.max_line_bytes,
            max_literal: self.ctx.config.max_append_bytes,
        });
    }

    fn refused(&mut self, tag: Option<Tag<'static>>, why: Refusal) -> Flow {
        self.command = "INVALID";
        let Limits {
            max_line,
            max_literal: max,
        } = self.reader.limits();
        match why {
            Refusal::LiteralTooBig(n) => self.reply(
                tag.as_ref(),
                StatusKind::No,
                Some(Code::TooBig),
                &format!("literal of {n} bytes is over the limit of {max} bytes"),
            ),
            Refusal::TooLong => self.reply(
                tag.as_ref(),
                StatusKind::Bad,
                Some(Code::TooBig),
                &format!(
                    "command over the limits ({max_line} bytes per line, {max} per literal); nothing was done"
                ),
            ),
            Refusal::Busy => {
                crate::net::budget::refused("imap");
                tracing::warn!(session = %self.id, "literal refused: the node's input memory budget is used up");
                self.reply(
                    tag.as_ref(),
                    StatusKind::No,
                    Some(Extra::Unavailable.code()),
                    "the server is short of memory for this literal; try again later",
                )
            }
            Refusal::Syntax => self.reply(
                tag.as_ref(),
                StatusKind::Bad,
                Some(Extra::ClientBug.code()),
                "unknown command or invalid arguments",
            ),
            Refusal::Unsupported(why) => {
                self.reply(tag.as_ref(), StatusKind::Bad, Some(Extra::Cannot.code()), &why)
            }
        }
        self.errors += 1;
        Flow::Continue
    }

    /// Whether this session's protocol trace is on.
    pub(super) fn traced(&self) -> bool {
        trace::wanted(
            self.peer.ip(),
            self.account.as_ref().map(|a| a.address.as_str()),
        )
    }

    /// Brings the selected view up to date (untagged responses), then answers OK.
    pub(super) async fn done(&mut self, tag: &Tag<'_>, code: Option<Code<'_>>, text: &str) -> Flow {
        if let Err(e) = self.sync().await {
            return self.fail(tag, e.into());
        }
        self.ok(tag, code, text)
    }

    /// Writes what changed in the selected mailbox, read from the store; expunges wait while a
    /// command uses sequence numbers. Returns whether anything was written.
    pub(super) async fn sync(&mut self) -> Result<bool, tern_store::StoreError> {
        self.sync_with(None).await
    }

    /// Like [`Session::sync`], from the mailbox actor's `delta` when it follows on from the
    /// view (IDLE notifications: one store read for all sessions).
    pub(super) async fn sync_with(
        &mut self,
        delta: Option<std::sync::Arc<super::hub::Delta>>,
    ) -> Result<bool, tern_store::StoreError> {
        let allow_expunge = !self.by_seq;
        let reporting = self.reporting;
        let db = self.ctx.dir.db().clone();
        let Some(sel) = self.selected.as_mut() else {
            return Ok(false);
        };
        let before = self.conn.out().len();
        let last = sel.uids.last().unwrap_or(0);
        let changed = sel
            .sync(
                &db,
                self.conn.out(),
                allow_expunge,
                reporting,
                delta.as_deref(),
            )
            .await?;
        let arrived: Vec<u32> = match (changed, self.notify.as_ref()) {
            (true, Some(n)) if n.new_items.is_some() => {
                let mut new: Vec<u32> = (0..sel.uids.len())
                    .rev()
                    .map_while(|i| sel.uids.uid_at(i).filter(|u| *u > last))
                    .collect();
                new.reverse();
                new
            }
            _ => Vec::new(),
        };
        if changed && !sel.contexts.is_empty() {
            super::context::refresh(self).await?;
        }
        if let Some(items) = self.notify.as_ref().and_then(|n| n.new_items.clone())
            && !arrived.is_empty()
        {
            super::fetch::announce(self, &arrived, items).await?;
        }
        Ok(self.conn.out().len() > before)
    }

    /// The account's mailbox `name`; when there is none, `None` after a tagged NO with
    /// `[NONEXISTENT]`, or `[TRYCREATE]` for the target of APPEND, COPY and MOVE.
    pub(super) async fn mailbox_named(
        &mut self,
        tag: &Tag<'_>,
        name: &str,
        missing: Missing,
    ) -> Option<Mailbox> {
        match self.ctx.dir.mailbox(self.account().id, name).await {
            Ok(Some(m)) => Some(m),
            Ok(None) => {
                let (code, text) = match missing {
                    Missing::Nonexistent => (
                        Extra::Nonexistent.code(),
                        format!("no mailbox named {name}"),
                    ),
                    Missing::TryCreate => (
                        Code::TryCreate,
                        format!("no mailbox named {name}; create it first"),
                    ),
                };
                self.no(tag, Some(code), &text);
                None
            }
            Err(e) => {
                self.fail(tag, e);
                None
            }
        }
    }

    /// The selected view's UIDs and the positions `set` names in it; `None` after the refusal
    /// when nothing is selected, when `write` and the mailbox is read-only (`NO [READ-ONLY]`),
    /// or when a sequence number is past the end (`BAD`).
    pub(super) fn named_messages(
        &mut self,
        tag: &Tag<'_>,
        set: &SequenceSet,
        by_uid: bool,
        write: bool,
    ) -> Option<(Vec<u32>, Vec<usize>)> {
        let Some(sel) = self.selected.as_ref() else {
            self.bad(tag, None, "no mailbox selected");
            return None;
        };
        if write && sel.read_only {
            self.no(
                tag,
                Some(Code::ReadOnly),
                "the mailbox is open read-only (EXAMINE)",
            );
            return None;
        }
        let uids = sel.uids();
        if !by_uid && out_of_range(set, uids.len()) {
            let text = format!(
                "no message with that sequence number (the mailbox has {})",
                uids.len()
            );
            self.bad(tag, None, &text);
            return None;
        }
        let positions = resolve(set, &uids, by_uid);
        Some((uids, positions))
    }

    /// The logged-in account.
    pub(super) fn account(&self) -> &Account {
        self.account.as_ref().expect("dispatch checks the login")
    }

    /// The logged-in account as stored now (its quota and permissions may have changed since
    /// login).
    pub(super) async fn fresh_account(&mut self) -> Result<Account, ModelError> {
        let id = self.account().id;
        self.ctx
            .dir
            .account(id)
            .await?
            .ok_or_else(|| ModelError::NotFound("the account".into()))
    }

    /// Whether LOGIN and AUTHENTICATE may be used now.
    pub(super) fn plaintext_allowed(&self) -> bool {
        self.conn.is_tls() || !self.ctx.config.plaintext_requires_tls
    }
}
