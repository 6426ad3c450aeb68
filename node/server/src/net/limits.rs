//! Connection limits: a node-wide maximum and a per-IP maximum (which trusted networks are
//! exempt from), held by a guard for the life of the connection.

use std::{
    collections::HashMap,
    net::IpAddr,
    sync::{Arc, Mutex},
};

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The node has too many connections.
    Node,
    /// This address has too many connections.
    Ip,
}

#[derive(Default)]
struct Counts {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
}

/// Counts live connections.
#[derive(Clone)]
pub struct ConnectionLimits {
    max_total: usize,
    max_per_ip: usize,
    exempt: Arc<Vec<ipnet::IpNet>>,
    counts: Arc<Mutex<Counts>>,
}

/// Releases one connection's slot when dropped.
pub struct Slot {
    ip: IpAddr,
    counts: Arc<Mutex<Counts>>,
}

impl ConnectionLimits {
    /// Limits of `max_total` connections, `max_per_ip` from one address.
    pub fn new(max_total: usize, max_per_ip: usize) -> Self {
        Self {
            max_total,
            max_per_ip,
            exempt: Arc::default(),
            counts: Arc::default(),
        }
    }

    /// The same limits, with connections from `networks` exempt from the per-IP one.
    pub fn exempting(mut self, networks: Vec<ipnet::IpNet>) -> Self {
        self.exempt = Arc::new(networks);
        self
    }

    /// Connections open now.
    pub fn active(&self) -> usize {
        self.counts.lock().expect("connection counts lock").total
    }

    /// Takes a slot for a connection from `ip`.
    pub fn acquire(&self, ip: IpAddr) -> Result<Slot, Refusal> {
        let mut counts = self.counts.lock().expect("connection counts lock");
        if counts.total >= self.max_total {
            return Err(Refusal::Node);
        }
        let n = counts.per_ip.entry(ip).or_default();
        if *n >= self.max_per_ip && !self.exempt.iter().any(|net| net.contains(&ip)) {
            return Err(Refusal::Ip);
        }
        *n += 1;
        counts.total += 1;
        Ok(Slot {
            ip,
            counts: self.counts.clone(),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().expect("connection counts lock");
        counts.total = counts.total.saturating_sub(1);
        if let Some(n) = counts.per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                counts.per_ip.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_ip_and_total_limits() {
        let limits = ConnectionLimits::new(3, 2);
        let a: IpAddr = "127.0.0.1".parse().expect("ip");
        let b: IpAddr = "127.0.0.2".parse().expect("ip");
        let s1 = limits.acquire(a).expect("first");
        let _s2 = limits.acquire(a).expect("second");
        assert_eq!(limits.acquire(a).err(), Some(Refusal::Ip));
        let _s3 = limits.acquire(b).expect("other ip");
        assert_eq!(limits.acquire(b).err(), Some(Refusal::Node));
        drop(s1);
        assert!(limits.acquire(a).is_ok(), "a slot frees on drop");
    }

    #[test]
    fn trusted_networks_skip_the_per_ip_limit_not_the_total() {
        let trusted: ipnet::IpNet = "10.1.0.0/16".parse().expect("net");
        let limits = ConnectionLimits::new(4, 1).exempting(vec![trusted]);
        let relay: IpAddr = "10.1.2.3".parse().expect("ip");
        let other: IpAddr = "192.0.2.1".parse().expect("ip");
        let _o = limits.acquire(other).expect("first from other");
        assert_eq!(limits.acquire(other).err(), Some(Refusal::Ip));
        let held: Vec<Slot> = (0..3)
            .map(|_| limits.acquire(relay).expect("exempt"))
            .collect();
        assert_eq!(limits.acquire(relay).err(), Some(Refusal::Node));
        drop(held);
    }
}
