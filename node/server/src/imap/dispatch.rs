//! Dispatch: one IMAP command to the file that handles it, after the state checks of
//! RFC 9051 §3 (not authenticated, authenticated, selected) and the protocol trace.

use tern_proto::imap::{
    extensions::{Extras, OwnCommand},
    response::{self, Extra},
    types::{
        command::{Command, CommandBody},
        core::Tag,
    },
};
use tokio::io::{AsyncRead, AsyncWrite};

use super::{
    append, authenticate, capability, close, compress, context, copy, create, delete, enable,
    expunge, fetch, id, idle, list, login, namespace, noop, notify, quota, rename, search, select,
    session::{Flow, Session},
    sort, starttls, status, store, subscribe, thread,
};
use crate::trace::{self, Protocol};

impl<S: AsyncRead + AsyncWrite + Unpin + Send> Session<S> {
    /// Runs one command. Each handler's future is boxed: the session's future, which every
    /// connection keeps for its lifetime (an IDLE client's for hours), then holds a pointer
    /// instead of room for the largest handler, and only the running one is allocated.
    pub(super) async fn dispatch(&mut self, c: Command<'static>, extras: Extras) -> Flow {
        if self.traced() {
            let line = match &c.body {
                // Not the message: a literal may be megabytes.
                CommandBody::Append { mailbox, .. } => {
                    format!("{} APPEND {mailbox:?} (message literal)", c.tag.as_ref())
                }
                _ => response::command_text(&c),
            };
            trace::command(&self.id, Protocol::Imap, &line);
        }
        let Command { tag, body } = c;
        self.command = body.name();
        if let Some(own) = extras.own {
            return self.dispatch_own(tag, own).await;
        }
        self.by_seq = matches!(
            body,
            CommandBody::Fetch { uid: false, .. }
                | CommandBody::Store { uid: false, .. }
                | CommandBody::Search { uid: false, .. }
                | CommandBody::Sort { uid: false, .. }
                | CommandBody::Thread { uid: false, .. }
        );
        tracing::debug!(session = %self.id, command = self.command, "IMAP command");
        let authed = self.account.is_some();
        let selected = self.selected.is_some();
        let moving = matches!(body, CommandBody::Move { .. });
        match body {
            CommandBody::Capability => capability::handle_capability(self, tag),
            CommandBody::Noop | CommandBody::Check => Box::pin(noop::handle_noop(self, tag)).await,
            CommandBody::Logout => {
                response::bye(self.conn.out(), None, "logging out");
                self.ok(&tag, None, "LOGOUT completed");
                Flow::Close
            }
            CommandBody::Id { parameters } => id::handle_id(self, tag, parameters),
            CommandBody::StartTLS if !authed => {
                Box::pin(starttls::handle_starttls(self, tag)).await
            }
            CommandBody::Login { username, password } if !authed => {
                Box::pin(login::handle_login(self, tag, username, password)).await
            }
            CommandBody::Authenticate {
                mechanism,
                initial_response,
            } if !authed => {
                Box::pin(authenticate::handle_authenticate(
                    self,
                    tag,
                    mechanism,
                    initial_response,
                ))
                .await
            }
            CommandBody::StartTLS
            | CommandBody::Login { .. }
            | CommandBody::Authenticate { .. } => self.bad(&tag, None, "already authenticated"),
            _ if !authed => self.bad(&tag, None, "log in first (LOGIN or AUTHENTICATE)"),
            CommandBody::Enable { capabilities } => enable::handle_enable(self, tag, capabilities),
            CommandBody::Select {
                mailbox,
                parameters,
            } => Box::pin(select::handle_select(self, tag, mailbox, parameters, false)).await,
            CommandBody::Examine {
                mailbox,
                parameters,
            } => Box::pin(select::handle_select(self, tag, mailbox, parameters, true)).await,
            CommandBody::Create { mailbox } => {
                Box::pin(create::handle_create(self, tag, mailbox, extras.create_use)).await
            }
            CommandBody::Delete { mailbox } => {
                Box::pin(delete::handle_delete(self, tag, mailbox)).await
            }
            CommandBody::Rename { from, to } => {
                Box::pin(rename::handle_rename(self, tag, from, to)).await
            }
            CommandBody::Subscribe { mailbox } => {
                Box::pin(subscribe::handle_subscribe(self, tag, mailbox, true)).await
            }
            CommandBody::Unsubscribe { mailbox } => {
                Box::pin(subscribe::handle_subscribe(self, tag, mailbox, false)).await
            }
            CommandBody::List {
                reference,
                mailbox_wildcard,
            } => {
                let options = extras.list.unwrap_or_default();
                Box::pin(list::handle_list(
                    self,
                    tag,
                    reference,
                    mailbox_wildcard,
                    false,
                    options,
                ))
                .await
            }
            CommandBody::Lsub {
                reference,
                mailbox_wildcard,
            } => {
                Box::pin(list::handle_list(
                    self,
                    tag,
                    reference,
                    mailbox_wildcard,
                    true,
                    Default::default(),
                ))
                .await
            }
            CommandBody::Namespace => namespace::handle_namespace(self, tag),
            CommandBody::Status {
                mailbox,
                item_names,
            } => {
                Box::pin(status::handle_status(
                    self,
                    tag,
                    mailbox,
                    item_names.into_owned(),
                ))
                .await
            }
            CommandBody::Append {
                mailbox,
                flags,
                date,
                message,
            } => {
                if extras.utf8_append && !self.reporting.utf8 {
                    return self.bad(
                        &tag,
                        Some(Extra::Cannot.code()),
                        "the UTF8 APPEND data item needs ENABLE UTF8=ACCEPT first (RFC 6855)",
                    );
                }
                let first = (flags, date, message);
                Box::pin(append::handle_append(
                    self,
                    tag,
                    mailbox,
                    first,
                    extras.more_appends,
                    extras.catenate,
                ))
                .await
            }
            CommandBody::Idle => Box::pin(idle::handle_idle(self, tag)).await,
            CommandBody::GetQuota { root } => {
                Box::pin(quota::handle_getquota(self, tag, root)).await
            }
            CommandBody::GetQuotaRoot { mailbox } => {
                Box::pin(quota::handle_getquotaroot(self, tag, mailbox)).await
            }
            CommandBody::SetQuota { .. } => self.no(
                &tag,
                Some(Extra::NoPerm.code()),
                "quotas are set by the administrator (ternctl account quota)",
            ),
            CommandBody::Compress { .. } => Box::pin(compress::handle_compress(self, tag)).await,
            _ if !selected => self.bad(&tag, None, "select a mailbox first"),
            CommandBody::Close => Box::pin(close::handle_close(self, tag, true)).await,
            CommandBody::Unselect => Box::pin(close::handle_close(self, tag, false)).await,
            CommandBody::Expunge => Box::pin(expunge::handle_expunge(self, tag, None)).await,
            CommandBody::ExpungeUid { sequence_set } => {
                Box::pin(expunge::handle_expunge(self, tag, Some(sequence_set))).await
            }
            CommandBody::Search {
                charset,
                criteria,
                uid,
            } => {
                Box::pin(search::handle_search(
                    self,
                    tag,
                    charset,
                    criteria,
                    uid,
                    extras.search_return,
                ))
                .await
            }
            CommandBody::Sort {
                sort_criteria,
                charset,
                search_criteria,
                uid,
            } => {
                Box::pin(sort::handle_sort(
                    self,
                    tag,
                    sort_criteria,
                    charset,
                    search_criteria,
                    uid,
                    extras.search_return,
                ))
                .await
            }
            CommandBody::Thread {
                algorithm,
                charset,
                search_criteria,
                uid,
            } => {
                Box::pin(thread::handle_thread(
                    self,
                    tag,
                    algorithm,
                    charset,
                    search_criteria,
                    uid,
                ))
                .await
            }
            CommandBody::Fetch {
                sequence_set,
                macro_or_item_names,
                uid,
                modifiers,
            } => {
                Box::pin(fetch::handle_fetch(
                    self,
                    tag,
                    sequence_set,
                    macro_or_item_names,
                    uid,
                    modifiers,
                ))
                .await
            }
            CommandBody::Store {
                sequence_set,
                kind,
                response,
                flags,
                uid,
                modifiers,
            } => {
                Box::pin(store::handle_store(
                    self,
                    tag,
                    sequence_set,
                    kind,
                    response,
                    flags,
                    uid,
                    modifiers,
                ))
                .await
            }
            CommandBody::Copy {
                sequence_set,
                mailbox,
                uid,
            }
            | CommandBody::Move {
                sequence_set,
                mailbox,
                uid,
            } => {
                Box::pin(copy::handle_copy(
                    self,
                    tag,
                    sequence_set,
                    mailbox,
                    uid,
                    moving,
                ))
                .await
            }
        }
    }

    /// Runs a command `imap-codec` has no variant for (in the authenticated state).
    async fn dispatch_own(&mut self, tag: Tag<'static>, own: OwnCommand) -> Flow {
        self.command = match own {
            OwnCommand::CancelUpdate(_) => "CANCELUPDATE",
            OwnCommand::Notify(_) => "NOTIFY",
        };
        if self.account.is_none() {
            return self.bad(&tag, None, "log in first (LOGIN or AUTHENTICATE)");
        }
        match own {
            OwnCommand::CancelUpdate(tags) => context::handle_cancelupdate(self, tag, tags),
            OwnCommand::Notify(n) => Box::pin(notify::handle_notify(self, tag, n)).await,
        }
    }
}
