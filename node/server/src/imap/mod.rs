//! IMAP: listeners on 143 (STARTTLS; LOGINDISABLED until TLS by default) and 993 (implicit
//! TLS), one session actor per connection, one file per command, a mailbox actor per open
//! mailbox on the node that fans changes out to selected and IDLE sessions, and each
//! session's own view of its selected mailbox so sequence numbers stay consistent.

mod append;
mod authenticate;
mod base_subject;
mod capability;
mod catenate;
mod close;
mod compress;
mod context;
mod convert;
mod copy;
mod create;
mod delete;
mod dispatch;
mod enable;
mod expunge;
mod fetch;
pub(crate) mod filing;
pub mod hub;
mod id;
mod idle;
pub mod index;
mod list;
pub mod listener;
mod listing;
mod login;
pub mod metrics;
mod names;
mod namespace;
mod noop;
mod notify;
mod push;
mod quota;
mod rename;
mod respond;
mod search;
mod section;
mod select;
mod selected;
pub mod session;
mod sort;
mod starttls;
mod status;
mod store;
mod subscribe;
#[cfg(test)]
mod tests;
mod thread;
mod threading;
mod watcher;

use std::sync::Arc;

use tern_store::model::Directory;

use crate::{
    config::ImapConfig, net::limits::ConnectionLimits, shutdown::Shutdown, tls::TlsConfig,
};

/// Which IMAP port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenerKind {
    /// 143, STARTTLS.
    Imap,
    /// 993, implicit TLS.
    Imaps,
}

impl ListenerKind {
    /// Label for metrics and logs.
    pub fn label(self) -> &'static str {
        match self {
            ListenerKind::Imap => "imap",
            ListenerKind::Imaps => "imaps",
        }
    }
}

/// What every IMAP session on the node shares.
pub struct ImapContext {
    /// Limits and policy.
    pub config: ImapConfig,
    /// Host name for the greeting.
    pub hostname: String,
    /// Directory and store.
    pub dir: Directory,
    /// TLS for STARTTLS and 993.
    pub tls: Option<Arc<TlsConfig>>,
    /// Node shutdown.
    pub shutdown: Shutdown,
    /// The node's running sessions (this protocol's register here).
    pub sessions: crate::live::sessions::Sessions,
    /// Connection counts.
    pub limits: ConnectionLimits,
    /// The node's mailbox actors.
    pub hub: hub::Hub,
    /// Envelopes for SEARCH and SORT.
    pub envelopes: Arc<crate::envelopes::Envelopes>,
    /// Disk headroom for new mail.
    pub headroom: Arc<crate::headroom::Headroom>,
    /// Node-wide memory for literals.
    pub budget: Arc<crate::net::budget::Budget>,
    /// Learns from moves into and out of Junk, when on.
    pub learner: Option<Arc<crate::policy::learn::Learner>>,
}
