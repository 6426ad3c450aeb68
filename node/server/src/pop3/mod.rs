//! POP3: listeners on 110 (STLS) and 995 (implicit TLS), one session actor per connection, one
//! file per command, the INBOX as the maildrop, a store-held lease lock across nodes, and the
//! UPDATE state applied in one transaction.

mod auth;
mod capa;
mod dele;
mod list;
pub mod listener;
pub mod lock;
mod maildrop;
pub mod metrics;
mod noop;
mod pass;
mod quit;
mod retr;
mod rset;
pub mod session;
mod stat;
mod stls;
#[cfg(test)]
mod tests;
mod top;
mod uidl;
mod user;

use std::sync::Arc;

use tern_store::model::Directory;

use crate::{
    config::Pop3Config, net::limits::ConnectionLimits, shutdown::Shutdown, tls::TlsConfig,
};

/// Which POP3 port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenerKind {
    /// 110, STLS.
    Pop3,
    /// 995, implicit TLS.
    Pop3s,
}

impl ListenerKind {
    /// Label for metrics and logs.
    pub fn label(self) -> &'static str {
        match self {
            ListenerKind::Pop3 => "pop3",
            ListenerKind::Pop3s => "pop3s",
        }
    }
}

/// What every POP3 session shares.
pub struct Pop3Context {
    /// Limits and locking.
    pub config: Pop3Config,
    /// Host name for the greeting.
    pub hostname: String,
    /// Directory and store.
    pub dir: Directory,
    /// TLS for STLS and 995.
    pub tls: Option<Arc<TlsConfig>>,
    /// Node shutdown.
    pub shutdown: Shutdown,
    /// The node's running sessions (this protocol's register here).
    pub sessions: crate::live::sessions::Sessions,
    /// Connection counts.
    pub limits: ConnectionLimits,
}
