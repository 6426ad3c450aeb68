//! The Tern node as a library: configuration, listeners, sessions, actors, the outbound queue,
//! metrics and the admin API. The `tern` binary is a thin command line over [`serve`]; tests
//! build nodes in-process with [`serve::Node`].

pub mod admin;
pub mod alloc;
pub mod config;
pub mod delivery;
pub mod dev;
pub mod dkim;
pub mod dmarc_reports;
pub mod dns;
pub mod dns_metrics;
pub mod doctor;
pub mod envelopes;
pub mod filer;
pub mod headroom;
pub mod imap;
pub mod limits;
pub mod live;
pub mod logging;
pub mod memory;
pub mod metrics;
pub mod net;
pub mod notices;
pub mod password_check;
pub mod policy;
pub mod pop3;
pub mod queue;
pub mod serve;
pub mod shutdown;
pub mod smtp;
#[cfg(test)]
mod testing;
pub mod throttle;
pub mod tls;
pub mod trace;
pub mod tracking;
