//! Client sessions as they run. Each session publishes who and where it is (protocol, listener,
//! client, TLS, account, state, bytes) in its [`Entry`]; the node's [`Sessions`] registry holds
//! the entries of running sessions with their connection actors, lists them, and kicks them by
//! sending their actors [`ConnectionMsg::Kick`]. A kicked session says its protocol's goodbye
//! at its next wait for the client, the way it does at shutdown, in words of its own.

use std::{
    collections::HashMap,
    future::Future,
    net::{IpAddr, SocketAddr},
    sync::{Arc, Mutex},
};

use ractor::ActorRef;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::metrics::METRICS;
use crate::{
    net::{actor::ConnectionMsg, conn::Wire},
    shutdown::Shutdown,
};

/// Why a session stops before its client is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The node is shutting down.
    Shutdown,
    /// An operator ended it (`ternctl sessions kick`).
    Kicked,
}

/// What a session shows of itself.
#[derive(Debug, Default, PartialEq, Eq)]
struct Shown {
    account: Option<String>,
    state: String,
}

/// One running session, as the registry sees it.
pub struct Entry {
    /// The session id its log lines carry.
    pub id: String,
    /// `smtp`, `imap` or `pop3`.
    pub protocol: &'static str,
    /// The listener's configuration key (`submission`, `imaps`, ...).
    pub listener: &'static str,
    /// The client (from the PROXY header where the listener takes one).
    pub peer: SocketAddr,
    since: i64,
    wire: Arc<Wire>,
    shown: Mutex<Shown>,
    kick: watch::Sender<bool>,
}

impl Entry {
    /// The entry of a session starting now.
    pub fn new(
        id: &str,
        protocol: &'static str,
        listener: &'static str,
        peer: SocketAddr,
        wire: Arc<Wire>,
    ) -> Arc<Entry> {
        Arc::new(Entry {
            id: id.to_string(),
            protocol,
            listener,
            peer,
            since: tern_store::model::now(),
            wire,
            shown: Mutex::new(Shown {
                account: None,
                state: "greeting".into(),
            }),
            kick: watch::channel(false).0,
        })
    }

    /// Publishes the session's account and state (cheap when neither changed).
    pub fn show(&self, account: Option<&str>, state: &str) {
        if let Ok(mut shown) = self.shown.lock()
            && (shown.account.as_deref() != account || shown.state != state)
        {
            shown.account = account.map(str::to_string);
            shown.state = state.to_string();
        }
    }

    /// Publishes the session's state, keeping its account.
    pub fn state(&self, state: &str) {
        if let Ok(mut shown) = self.shown.lock()
            && shown.state != state
        {
            shown.state = state.to_string();
        }
    }

    /// Asks the session to end.
    pub fn kick(&self) {
        self.kick.send_replace(true);
    }

    /// Resolves when the node shuts down or the session is kicked, saying which.
    pub fn stopped(&self, node: &Shutdown) -> impl Future<Output = Stop> + Send + 'static {
        let node = node.wait();
        let mut kick = self.kick.subscribe();
        async move {
            let kicked = async move {
                // The sender lives as long as the entry, which the session holds.
                if kick.wait_for(|k| *k).await.is_err() {
                    std::future::pending::<()>().await;
                }
            };
            tokio::select! {
                biased;
                _ = node => Stop::Shutdown,
                _ = kicked => Stop::Kicked,
            }
        }
    }

    /// What `ternctl sessions list` shows of it.
    pub fn info(&self, node: u64) -> Info {
        let (account, state) = match self.shown.lock() {
            Ok(s) => (s.account.clone(), s.state.clone()),
            Err(_) => (None, String::new()),
        };
        Info {
            id: self.id.clone(),
            node,
            protocol: self.protocol.to_string(),
            listener: self.listener.to_string(),
            account,
            client: self.peer.to_string(),
            tls: self.wire.is_tls(),
            since: self.since,
            state,
            bytes_in: self.wire.received(),
            bytes_out: self.wire.sent(),
        }
    }
}

/// A session as listed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Info {
    /// Session id (as in its log lines).
    pub id: String,
    /// The node serving it.
    pub node: u64,
    /// `smtp`, `imap` or `pop3`.
    pub protocol: String,
    /// Listener key.
    pub listener: String,
    /// The logged-in account, if any.
    pub account: Option<String>,
    /// Client address and port.
    pub client: String,
    /// Whether TLS is active.
    pub tls: bool,
    /// Start, Unix seconds.
    pub since: i64,
    /// What it is doing (`authenticated`, `selected INBOX`, `idle INBOX`, `mail`, ...).
    pub state: String,
    /// Bytes received.
    pub bytes_in: u64,
    /// Bytes sent.
    pub bytes_out: u64,
}

/// Which sessions a listing wants (every field that is set must match).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Filter {
    /// Logged in as this account (case-insensitive).
    pub account: Option<String>,
    /// From this client address.
    pub ip: Option<IpAddr>,
    /// Of this protocol (`smtp`, `imap`, `pop3`).
    pub protocol: Option<String>,
}

impl Filter {
    fn matches(&self, e: &Entry, shown: &Shown) -> bool {
        self.ip.is_none_or(|ip| ip == e.peer.ip())
            && self
                .protocol
                .as_deref()
                .is_none_or(|p| p.eq_ignore_ascii_case(e.protocol))
            && self.account.as_deref().is_none_or(|a| {
                shown
                    .account
                    .as_deref()
                    .is_some_and(|s| s.eq_ignore_ascii_case(a))
            })
    }
}

/// Which sessions a kick ends.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Target {
    /// The session with this id.
    Id(String),
    /// Every session logged in as this account.
    Account(String),
}

type Running = HashMap<String, (Arc<Entry>, ActorRef<ConnectionMsg>)>;

/// The node's running sessions.
#[derive(Clone)]
pub struct Sessions {
    node: u64,
    running: Arc<Mutex<Running>>,
}

/// A session's place in the registry, given up when dropped.
pub struct Registered {
    id: String,
    running: Arc<Mutex<Running>>,
}

impl Drop for Registered {
    fn drop(&mut self) {
        if let Ok(mut r) = self.running.lock() {
            r.remove(&self.id);
        }
    }
}

impl Sessions {
    /// The registry of node `node`.
    pub fn new(node: u64) -> Sessions {
        Sessions {
            node,
            running: Arc::default(),
        }
    }

    /// Adds a running session and its actor.
    pub fn register(&self, entry: Arc<Entry>, actor: ActorRef<ConnectionMsg>) -> Registered {
        let id = entry.id.clone();
        if let Ok(mut r) = self.running.lock() {
            r.insert(id.clone(), (entry, actor));
        }
        Registered {
            id,
            running: self.running.clone(),
        }
    }

    /// The sessions `filter` wants, oldest first.
    pub fn list(&self, filter: &Filter) -> Vec<Info> {
        let Ok(running) = self.running.lock() else {
            return Vec::new();
        };
        let mut out: Vec<Info> = running
            .values()
            .filter(|(e, _)| e.shown.lock().is_ok_and(|s| filter.matches(e, &s)))
            .map(|(e, _)| e.info(self.node))
            .collect();
        out.sort_by(|a, b| a.since.cmp(&b.since).then_with(|| a.id.cmp(&b.id)));
        out
    }

    /// Ends the sessions `target` names (through their actors); returns them as they were.
    pub fn kick(&self, target: &Target) -> Vec<Info> {
        let filter = match target {
            Target::Id(_) => Filter::default(),
            Target::Account(a) => Filter {
                account: Some(a.clone()),
                ..Filter::default()
            },
        };
        let Ok(running) = self.running.lock() else {
            return Vec::new();
        };
        let mut kicked = Vec::new();
        for (id, (entry, actor)) in running.iter() {
            let wanted = match target {
                Target::Id(want) => id == want,
                Target::Account(_) => entry.shown.lock().is_ok_and(|s| filter.matches(entry, &s)),
            };
            if !wanted {
                continue;
            }
            let info = entry.info(self.node);
            if actor.cast(ConnectionMsg::Kick).is_err() {
                // The actor is stopping: its session is ending anyway.
                continue;
            }
            METRICS.kicked.with_label_values(&[entry.protocol]).inc();
            tracing::info!(session = %entry.id, protocol = entry.protocol, account = info.account.as_deref().unwrap_or(""), client = %entry.peer, "operator: session kicked");
            kicked.push(info);
        }
        kicked
    }
}
