//! The outbound queue's open SMTP connections (a seed system's "SMTP monitor"): each delivery
//! worker registers the connection it holds, says which message it is sending on it, and counts
//! the messages it carried; `ternctl queue connections` lists them per destination.

use std::{
    collections::HashMap,
    net::SocketAddr,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

use serde::{Deserialize, Serialize};

use super::metrics::METRICS;

/// One open connection, as its worker updates it.
struct Conn {
    domain: String,
    host: String,
    address: SocketAddr,
    tls: bool,
    since: i64,
    messages: AtomicU64,
    sending: Mutex<Option<String>>,
}

/// A connection as listed.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Info {
    /// The node holding it.
    pub node: u64,
    /// Destination domain.
    pub domain: String,
    /// The host connected to (an MX, a relay host).
    pub host: String,
    /// Its address and port.
    pub address: String,
    /// Whether TLS is active.
    pub tls: bool,
    /// Opened, Unix seconds.
    pub since: i64,
    /// Messages sent on it so far.
    pub messages: u64,
    /// The queue id being sent now (none: idle between messages).
    pub sending: Option<String>,
}

type Open = HashMap<u64, Arc<Conn>>;

/// The node's open outbound connections.
#[derive(Clone)]
pub struct Outbound {
    node: u64,
    next: Arc<AtomicU64>,
    open: Arc<Mutex<Open>>,
}

/// A registered connection: updated by its worker, removed when dropped.
pub struct Registered {
    id: u64,
    conn: Arc<Conn>,
    open: Arc<Mutex<Open>>,
}

impl Registered {
    /// Marks `queue_id` as being sent on it (`None`: done).
    pub fn sending(&self, queue_id: Option<&str>) {
        if let Ok(mut s) = self.conn.sending.lock() {
            *s = queue_id.map(str::to_string);
        }
    }

    /// Counts one more message sent on it.
    pub fn sent(&self) {
        self.conn.messages.fetch_add(1, Ordering::Relaxed);
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        if let Ok(mut o) = self.open.lock()
            && o.remove(&self.id).is_some()
        {
            METRICS.outbound_open.dec();
        }
    }
}

impl Outbound {
    /// The registry of node `node`.
    pub fn new(node: u64) -> Outbound {
        Outbound {
            node,
            next: Arc::default(),
            open: Arc::default(),
        }
    }

    /// Adds a connection just opened to `host` at `address` for `domain`.
    pub fn opened(&self, domain: &str, host: &str, address: SocketAddr, tls: bool) -> Registered {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let conn = Arc::new(Conn {
            domain: domain.to_string(),
            host: host.to_string(),
            address,
            tls,
            since: tern_store::model::now(),
            messages: AtomicU64::new(0),
            sending: Mutex::new(None),
        });
        if let Ok(mut o) = self.open.lock() {
            o.insert(id, conn.clone());
            METRICS.outbound_open.inc();
        }
        Registered {
            id,
            conn,
            open: self.open.clone(),
        }
    }

    /// Every open connection, by destination and then age.
    pub fn list(&self) -> Vec<Info> {
        let Ok(open) = self.open.lock() else {
            return Vec::new();
        };
        let mut out: Vec<Info> = open
            .values()
            .map(|c| Info {
                node: self.node,
                domain: c.domain.clone(),
                host: c.host.clone(),
                address: c.address.to_string(),
                tls: c.tls,
                since: c.since,
                messages: c.messages.load(Ordering::Relaxed),
                sending: c.sending.lock().ok().and_then(|s| s.clone()),
            })
            .collect();
        out.sort_by(|a, b| (&a.domain, a.since).cmp(&(&b.domain, b.since)));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_connection_is_listed_while_registered_with_what_it_sends() {
        let outbound = Outbound::new(3);
        let addr: SocketAddr = "192.0.2.7:25".parse().expect("addr");
        let conn = outbound.opened("example.net", "mx.example.net", addr, true);
        conn.sending(Some("q1"));
        conn.sent();
        let listed = outbound.list();
        assert_eq!(listed.len(), 1);
        let c = &listed[0];
        assert_eq!((c.node, c.domain.as_str()), (3, "example.net"));
        assert_eq!((c.messages, c.sending.as_deref()), (1, Some("q1")));
        assert_eq!(c.address, "192.0.2.7:25");
        conn.sending(None);
        assert_eq!(outbound.list()[0].sending, None);
        drop(conn);
        assert!(outbound.list().is_empty());
    }
}
