//! Fair shares of the password-check slots: at most `per_ip` checks of one client address run at
//! once, and waiting checks are served round-robin across addresses, so one address flooding
//! the node with failed logins waits behind itself while other users' logins go through.

use std::{
    collections::{HashMap, VecDeque},
    net::IpAddr,
    sync::{Arc, Mutex},
};

use tokio::sync::oneshot;

#[derive(Default)]
struct State {
    running: usize,
    per_ip_running: HashMap<IpAddr, usize>,
    waiting: HashMap<IpAddr, VecDeque<oneshot::Sender<Slot>>>,
    /// Addresses with waiting checks, in the order they are served.
    ring: VecDeque<IpAddr>,
}

/// The shared slots.
pub struct FairPool {
    slots: usize,
    per_ip: usize,
    max_waiting_per_ip: usize,
    state: Mutex<State>,
}

/// A running check's slot, given back (and passed on) when dropped.
pub struct Slot {
    pool: Arc<FairPool>,
    ip: IpAddr,
    /// Whether dropping gives the slot back (not for one never handed over).
    counted: bool,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if self.counted {
            self.pool.release(self.ip);
        }
    }
}

impl FairPool {
    /// `slots` checks at once, at most `per_ip` of them (and `max_waiting_per_ip` waiting)
    /// from one address.
    pub fn new(slots: usize, per_ip: usize, max_waiting_per_ip: usize) -> Arc<Self> {
        Arc::new(FairPool {
            slots: slots.max(1),
            per_ip: per_ip.max(1),
            max_waiting_per_ip,
            state: Mutex::default(),
        })
    }

    /// Waits for a slot for a check from `ip`; `None` when that address already has too many
    /// checks waiting (shed without running).
    pub async fn acquire(self: &Arc<Self>, ip: IpAddr) -> Option<Slot> {
        let rx = {
            let mut state = self.state.lock().expect("pool lock");
            let queue_empty = state.waiting.get(&ip).is_none_or(VecDeque::is_empty);
            let running_here = state.per_ip_running.get(&ip).copied().unwrap_or(0);
            if queue_empty && state.running < self.slots && running_here < self.per_ip {
                state.running += 1;
                *state.per_ip_running.entry(ip).or_default() += 1;
                return Some(Slot {
                    pool: self.clone(),
                    ip,
                    counted: true,
                });
            }
            let queue = state.waiting.entry(ip).or_default();
            if queue.len() >= self.max_waiting_per_ip {
                return None;
            }
            let (tx, rx) = oneshot::channel();
            queue.push_back(tx);
            if !state.ring.contains(&ip) {
                state.ring.push_back(ip);
            }
            rx
        };
        rx.await.ok()
    }

    /// Checks waiting now.
    #[cfg(test)]
    fn waiting(&self) -> usize {
        let state = self.state.lock().expect("pool lock");
        state.waiting.values().map(VecDeque::len).sum()
    }

    fn release(self: &Arc<Self>, ip: IpAddr) {
        let mut state = self.state.lock().expect("pool lock");
        state.running -= 1;
        if let Some(n) = state.per_ip_running.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                state.per_ip_running.remove(&ip);
            }
        }
        self.dispatch(&mut state);
    }

    /// Hands free slots to waiting checks, one address at a time in ring order.
    fn dispatch(self: &Arc<Self>, state: &mut State) {
        let mut passes = state.ring.len();
        while state.running < self.slots && passes > 0 {
            let Some(ip) = state.ring.pop_front() else {
                break;
            };
            let running_here = state.per_ip_running.get(&ip).copied().unwrap_or(0);
            let next = if running_here < self.per_ip {
                state.waiting.get_mut(&ip).and_then(VecDeque::pop_front)
            } else {
                None
            };
            match next {
                Some(tx) => {
                    state.running += 1;
                    *state.per_ip_running.entry(ip).or_default() += 1;
                    let slot = Slot {
                        pool: self.clone(),
                        ip,
                        counted: true,
                    };
                    match tx.send(slot) {
                        Ok(()) => passes = state.ring.len() + 1,
                        // The waiter gave up: undo here (its drop would take this lock).
                        Err(mut unsent) => {
                            unsent.counted = false;
                            state.running -= 1;
                            if let Some(n) = state.per_ip_running.get_mut(&ip) {
                                *n -= 1;
                            }
                        }
                    }
                }
                None => passes -= 1,
            }
            if state.waiting.get(&ip).is_some_and(|q| !q.is_empty()) {
                state.ring.push_back(ip);
            } else {
                state.waiting.remove(&ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    /// With one slot, a flood of 50 checks from one address and then one check from another:
    /// the other address is served next, not after the flood.
    #[tokio::test]
    async fn another_address_is_served_before_a_flood() {
        let pool = FairPool::new(1, 1, 100);
        let first = pool.acquire(ip(2)).await.expect("free slot");
        let (done_tx, mut done) = tokio::sync::mpsc::unbounded_channel();
        for i in 0..50 {
            let (pool, done_tx) = (pool.clone(), done_tx.clone());
            tokio::spawn(async move {
                let slot = pool.acquire(ip(2)).await.expect("slot");
                let _ = done_tx.send(format!("attacker {i}"));
                drop(slot);
            });
        }
        while pool.waiting() < 50 {
            tokio::task::yield_now().await;
        }
        {
            let (pool, done_tx) = (pool.clone(), done_tx.clone());
            tokio::spawn(async move {
                let slot = pool.acquire(ip(3)).await.expect("slot");
                let _ = done_tx.send("victim".to_string());
                drop(slot);
            });
        }
        while pool.waiting() < 51 {
            tokio::task::yield_now().await;
        }
        drop(first);
        let order: Vec<String> = {
            let mut v = Vec::new();
            for _ in 0..51 {
                v.push(done.recv().await.expect("served"));
            }
            v
        };
        let victim = order
            .iter()
            .position(|s| s == "victim")
            .expect("victim served");
        assert!(victim <= 1, "the victim waited behind the flood: {order:?}");
    }

    #[tokio::test]
    async fn one_address_gets_at_most_its_share_and_a_bounded_queue() {
        let pool = FairPool::new(4, 2, 3);
        let a = pool.acquire(ip(2)).await.expect("slot");
        let b = pool.acquire(ip(2)).await.expect("slot");
        let c = tokio::spawn({
            let pool = pool.clone();
            async move { pool.acquire(ip(2)).await.is_some() }
        });
        while pool.waiting() < 1 {
            tokio::task::yield_now().await;
        }
        let other = pool.acquire(ip(3)).await;
        assert!(other.is_some(), "another address takes a free slot at once");
        for _ in 0..2 {
            let pool = pool.clone();
            tokio::spawn(async move { pool.acquire(ip(2)).await.map(drop) });
        }
        while pool.waiting() < 3 {
            tokio::task::yield_now().await;
        }
        assert!(pool.acquire(ip(2)).await.is_none(), "queue full: shed");
        drop((a, b));
        assert!(
            c.await.expect("task"),
            "a waiter is served when a slot frees"
        );
    }

    #[tokio::test]
    async fn a_waiter_that_gives_up_does_not_leak_its_slot() {
        let pool = FairPool::new(1, 1, 10);
        let held = pool.acquire(ip(2)).await.expect("slot");
        let gave_up = tokio::spawn({
            let pool = pool.clone();
            async move { pool.acquire(ip(3)).await.map(drop) }
        });
        while pool.waiting() < 1 {
            tokio::task::yield_now().await;
        }
        gave_up.abort();
        let _ = gave_up.await;
        drop(held);
        assert!(pool.acquire(ip(4)).await.is_some(), "the slot came back");
    }
}
