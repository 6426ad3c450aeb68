//! SMTP: the MX (25), submission (587, STARTTLS then AUTH) and submissions (465, implicit TLS)
//! listeners, one session actor per connection, one file per verb, and durable acceptance.

mod auth;
mod bdat;
mod data;
mod deliver;
mod ehlo;
mod helo;
pub mod listener;
mod mail;
pub mod metrics;
mod noop;
pub(crate) mod postmaster;
mod quit;
mod rcpt;
mod received;
mod rset;
pub mod session;
mod starttls;
#[cfg(test)]
mod tests;
mod vrfy;

use std::sync::Arc;

use tern_store::model::Directory;

use crate::{
    config::SmtpConfig, net::limits::ConnectionLimits, shutdown::Shutdown, tls::TlsConfig,
};

/// Which service a listener offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListenerKind {
    /// Port 25: mail for local domains from anyone; relay only when authenticated.
    Mx,
    /// Port 587: STARTTLS, then AUTH before MAIL.
    Submission,
    /// Port 465: TLS from the first byte, then AUTH before MAIL.
    Submissions,
}

impl ListenerKind {
    /// Label for metrics and logs.
    pub fn label(self) -> &'static str {
        match self {
            ListenerKind::Mx => "smtp",
            ListenerKind::Submission => "submission",
            ListenerKind::Submissions => "submissions",
        }
    }

    /// Whether MAIL requires AUTH.
    pub fn requires_auth(self) -> bool {
        !matches!(self, ListenerKind::Mx)
    }
}

/// What every SMTP session shares.
pub struct SmtpContext {
    /// Limits and policy.
    pub config: SmtpConfig,
    /// Host name for greetings and trace headers.
    pub hostname: String,
    /// Directory and store.
    pub dir: Directory,
    /// TLS for STARTTLS and implicit TLS.
    pub tls: Option<Arc<TlsConfig>>,
    /// Node shutdown.
    pub shutdown: Shutdown,
    /// Files accepted mail, batching deliveries to the same mailboxes.
    pub filer: crate::filer::Filer,
    /// The node's running sessions (this protocol's register here).
    pub sessions: crate::live::sessions::Sessions,
    /// Connection counts.
    pub limits: ConnectionLimits,
    /// Disk headroom for new mail.
    pub headroom: Arc<crate::headroom::Headroom>,
    /// Node-wide memory for message bodies.
    pub budget: Arc<crate::net::budget::Budget>,
    /// The inbound policy checks of each listener.
    pub policy: crate::policy::Policy,
}
