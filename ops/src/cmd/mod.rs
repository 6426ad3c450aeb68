//! One file per noun of `ternctl`.

pub mod account;
pub mod alias;
pub mod backup;
pub mod catchall;
pub mod cluster;
pub mod dkim;
pub mod dmarc;
pub mod doctor;
pub mod domain;
pub mod forward;
pub mod log;
pub mod notices;
pub mod pop3;
pub mod queue;
pub mod recover;
pub mod restore;
pub mod security;
pub mod sessions;
pub mod spam;
pub mod trace;
pub mod transfer;
